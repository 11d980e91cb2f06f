-- evalboard core tables (PostgreSQL). Keep in lockstep with migrations/sqlite.
-- Columns that are sorted or range-compared use COLLATE "C": bytewise, like SQLite, whatever
-- the database's default collation.
-- Timestamps are UTC; enums are stored as text and checked here as well as in the domain.

CREATE TABLE datasets (
    id          TEXT    COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT    COLLATE "C" NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    digest      TEXT    NOT NULL,
    item_count  BIGINT  NOT NULL CHECK (item_count >= 0),
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE dataset_items (
    dataset_id  TEXT    COLLATE "C" NOT NULL REFERENCES datasets (id),
    position    INTEGER NOT NULL CHECK (position >= 0),
    item_id     TEXT    NOT NULL,
    category    TEXT    COLLATE "C" NOT NULL,
    question    TEXT    NOT NULL,
    choices     TEXT    NOT NULL, -- JSON array of strings
    answer      TEXT    NOT NULL CHECK (char_length(answer) = 1),
    explanation TEXT,
    source      TEXT,
    PRIMARY KEY (dataset_id, position),
    UNIQUE (dataset_id, item_id)
);
CREATE INDEX dataset_items_by_category ON dataset_items (dataset_id, category);

CREATE TABLE runs (
    id                  TEXT    COLLATE "C" PRIMARY KEY NOT NULL,
    provider_name       TEXT    NOT NULL,
    dataset_name        TEXT    NOT NULL,
    dataset_id          TEXT    NOT NULL REFERENCES datasets (id),
    dataset_version     INTEGER NOT NULL,
    dataset_digest      TEXT    NOT NULL,
    model_name          TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled')),
    settings            TEXT    NOT NULL, -- JSON object
    pending_count       BIGINT  NOT NULL DEFAULT 0,
    running_count       BIGINT  NOT NULL DEFAULT 0,
    awaiting_count      BIGINT  NOT NULL DEFAULT 0,
    correct_count       BIGINT  NOT NULL DEFAULT 0,
    incorrect_count     BIGINT  NOT NULL DEFAULT 0,
    failed_count        BIGINT  NOT NULL DEFAULT 0,
    canceled_count      BIGINT  NOT NULL DEFAULT 0,
    resumed_count       INTEGER NOT NULL DEFAULT 0,
    last_resumed_at     TIMESTAMP,
    cancel_requested_at TIMESTAMP,
    created_at          TIMESTAMP NOT NULL,
    started_at          TIMESTAMP,
    finished_at         TIMESTAMP,
    updated_at          TIMESTAMP NOT NULL
);
CREATE INDEX runs_by_created ON runs (created_at, id);
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE INDEX runs_by_finished ON runs (finished_at);

CREATE TABLE run_items (
    run_id           TEXT    NOT NULL REFERENCES runs (id),
    sequence         INTEGER NOT NULL CHECK (sequence >= 1),
    dataset_id       TEXT    NOT NULL,
    dataset_position INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'awaiting', 'correct', 'incorrect', 'failed', 'canceled')),
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP,
    updated_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, sequence),
    FOREIGN KEY (dataset_id, dataset_position) REFERENCES dataset_items (dataset_id, position)
);
CREATE INDEX run_items_by_state ON run_items (run_id, state, sequence);
-- The active board's recent items: set exactly when an item is terminal.
CREATE INDEX run_items_by_finished ON run_items (run_id, finished_at);

CREATE TABLE item_attempts (
    id            BIGSERIAL PRIMARY KEY,
    run_id        TEXT    NOT NULL,
    sequence      INTEGER NOT NULL,
    attempt       INTEGER NOT NULL CHECK (attempt >= 1),
    outcome       TEXT, -- NULL while in flight
    error_kind    TEXT,
    error_message TEXT,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    FOREIGN KEY (run_id, sequence) REFERENCES run_items (run_id, sequence),
    UNIQUE (run_id, sequence, attempt)
);

CREATE TABLE run_logs (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    sequence    INTEGER, -- the item the entry is about, if any
    level       TEXT    NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    message     TEXT    NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX run_logs_by_run ON run_logs (run_id, id);

-- Outbox for the live stream: written in the same transaction as the change it describes.
CREATE TABLE run_events (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL, -- JSON object
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY NOT NULL,
    request_hash TEXT NOT NULL,
    run_id       TEXT NOT NULL REFERENCES runs (id),
    created_at   TIMESTAMP NOT NULL
);
