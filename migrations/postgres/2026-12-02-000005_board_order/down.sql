DROP INDEX run_items_by_finished;
CREATE INDEX run_items_by_finished ON run_items (run_id, finished_at);
