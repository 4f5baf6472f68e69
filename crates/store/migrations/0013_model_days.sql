-- Model rows per UTC day beside the hourly ones (dim 'model_day', hour_ms the day's start, from
-- 1970 on), summed from the hourly model rows: calendar reports in UTC read a day's row instead
-- of its 24 hours. Kept from then on by every rollup writer (see src/analytics/rollup.rs).
INSERT INTO usage_rollup (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count)
SELECT tenant, (hour_ms / 86400000) * 86400000, 'model_day', k1, k2, SUM(events), SUM(requests), SUM(errors),
       SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens),
       SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests), SUM(cost_nanos),
       SUM(unpriced_events), SUM(duration_sum_ms), SUM(duration_count), SUM(ttft_sum_ms), SUM(ttft_count)
FROM usage_rollup WHERE dim = 'model' AND hour_ms >= 0 GROUP BY 1, 2, 4, 5;
