-- Judged items with no extractable answer, kept with the other counters instead of being
-- counted from the items at every read of a run.
ALTER TABLE runs ADD COLUMN unparsed_count BIGINT NOT NULL DEFAULT 0;
UPDATE runs SET unparsed_count = (
    SELECT COUNT(*) FROM run_items
    WHERE run_items.run_id = runs.id
      AND run_items.extraction_tier = 'unparsed'
      AND run_items.state IN ('correct', 'incorrect')
);
