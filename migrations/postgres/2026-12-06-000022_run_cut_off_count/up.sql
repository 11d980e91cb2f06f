-- Kept answers the provider stopped before the model finished them (`run_items.cut_off`: the
-- token limit or a content filter), kept with the other counters so that a run says how many
-- without counting its items at every read.
ALTER TABLE runs ADD COLUMN cut_off_count BIGINT NOT NULL DEFAULT 0;
UPDATE runs SET cut_off_count = (
    SELECT COUNT(*) FROM run_items
    WHERE run_items.run_id = runs.id
      AND run_items.cut_off IS NOT NULL
);
