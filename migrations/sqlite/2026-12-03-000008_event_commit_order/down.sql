ALTER TABLE run_event_horizon DROP COLUMN pruned_tx;
DROP INDEX run_events_by_commit;
ALTER TABLE run_events DROP COLUMN tx;
