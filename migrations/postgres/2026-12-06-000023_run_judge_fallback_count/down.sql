ALTER TABLE runs DROP COLUMN judge_fallback_count;
