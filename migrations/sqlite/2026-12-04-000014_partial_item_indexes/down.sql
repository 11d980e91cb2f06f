DROP INDEX run_items_by_finished;
CREATE INDEX run_items_by_finished ON run_items (run_id, finished_at, sequence);
DROP INDEX run_items_by_lease;
CREATE INDEX run_items_by_lease ON run_items (state, lease_expires_at);
