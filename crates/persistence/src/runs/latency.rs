//! How fast a run's items were answered: time to first token and to the whole answer, over its
//! answered items, as percentiles. Computed when a run finishes (and kept with it, for lists)
//! and on demand for a run still going.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{LatencySummary, Run, RunId};

use super::load_row;
use crate::{connection::DbConnection, database::Database, error::StoreError, schema::run_items};

impl Database {
    /// The run, with its latency figures as of now while it is active (a finished run keeps
    /// those of when it finished).
    pub fn get_run_with_latency(&self, run_id: &RunId) -> Result<Run, StoreError> {
        self.read(|conn| {
            let mut run = load_row(conn, run_id, false)?.into_domain()?;
            if run.status.is_active() {
                run.latency = latency_of(conn, run_id)?;
            }
            Ok(run)
        })
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
