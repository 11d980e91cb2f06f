-- Browser Harness: the packs this server issued, and the bundles it imported from them.
-- Keep in lockstep with the other backend's migration.
CREATE TABLE harness_packs (
    id             TEXT      PRIMARY KEY,
    key_id         TEXT      NOT NULL,
    dataset_id     TEXT      NOT NULL REFERENCES datasets (id),
    target         TEXT      NOT NULL,
    item_count     BIGINT    NOT NULL,
    payload_sha256 TEXT      NOT NULL, -- of the signed payload bytes
    issued_at      TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL
);

-- One row per imported bundle: a bundle sent again finds the run it made.
CREATE TABLE harness_imports (
    bundle_digest TEXT      PRIMARY KEY,
    pack_id       TEXT      NOT NULL REFERENCES harness_packs (id),
    run_id        TEXT      NOT NULL REFERENCES runs (id),
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX harness_imports_by_pack ON harness_imports (pack_id);
