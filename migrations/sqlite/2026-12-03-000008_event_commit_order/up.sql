-- One writer at a time commits events in id order: the transaction order is always 0 here
-- (PostgreSQL keeps its writers' transaction ids).
ALTER TABLE run_events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
CREATE INDEX run_events_by_commit ON run_events (tx, id);
ALTER TABLE run_event_horizon ADD COLUMN pruned_tx BIGINT NOT NULL DEFAULT 0;
