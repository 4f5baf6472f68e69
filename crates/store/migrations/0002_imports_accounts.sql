-- Incremental imports: where each file was read up to, and how to tell it is the same file.
CREATE TABLE IF NOT EXISTS import_cursors (
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    mtime_ms BIGINT NOT NULL,
    offset_bytes BIGINT NOT NULL,
    lines_read BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (source, path)
);
-- Named accounts per service ("Work", "Personal") for manual entries and subscriptions.
CREATE TABLE IF NOT EXISTS accounts (
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    monthly_limit_micros BIGINT,
    note TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (service, name)
);
-- A recurring cost: one manual event per elapsed period, materialised idempotently.
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    account TEXT NOT NULL,
    cost_micros BIGINT NOT NULL,
    period TEXT NOT NULL,
    starts_ms BIGINT NOT NULL,
    ends_ms BIGINT,
    tz TEXT NOT NULL,
    note TEXT,
    created_ms BIGINT NOT NULL
);
-- How many requests an event stands for: 1 for a call, N for a manual usage entry.
ALTER TABLE usage_events ADD COLUMN requests BIGINT NOT NULL DEFAULT 1;
-- Where a coding agent ran: working directory, git branch, the client's version.
ALTER TABLE usage_events ADD COLUMN cwd TEXT;
ALTER TABLE usage_events ADD COLUMN git_branch TEXT;
ALTER TABLE usage_events ADD COLUMN client_version TEXT;
