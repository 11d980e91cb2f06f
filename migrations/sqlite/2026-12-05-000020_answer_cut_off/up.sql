-- Why the provider stopped the stored answer before the model finished it: `max_tokens` or
-- `content_filter`; NULL for an answer the model ended (and for every answer stored before).
ALTER TABLE run_items ADD COLUMN cut_off TEXT;
