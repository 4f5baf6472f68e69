-- Hourly rollups of usage_events for the dashboard and analytics API, one table with four
-- narrow dimensions so that any one grouping over 30 days reads a few thousand rows:
--   dim 'model'   k1 = provider, k2 = model
--   dim 'project' k1 = project ('' for none)
--   dim 'source'  k1 = source
--   dim 'tag'     k1 = tag key, k2 = tag value (an event counts once per tag it carries)
-- Kept by the insert path in the same transaction as the events; latency and TTFT are sums and
-- counts (averages only). Whoever rewrites stored events or tags outside the insert path calls
-- Store::rebuild_rollups for the affected range.
CREATE TABLE IF NOT EXISTS usage_rollup (
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
    cost_micros BIGINT NOT NULL,
    unpriced_events BIGINT NOT NULL,
    duration_sum_ms BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    ttft_sum_ms BIGINT NOT NULL,
    ttft_count BIGINT NOT NULL,
    PRIMARY KEY (dim, hour_ms, k1, k2)
);
CREATE INDEX IF NOT EXISTS usage_rollup_hour ON usage_rollup (hour_ms);
INSERT INTO usage_rollup (hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_micros, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT (ts_ms / 3600000) * 3600000, 'model', provider, model,
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_micros), 0), SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM usage_events GROUP BY 1, 3, 4;
INSERT INTO usage_rollup (hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_micros, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT (ts_ms / 3600000) * 3600000, 'project', COALESCE(project, ''), '',
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_micros), 0), SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM usage_events GROUP BY 1, 3;
INSERT INTO usage_rollup (hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_micros, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT (ts_ms / 3600000) * 3600000, 'source', source, '',
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_micros), 0), SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM usage_events GROUP BY 1, 3;
INSERT INTO usage_rollup (hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_micros, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT (ts_ms / 3600000) * 3600000, 'tag', event_tags.key, event_tags.value,
    COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
    SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests),
    COALESCE(SUM(cost_micros), 0), SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END),
    COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
FROM usage_events JOIN event_tags ON event_tags.event_id = usage_events.id GROUP BY 1, 3, 4;
CREATE INDEX IF NOT EXISTS usage_events_project_ts ON usage_events (project, ts_ms);
