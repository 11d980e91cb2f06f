-- Live events: run_item events name their item; pruning leaves a horizon behind.
-- Keep in lockstep with migrations/sqlite.
ALTER TABLE run_events ADD COLUMN sequence INTEGER; -- the item of a run_item event

-- One row: every event with an id at or below `pruned_through` has been deleted, so a client
-- resuming from before it must refetch the board.
CREATE TABLE run_event_horizon (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT  NOT NULL
);
INSERT INTO run_event_horizon (id, pruned_through) VALUES (1, 0);
CREATE INDEX run_events_by_time ON run_events (created_at);
