-- What an LLM judge's requests for a verdict used and cost (replies without a verdict
-- included); NULL for verdicts of the rule judges and for those given before it was kept.
ALTER TABLE item_judgments ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE item_judgments ADD COLUMN completion_tokens INTEGER;
ALTER TABLE item_judgments ADD COLUMN reasoning_tokens INTEGER;
ALTER TABLE item_judgments ADD COLUMN cost_usd DOUBLE;
