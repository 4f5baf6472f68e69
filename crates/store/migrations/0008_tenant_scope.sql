-- Tenant scope: every row that belongs to a tenant says which, and every key that names something
-- a tenant defines includes the tenant, so two tenants can use the same names side by side.
-- Everything stored before belongs to the tenant 'default' (local mode). Tables are rebuilt
-- where a key changes (CREATE the new table, copy, DROP the old, RENAME): the one way both
-- engines change a primary key. New constraints are named so that no name of the old table's
-- (PostgreSQL keeps index names across a RENAME) is taken twice.
-- import_cursors and import_dirs stay global: they describe files on the host.

UPDATE usage_events SET tenant = 'default' WHERE tenant IS NULL;
CREATE INDEX IF NOT EXISTS usage_events_tenant_ts ON usage_events (tenant, ts_ms);

-- The hourly rollup, per tenant. Old rows are copied as tenant 'default'; an hour that holds an
-- event some writer had stored with another tenant is recomputed from the events instead.
CREATE TABLE usage_rollup_new (
    tenant TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    dim TEXT NOT NULL,
    k1 TEXT NOT NULL,
    k2 TEXT NOT NULL,
    events BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_5m_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    web_search_requests BIGINT NOT NULL,
    cost_nanos BIGINT NOT NULL,
    unpriced_events BIGINT NOT NULL,
    duration_sum_ms BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    ttft_sum_ms BIGINT NOT NULL,
    ttft_count BIGINT NOT NULL,
    CONSTRAINT usage_rollup_tenant_pkey PRIMARY KEY (tenant, dim, hour_ms, k1, k2)
);
INSERT INTO usage_rollup_new (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT 'default', hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count
FROM usage_rollup
WHERE hour_ms NOT IN (SELECT DISTINCT (ts_ms / 3600000) * 3600000 FROM usage_events WHERE tenant <> 'default');
INSERT INTO usage_rollup_new (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT tenant, (ts_ms / 3600000) * 3600000, 'model', provider, model,
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM (SELECT DISTINCT (ts_ms / 3600000) * 3600000 AS hour_ms FROM usage_events WHERE tenant <> 'default') other_hours
JOIN usage_events ON usage_events.ts_ms > other_hours.hour_ms - 3600000
    AND usage_events.ts_ms < other_hours.hour_ms + 3600000 AND (usage_events.ts_ms / 3600000) * 3600000 = other_hours.hour_ms
GROUP BY 1, 2, 4, 5;
INSERT INTO usage_rollup_new (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT tenant, (ts_ms / 3600000) * 3600000, 'project', COALESCE(project, ''), '',
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM (SELECT DISTINCT (ts_ms / 3600000) * 3600000 AS hour_ms FROM usage_events WHERE tenant <> 'default') other_hours
JOIN usage_events ON usage_events.ts_ms > other_hours.hour_ms - 3600000
    AND usage_events.ts_ms < other_hours.hour_ms + 3600000 AND (usage_events.ts_ms / 3600000) * 3600000 = other_hours.hour_ms
GROUP BY 1, 2, 4;
INSERT INTO usage_rollup_new (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT tenant, (ts_ms / 3600000) * 3600000, 'source', source, '',
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM (SELECT DISTINCT (ts_ms / 3600000) * 3600000 AS hour_ms FROM usage_events WHERE tenant <> 'default') other_hours
JOIN usage_events ON usage_events.ts_ms > other_hours.hour_ms - 3600000
    AND usage_events.ts_ms < other_hours.hour_ms + 3600000 AND (usage_events.ts_ms / 3600000) * 3600000 = other_hours.hour_ms
GROUP BY 1, 2, 4;
INSERT INTO usage_rollup_new (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT tenant, (ts_ms / 3600000) * 3600000, 'tag', event_tags.key, event_tags.value,
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM (SELECT DISTINCT (ts_ms / 3600000) * 3600000 AS hour_ms FROM usage_events WHERE tenant <> 'default') other_hours
JOIN usage_events ON usage_events.ts_ms > other_hours.hour_ms - 3600000
    AND usage_events.ts_ms < other_hours.hour_ms + 3600000 AND (usage_events.ts_ms / 3600000) * 3600000 = other_hours.hour_ms
JOIN event_tags ON event_tags.event_id = usage_events.id
GROUP BY 1, 2, 4, 5;
DROP TABLE usage_rollup;
ALTER TABLE usage_rollup_new RENAME TO usage_rollup;
CREATE INDEX IF NOT EXISTS usage_rollup_hour ON usage_rollup (hour_ms);
-- Reads over every tenant (local mode, the host's CLI) find one dimension's hours here, in the
-- order of the old primary key; the new key serves a tenant's reads.
CREATE INDEX IF NOT EXISTS usage_rollup_dim_hour ON usage_rollup (dim, hour_ms, k1, k2);

-- Definitions: one name per tenant.
CREATE TABLE tag_rules_new (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    CONSTRAINT tag_rules_tenant_pkey PRIMARY KEY (tenant, name)
);
INSERT INTO tag_rules_new (tenant, name, spec, origin, updated_ms)
SELECT 'default', name, spec, origin, updated_ms FROM tag_rules;
DROP TABLE tag_rules;
ALTER TABLE tag_rules_new RENAME TO tag_rules;

CREATE TABLE budgets_new (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    CONSTRAINT budgets_tenant_pkey PRIMARY KEY (tenant, name)
);
INSERT INTO budgets_new (tenant, name, spec, origin, updated_ms)
SELECT 'default', name, spec, origin, updated_ms FROM budgets;
DROP TABLE budgets;
ALTER TABLE budgets_new RENAME TO budgets;

CREATE TABLE alert_rules_new (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    CONSTRAINT alert_rules_tenant_pkey PRIMARY KEY (tenant, name)
);
INSERT INTO alert_rules_new (tenant, name, spec, origin, updated_ms)
SELECT 'default', name, spec, origin, updated_ms FROM alert_rules;
DROP TABLE alert_rules;
ALTER TABLE alert_rules_new RENAME TO alert_rules;

CREATE TABLE notification_channels_new (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    CONSTRAINT notification_channels_tenant_pkey PRIMARY KEY (tenant, name)
);
INSERT INTO notification_channels_new (tenant, name, spec, origin, updated_ms)
SELECT 'default', name, spec, origin, updated_ms FROM notification_channels;
DROP TABLE notification_channels;
ALTER TABLE notification_channels_new RENAME TO notification_channels;

-- Defined tags, per tenant (events carry their tenant; their tags are theirs).
CREATE TABLE tags_new (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    color TEXT NOT NULL,
    description TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    CONSTRAINT tags_tenant_pkey PRIMARY KEY (tenant, key, value)
);
INSERT INTO tags_new (tenant, key, value, color, description, created_ms, updated_ms)
SELECT 'default', key, value, color, description, created_ms, updated_ms FROM tags;
DROP TABLE tags;
ALTER TABLE tags_new RENAME TO tags;

-- Accounts: unique per tenant and service.
CREATE TABLE accounts_new (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    monthly_limit_micros BIGINT,
    note TEXT,
    created_ms BIGINT NOT NULL,
    CONSTRAINT accounts_tenant_pkey PRIMARY KEY (tenant, service, name)
);
INSERT INTO accounts_new (tenant, service, name, monthly_limit_micros, note, created_ms)
SELECT 'default', service, name, monthly_limit_micros, note, created_ms FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;

ALTER TABLE subscriptions ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';

-- Alerts: a firing's dedup_key (rule + subject + period) is unique per tenant, or one tenant's
-- firing would silently stop another's of a rule with the same name. The deliveries reference
-- the alerts, so both are rebuilt: the new deliveries point at the new alerts (the RENAME
-- carries the reference on both engines), and the old deliveries go before the old alerts so
-- that dropping those cascades into nothing.
CREATE TABLE alerts_new (
    id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
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
    detail TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT alerts_id_pkey PRIMARY KEY (id),
    CONSTRAINT alerts_tenant_dedup_key UNIQUE (tenant, dedup_key)
);
INSERT INTO alerts_new (id, tenant, dedup_key, rule, kind, severity, message, value, threshold, unit, period_start_ms, fired_ms, acknowledged_ms, detail)
SELECT id, 'default', dedup_key, rule, kind, severity, message, value, threshold, unit, period_start_ms, fired_ms, acknowledged_ms, detail FROM alerts;
CREATE TABLE alert_deliveries_new (
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    updated_ms BIGINT NOT NULL,
    CONSTRAINT alert_deliveries_alert_channel_pkey PRIMARY KEY (alert_id, channel),
    CONSTRAINT alert_deliveries_alert_fkey FOREIGN KEY (alert_id) REFERENCES alerts_new (id) ON DELETE CASCADE
);
INSERT INTO alert_deliveries_new (alert_id, channel, status, attempts, last_error, updated_ms)
SELECT alert_id, channel, status, attempts, last_error, updated_ms FROM alert_deliveries;
DROP TABLE alert_deliveries;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
ALTER TABLE alert_deliveries_new RENAME TO alert_deliveries;
CREATE INDEX IF NOT EXISTS alerts_tenant_fired ON alerts (tenant, fired_ms);
