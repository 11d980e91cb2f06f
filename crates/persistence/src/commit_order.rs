//! Reading rows in the order their transactions committed, on PostgreSQL.
//!
//! Ids are taken at insert, so concurrent writers (replicas, the engine beside a request)
//! commit them out of order: a reader that went past id 11 could later find an id 10. Tables
//! read that way (events, run logs) keep each row's transaction id (`tx`, from
//! `pg_current_xact_id()`; 0 on SQLite, whose one writer at a time commits in id order), are
//! read in `(tx, id)` order, and only up to the oldest transaction still running: every
//! transaction that could still commit a row has an id at or above it.

/// The id of the oldest transaction still running (PostgreSQL), as a `bigint` like `tx`.
macro_rules! oldest_running_tx {
    () => {
        "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    };
}
pub(crate) use oldest_running_tx;
