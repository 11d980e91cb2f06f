ALTER TABLE item_judgments DROP COLUMN round_undone;
ALTER TABLE runs DROP COLUMN judging_round;
DROP TABLE rejudge_previous_items;
DROP TABLE rejudge_previous_runs;
