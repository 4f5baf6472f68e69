-- What each proxied request's input was made of: one row per part (a tool definition, a system
-- prompt component, the history, the new input) in cache-prefix order (`seq`), with its size,
-- a hash of its text (never the text) and its share of the event's input cost in nano-USD
-- (the shares of an event sum to its input cost). `tenant` and `ts_ms` repeat the event's, so
-- per-tenant, per-day reads need no join.
CREATE TABLE IF NOT EXISTS prompt_parts (
    event_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    chars BIGINT NOT NULL,
    hash TEXT NOT NULL,
    cost_nanos BIGINT NOT NULL,
    PRIMARY KEY (event_id, seq)
);
CREATE INDEX IF NOT EXISTS prompt_parts_tenant_ts ON prompt_parts (tenant, ts_ms);
-- What people decided about the advisor's recommendations (by the recommendation's stable id):
-- `dismissed` for good, or `snoozed` until `until_ms`.
CREATE TABLE IF NOT EXISTS recommendation_status (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    until_ms BIGINT,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
-- The session guard's manual controls: a blocked session (`kind` session) or a paused agent
-- (`kind` agent) of a tenant, with why.
CREATE TABLE IF NOT EXISTS guard_controls (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind, subject)
);
