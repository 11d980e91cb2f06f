ALTER TABLE runs DROP COLUMN unparsed_count;
