DROP INDEX run_events_by_time;
DROP TABLE run_event_horizon;
ALTER TABLE run_events DROP COLUMN sequence;
