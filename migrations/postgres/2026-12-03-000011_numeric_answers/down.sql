-- Back to one-character answers: numeric datasets cannot be kept.
ALTER TABLE dataset_items DROP CONSTRAINT dataset_items_answer_check;
ALTER TABLE dataset_items ADD CONSTRAINT dataset_items_answer_check CHECK (char_length(answer) = 1);
