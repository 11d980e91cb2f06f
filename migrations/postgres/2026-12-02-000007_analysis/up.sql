-- Analysis: what runs spend (tokens, cost), how fast they are answered, what determines their
-- results (the fingerprint), and re-judging. Keep in lockstep with migrations/sqlite.

-- What the run spent over every answered attempt (JSON: tokens and cost); NULL until the first.
ALTER TABLE runs ADD COLUMN usage TEXT;
-- Latency percentiles (JSON), computed when the run last finished.
ALTER TABLE runs ADD COLUMN latency TEXT;
-- The fingerprint's JSON; NULL for runs made before it was recorded.
ALTER TABLE runs ADD COLUMN fingerprint TEXT;
ALTER TABLE runs ADD COLUMN rejudge_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN rejudging BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE run_items ADD COLUMN reasoning_tokens INTEGER;
ALTER TABLE run_items ADD COLUMN cost_usd DOUBLE PRECISION;
ALTER TABLE item_attempts ADD COLUMN reasoning_tokens INTEGER;
ALTER TABLE item_attempts ADD COLUMN cost_usd DOUBLE PRECISION;

-- The judging in force when a verdict was given: 0 before any re-judging, n from the n-th on.
ALTER TABLE item_judgments ADD COLUMN rejudge_round INTEGER NOT NULL DEFAULT 0;
