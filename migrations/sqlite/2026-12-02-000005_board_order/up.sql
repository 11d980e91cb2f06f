-- The board's recent items are the last finished ones of a run, ties broken by sequence: the
-- index holds that whole order, so the query reads five index entries, never sorts a run's
-- finished items (a bulk cancel finishes hundreds at one instant).
DROP INDEX run_items_by_finished;
CREATE INDEX run_items_by_finished ON run_items (run_id, finished_at, sequence);
