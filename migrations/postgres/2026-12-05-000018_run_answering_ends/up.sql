-- How a run's answering ended (its status and failure) before its first re-judging since its
-- last dispatch: a re-judging that leaves items without an answer ends the run as its
-- answering did, instead of `completed`. A retry forgets it (it answers again).
CREATE TABLE run_answering_ends (
    run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs(id),
    status TEXT NOT NULL,
    error_kind TEXT,
    error_message TEXT,
    cancel_requested_at TIMESTAMP
);
