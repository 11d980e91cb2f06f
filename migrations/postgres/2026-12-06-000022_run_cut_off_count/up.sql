-- Kept answers the provider stopped before the model finished them (`run_items.cut_off`: the
-- token limit or a content filter), kept with the other counters so that a run says how many
-- without counting its items at every read.
ALTER TABLE runs ADD COLUMN cut_off_count BIGINT NOT NULL DEFAULT 0;
-- Only the runs that have any are written (a new row version for every run otherwise).
UPDATE runs SET cut_off_count = counted.n
FROM (
    SELECT run_id, COUNT(*) AS n FROM run_items
    WHERE cut_off IS NOT NULL
    GROUP BY run_id
) AS counted
WHERE counted.run_id = runs.id;
