ALTER TABLE item_judgments DROP COLUMN round_undone;
DROP TABLE rejudge_previous_items;
DROP TABLE rejudge_previous_runs;
