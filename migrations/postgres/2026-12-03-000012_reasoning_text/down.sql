ALTER TABLE run_items DROP COLUMN reasoning_text;
