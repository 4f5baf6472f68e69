CREATE TABLE IF NOT EXISTS usage_events (
    id TEXT PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    tenant TEXT,
    api_key_id TEXT,
    project TEXT,
    agent TEXT,
    session_id TEXT,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_5m_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    web_search_requests BIGINT NOT NULL DEFAULT 0,
    cost_micros BIGINT,
    price_version TEXT,
    duration_ms BIGINT,
    ttft_ms BIGINT,
    status TEXT NOT NULL,
    http_status BIGINT,
    stop_reason TEXT,
    streamed BIGINT NOT NULL DEFAULT 0,
    batch BIGINT NOT NULL DEFAULT 0,
    request_bytes BIGINT NOT NULL DEFAULT 0,
    response_bytes BIGINT NOT NULL DEFAULT 0,
    messages_system BIGINT NOT NULL DEFAULT 0,
    messages_user BIGINT NOT NULL DEFAULT 0,
    messages_assistant BIGINT NOT NULL DEFAULT 0,
    messages_tool BIGINT NOT NULL DEFAULT 0,
    tools_offered BIGINT NOT NULL DEFAULT 0,
    system_chars BIGINT NOT NULL DEFAULT 0,
    tools_chars BIGINT NOT NULL DEFAULT 0,
    history_chars BIGINT NOT NULL DEFAULT 0,
    new_input_chars BIGINT NOT NULL DEFAULT 0,
    tools_used TEXT NOT NULL DEFAULT '[]',
    error_type TEXT,
    upstream_request_id TEXT,
    ratelimit_remaining_requests BIGINT,
    ratelimit_remaining_tokens BIGINT,
    dedup_key TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS usage_events_ts ON usage_events (ts_ms);
CREATE INDEX IF NOT EXISTS usage_events_provider_ts ON usage_events (provider, ts_ms);
CREATE INDEX IF NOT EXISTS usage_events_model_ts ON usage_events (model, ts_ms);
CREATE INDEX IF NOT EXISTS usage_events_session ON usage_events (session_id);
CREATE INDEX IF NOT EXISTS usage_events_source_ts ON usage_events (source, ts_ms);
CREATE TABLE IF NOT EXISTS event_tags (
    event_id TEXT NOT NULL REFERENCES usage_events (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (event_id, key, value)
);
CREATE INDEX IF NOT EXISTS event_tags_key_value ON event_tags (key, value);
