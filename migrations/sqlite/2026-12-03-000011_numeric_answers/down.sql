-- Back to one-character answers: numeric datasets cannot be kept.
ALTER TABLE dataset_items ADD COLUMN answer_letter TEXT NOT NULL DEFAULT 'A' CHECK (length(answer_letter) = 1);
UPDATE dataset_items SET answer_letter = answer;
ALTER TABLE dataset_items DROP COLUMN answer;
ALTER TABLE dataset_items RENAME COLUMN answer_letter TO answer;
