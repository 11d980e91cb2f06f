-- Numeric items (GSM8K): an item's answer is an option's letter or a number (its canonical
-- spelling, up to 64 characters), no longer always one character.
ALTER TABLE dataset_items DROP CONSTRAINT dataset_items_answer_check;
ALTER TABLE dataset_items ADD CONSTRAINT dataset_items_answer_check
    CHECK (char_length(answer) BETWEEN 1 AND 64);
