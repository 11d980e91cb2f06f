DROP INDEX run_items_by_request_key;
ALTER TABLE run_items DROP COLUMN request_key;
