//! How fast a run's items were answered: time to first token and to the whole answer, over its
//! answered items, as percentiles. Computed when a run finishes (and kept with it, for lists)
//! and on demand for a run still going.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{LatencySummary, RunId};

use crate::{connection::DbConnection, database::Database, error::StoreError, schema::run_items};

impl Database {
    /// The latency figures of a run's answered items as they are now.
    pub fn run_latency(&self, run_id: &RunId) -> Result<LatencySummary, StoreError> {
        self.read(|conn| latency_of(conn, run_id))
    }
}

/// The latency figures over the latest answer of each answered item of a run.
pub(crate) fn latency_of(
    conn: &mut DbConnection,
    run_id: &RunId,
) -> Result<LatencySummary, StoreError> {
    let rows: Vec<(
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    )> = run_items::table
        .filter(run_items::run_id.eq(run_id.as_str()))
        .filter(run_items::answered_at.is_not_null())
        .select((
            run_items::started_at,
            run_items::first_token_at,
            run_items::answered_at,
        ))
        .load(conn)?;
    let mut ttft = Vec::with_capacity(rows.len());
    let mut total = Vec::with_capacity(rows.len());
    for (started, first_token, answered) in rows {
        let Some(started) = started else { continue };
        let since = |t: NaiveDateTime| (t - started).num_microseconds();
        total.extend(answered.and_then(since));
        ttft.extend(first_token.and_then(since));
    }
    Ok(LatencySummary::from_samples(ttft, total))
}
