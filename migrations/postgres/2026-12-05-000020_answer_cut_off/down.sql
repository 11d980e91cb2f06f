ALTER TABLE run_items DROP COLUMN cut_off;
