//! The run event outbox: each state change appends its event in the same transaction, so the
//! live stream can never announce a state the database does not have.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{RunId, Timestamp};

use crate::{connection::DbConnection, database::Database, error::StoreError, schema::run_events};

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Increasing id, the event's order.
    pub id: i64,
    /// The run it is about.
    pub run_id: String,
    /// `run_status`, `run_progress` or `run_item`.
    pub kind: String,
    /// The event's data.
    pub payload: serde_json::Value,
    /// When the change happened.
    pub at: Timestamp,
}

#[derive(Insertable)]
#[diesel(table_name = run_events)]
struct NewEventRow<'a> {
    run_id: &'a str,
    kind: &'a str,
    payload: String,
    created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = run_events)]
struct EventRow {
    id: i64,
    run_id: String,
    kind: String,
    payload: String,
    created_at: NaiveDateTime,
}

/// Appends an event inside the caller's transaction.
pub(crate) fn append(
    conn: &mut DbConnection,
    run_id: &RunId,
    kind: &str,
    payload: &serde_json::Value,
    at: Timestamp,
) -> Result<(), StoreError> {
    diesel::insert_into(run_events::table)
        .values(NewEventRow {
            run_id: run_id.as_str(),
            kind,
            payload: payload.to_string(),
            created_at: at.naive_utc(),
        })
        .execute(conn)?;
    Ok(())
}

impl Database {
    /// Events with an id above `after`, oldest first, at most `limit`.
    pub fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|conn| {
            run_events::table
                .filter(run_events::id.gt(after))
                .order(run_events::id.asc())
                .limit(i64::from(limit))
                .select(EventRow::as_select())
                .load(conn)?
                .into_iter()
                .map(|row| {
                    Ok(StoredEvent {
                        id: row.id,
                        run_id: row.run_id,
                        kind: row.kind,
                        payload: serde_json::from_str(&row.payload)
                            .map_err(|e| StoreError::corrupt(format!("event {}: {e}", row.id)))?,
                        at: row.created_at.and_utc(),
                    })
                })
                .collect()
        })
    }
}
