-- Execution: item claims (leases), what each item was asked and answered, verdicts, failures.
-- Keep in lockstep with migrations/sqlite.

ALTER TABLE run_items ADD COLUMN lease_owner TEXT;
ALTER TABLE run_items ADD COLUMN lease_expires_at TIMESTAMP;
ALTER TABLE run_items ADD COLUMN prompt_text TEXT;
ALTER TABLE run_items ADD COLUMN response_text TEXT;
ALTER TABLE run_items ADD COLUMN extracted_answer TEXT;
ALTER TABLE run_items ADD COLUMN extraction_tier TEXT;
ALTER TABLE run_items ADD COLUMN judge TEXT;
ALTER TABLE run_items ADD COLUMN judge_rationale TEXT;
ALTER TABLE run_items ADD COLUMN error_kind TEXT;
ALTER TABLE run_items ADD COLUMN error_message TEXT;
ALTER TABLE run_items ADD COLUMN queued_at TIMESTAMP;
ALTER TABLE run_items ADD COLUMN first_token_at TIMESTAMP;
ALTER TABLE run_items ADD COLUMN answered_at TIMESTAMP;
ALTER TABLE run_items ADD COLUMN judged_at TIMESTAMP;
ALTER TABLE run_items ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE run_items ADD COLUMN completion_tokens INTEGER;
-- Claims whose lease ran out are found by time.
CREATE INDEX run_items_by_lease ON run_items (state, lease_expires_at);

ALTER TABLE item_attempts ADD COLUMN worker TEXT;
ALTER TABLE item_attempts ADD COLUMN first_token_at TIMESTAMP;
ALTER TABLE item_attempts ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE item_attempts ADD COLUMN completion_tokens INTEGER;

-- Every verdict ever given, so a re-judged item keeps its history.
CREATE TABLE item_judgments (
    id               BIGSERIAL PRIMARY KEY,
    run_id           TEXT    NOT NULL,
    sequence         INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    verdict          TEXT    NOT NULL CHECK (verdict IN ('correct', 'incorrect')),
    extracted_answer TEXT,
    extraction_tier  TEXT    NOT NULL,
    judge            TEXT    NOT NULL,
    rationale        TEXT,
    created_at       TIMESTAMP NOT NULL,
    FOREIGN KEY (run_id, sequence) REFERENCES run_items (run_id, sequence)
);
CREATE INDEX item_judgments_by_item ON item_judgments (run_id, sequence, id);

ALTER TABLE runs ADD COLUMN retry_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN error_kind TEXT;
ALTER TABLE runs ADD COLUMN error_message TEXT;
