ALTER TABLE item_judgments DROP COLUMN cost_usd;
ALTER TABLE item_judgments DROP COLUMN reasoning_tokens;
ALTER TABLE item_judgments DROP COLUMN completion_tokens;
ALTER TABLE item_judgments DROP COLUMN prompt_tokens;
