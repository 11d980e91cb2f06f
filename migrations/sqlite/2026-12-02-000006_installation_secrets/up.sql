-- Random secrets of this installation, made on first use and shared by every replica of one
-- database (e.g. the key that makes page cursors tamper-evident). Never served or logged.
CREATE TABLE installation_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
