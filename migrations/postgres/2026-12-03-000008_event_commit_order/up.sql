-- Writers commit events concurrently (no lock orders their inserts): the stream is ordered by
-- the writing transaction's id, then the event id, and read only below the oldest transaction
-- still running. Events stored before this migration were committed in id order: they keep
-- transaction order 0, before every new one.
ALTER TABLE run_events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_events ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX run_events_by_commit ON run_events (tx, id);
-- The position pruning reached, in the same order.
ALTER TABLE run_event_horizon ADD COLUMN pruned_tx BIGINT NOT NULL DEFAULT 0;
