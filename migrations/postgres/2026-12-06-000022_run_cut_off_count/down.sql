ALTER TABLE runs DROP COLUMN cut_off_count;
