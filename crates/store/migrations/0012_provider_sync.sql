-- Provider usage sync. `sync_accounts`: a tenant's admin-API accounts, the admin key sealed
-- (AES-256-GCM by the application layer, never in clear) with a hint for listings, and the
-- state of its last sync. `provider_usage`: what each account's provider reported, one row per
-- bucket and group (model, api key, workspace or project, service tier; '' where the report
-- has none), with the cost the provider reported for it (or the price table's, `cost_source`
-- says which). A sync replaces the rows of every bucket it fetched, so a revised bucket never
-- counts twice.
CREATE TABLE IF NOT EXISTS sync_accounts (
    tenant TEXT NOT NULL,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    key_hint TEXT NOT NULL,
    base_url TEXT,
    monthly_limit_nanos BIGINT,
    created_ms BIGINT NOT NULL,
    synced_from_ms BIGINT,
    synced_until_ms BIGINT,
    last_attempt_ms BIGINT,
    last_ok_ms BIGINT,
    last_error TEXT,
    failing_since_ms BIGINT,
    PRIMARY KEY (tenant, provider, name)
);
CREATE TABLE IF NOT EXISTS provider_usage (
    tenant TEXT NOT NULL,
    provider TEXT NOT NULL,
    account TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    service_tier TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_5m_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    web_search_requests BIGINT NOT NULL,
    requests BIGINT,
    cost_nanos BIGINT NOT NULL,
    cost_source TEXT NOT NULL,
    PRIMARY KEY (tenant, provider, account, start_ms, model, api_key_id, workspace_id, service_tier)
);
CREATE INDEX IF NOT EXISTS provider_usage_tenant_start ON provider_usage (tenant, start_ms);
-- Anthropic's Claude Code report: one row per account, UTC day and actor (`user:<email>` or
-- `api_key:<name>`), with its productivity metrics and its tokens and estimated cost summed
-- over models (`models` lists them). Read for who used Claude Code, never counted as usage:
-- API-paid tokens are already in the messages report, subscription ones are not billed per token.
CREATE TABLE IF NOT EXISTS claude_code_days (
    tenant TEXT NOT NULL,
    account TEXT NOT NULL,
    day_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    customer_type TEXT NOT NULL,
    terminal_type TEXT NOT NULL,
    sessions BIGINT NOT NULL,
    lines_added BIGINT NOT NULL,
    lines_removed BIGINT NOT NULL,
    commits BIGINT NOT NULL,
    pull_requests BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    estimated_cost_nanos BIGINT NOT NULL,
    models TEXT NOT NULL,
    PRIMARY KEY (tenant, account, day_ms, actor, terminal_type)
);
