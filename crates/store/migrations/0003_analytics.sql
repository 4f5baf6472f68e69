-- Hourly rollup of usage_events for the dashboard and analytics API: one row per UTC hour,
-- provider, model, source and project ('' for none), maintained by the insert path in the same
-- transaction as the events. Latency and TTFT are kept as sums and counts (averages only);
-- tags are not rolled up (tag rules may re-tag history), so tag breakdowns read the events.
CREATE TABLE IF NOT EXISTS usage_hourly (
    hour_ms BIGINT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    project TEXT NOT NULL,
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
    cost_micros BIGINT NOT NULL,
    unpriced_events BIGINT NOT NULL,
    duration_sum_ms BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    ttft_sum_ms BIGINT NOT NULL,
    ttft_count BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, provider, model, source, project)
);
INSERT INTO usage_hourly (hour_ms, provider, model, source, project, events, requests, errors,
    input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    reasoning_tokens, web_search_requests, cost_micros, unpriced_events, duration_sum_ms,
    duration_count, ttft_sum_ms, ttft_count)
SELECT (ts_ms / 3600000) * 3600000, provider, model, source, COALESCE(project, ''),
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_micros), 0), SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM usage_events
GROUP BY 1, 2, 3, 4, 5;
CREATE INDEX IF NOT EXISTS usage_events_project_ts ON usage_events (project, ts_ms);
