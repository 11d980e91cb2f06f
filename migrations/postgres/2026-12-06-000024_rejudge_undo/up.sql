-- What a re-judging replaced, kept while it goes on: a re-judging canceled, stopped by its
-- budget or failed puts the run back as it was before it (its items' verdicts, its judge,
-- fingerprint and status), and its own verdicts stay in the items' history marked undone.
CREATE TABLE rejudge_previous_runs (
    run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs(id),
    settings TEXT NOT NULL,
    fingerprint TEXT,
    status TEXT NOT NULL,
    error_kind TEXT,
    error_message TEXT,
    cancel_requested_at TIMESTAMP,
    rejudging BOOLEAN NOT NULL
);
CREATE TABLE rejudge_previous_items (
    run_id TEXT NOT NULL REFERENCES runs(id),
    sequence INTEGER NOT NULL,
    state TEXT NOT NULL,
    finished_at TIMESTAMP,
    extracted_answer TEXT,
    extraction_tier TEXT,
    judge TEXT,
    judge_rationale TEXT,
    judged_at TIMESTAMP,
    error_kind TEXT,
    error_message TEXT,
    PRIMARY KEY (run_id, sequence)
);
ALTER TABLE item_judgments ADD COLUMN round_undone BOOLEAN NOT NULL DEFAULT FALSE;
