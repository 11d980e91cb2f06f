ALTER TABLE item_attempts DROP COLUMN page;
