-- Definitions made in the config file, the API or the CLI. Each row's `spec` is the JSON of the
-- core type (TagRuleSpec, BudgetSpec, AlertRuleSpec, ChannelSpec); `origin` is `config` for
-- rows written from tokenwatch.toml at start-up, `api` otherwise.
CREATE TABLE IF NOT EXISTS tag_rules (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS budgets (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_rules (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS notification_channels (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- Every firing. `dedup_key` (rule + what + period) is unique, so a rule fires once per period.
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    value BIGINT NOT NULL,
    threshold BIGINT NOT NULL,
    unit TEXT NOT NULL,
    period_start_ms BIGINT,
    fired_ms BIGINT NOT NULL,
    acknowledged_ms BIGINT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS alerts_fired ON alerts (fired_ms);
-- One row per (alert, channel): pending → delivered | failed, with attempts and the last error.
CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
