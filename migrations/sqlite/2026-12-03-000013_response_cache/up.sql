-- The response cache: each answer's request key (provider, model, prompt, generation
-- settings), looked up when a run with `cache` on is about to send the same request.
ALTER TABLE run_items ADD COLUMN request_key TEXT;
CREATE INDEX run_items_by_request_key ON run_items (request_key) WHERE request_key IS NOT NULL;
