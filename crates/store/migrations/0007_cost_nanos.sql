-- Costs in nano-USD (1 USD = 10^9): a call priced below a micro-dollar (19 + 9 tokens of
-- gpt-4o-mini cost $0.00000825) is kept exactly, and sums are exact. Existing amounts were whole
-- micro-dollars, so they convert exactly. The micro-dollar columns are dropped rather than kept
-- as rounded copies: one stored truth, which no write path can leave out of step.
ALTER TABLE usage_events ADD COLUMN cost_nanos BIGINT;
UPDATE usage_events SET cost_nanos = cost_micros * 1000 WHERE cost_micros IS NOT NULL;
ALTER TABLE usage_events DROP COLUMN cost_micros;
ALTER TABLE usage_rollup ADD COLUMN cost_nanos BIGINT NOT NULL DEFAULT 0;
UPDATE usage_rollup SET cost_nanos = cost_micros * 1000;
ALTER TABLE usage_rollup DROP COLUMN cost_micros;
