-- Numeric items (GSM8K): an item's answer is an option's letter or a number (its canonical
-- spelling, up to 64 characters), no longer always one character. SQLite cannot drop a CHECK
-- constraint: the column is replaced by one without it (a column's own CHECK goes with it).
ALTER TABLE dataset_items ADD COLUMN answer_text TEXT NOT NULL DEFAULT '';
UPDATE dataset_items SET answer_text = answer;
ALTER TABLE dataset_items DROP COLUMN answer;
ALTER TABLE dataset_items RENAME COLUMN answer_text TO answer;
