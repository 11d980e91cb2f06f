-- What a re-judging replaced, kept while it goes on: a re-judging canceled or failed puts the
-- run back as it was before it (its items' verdicts, its judge, fingerprint and status), and
-- its own verdicts stay in the items' history marked undone.
CREATE TABLE rejudge_previous_runs (
    run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs(id),
    settings TEXT NOT NULL,
    fingerprint TEXT,
    status TEXT NOT NULL,
    error_kind TEXT,
    error_message TEXT,
    cancel_requested_at TIMESTAMP,
    finished_at TIMESTAMP,
    rejudging BOOLEAN NOT NULL,
    judging_round INTEGER NOT NULL
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
-- The re-judging whose verdicts are in force (0: the run's first judging). `rejudge_count`
-- counts re-judgings started, undone ones too: it only goes up, as what a worker's view of the
-- run belongs to must (a retry and a re-judging make a new generation), and each re-judging's
-- verdicts have a round of their own.
ALTER TABLE runs ADD COLUMN judging_round INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET judging_round = rejudge_count;
ALTER TABLE item_judgments ADD COLUMN round_undone BOOLEAN NOT NULL DEFAULT FALSE;
