//! Runs and their items: the run row, conversions to the domain, and lookups by id.

mod active;
mod attempts;
mod board_items;
mod bookkeeping;
mod bulk;
mod cache;
pub(crate) mod claims;
mod compare;
mod control;
mod create;
mod import;
pub(crate) mod item_keys;
mod items;
mod latency;
mod list;
mod outcomes;
mod rejudge;
mod release;
mod store_answer;
mod store_prompt;
mod transitions;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    DatasetId, Fingerprint, ItemState, LatencySummary, Lifecycle, Run, RunFailure, RunId,
    RunSettings, RunStatus, RunUsage, StateCounts,
};

use crate::{
    connection::DbConnection,
    database::Database,
    error::StoreError,
    schema::{run_items, runs},
};

pub use active::ActiveRun;
pub use cache::CachedAnswer;
pub use claims::{Claim, ClaimRequest, ClaimedItem, GoneWorker, RunGeneration};
pub use control::{RetryScope, RunFailed};
pub use create::{CreatedRun, IdempotencyKey, NewRun, ProviderIdentity};
pub use import::{CaptureImport, CapturedAnswer, ImportItem};
pub use items::{
    AttemptRecord, ExportFilter, ItemCursor, ItemDetail, ItemGroup, ItemGrouping, ItemPage,
    ItemQuery, JudgmentRecord,
};
pub use list::{RunCursor, RunFilter, RunOrder, RunPage};
pub use outcomes::{Answer, AppliedOutcomes, ItemError, Judgment, Outcome, OutcomeKind};
pub use transitions::ItemTransition;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = runs)]
pub(crate) struct RunRow {
    pub(crate) id: String,
    pub(crate) provider_name: String,
    dataset_name: String,
    dataset_id: String,
    dataset_version: i32,
    dataset_digest: String,
    model_name: String,
    status: String,
    settings: String,
    pending_count: i64,
    running_count: i64,
    awaiting_count: i64,
    correct_count: i64,
    incorrect_count: i64,
    failed_count: i64,
    canceled_count: i64,
    resumed_count: i32,
    last_resumed_at: Option<NaiveDateTime>,
    pub(crate) cancel_requested_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    pub(crate) started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
    retry_count: i32,
    error_kind: Option<String>,
    error_message: Option<String>,
    usage: Option<String>,
    pub(crate) latency: Option<String>,
    fingerprint: Option<String>,
    rejudge_count: i32,
    rejudging: bool,
    pub(crate) unparsed_count: i64,
    pub(crate) cut_off_count: i64,
    pub(crate) judge_fallback_count: i64,
    judging_round: i32,
}

/// A JSON column's value, `None` when NULL.
fn json_column<T: serde::de::DeserializeOwned>(
    value: Option<&str>,
    column: &str,
    run_id: &str,
) -> Result<Option<T>, StoreError> {
    value
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StoreError::corrupt(format!("{column} of run {run_id}: {e}")))
}

fn count(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::corrupt(format!("{column} is {value}")))
}

impl RunRow {
    pub(crate) fn counts(&self) -> Result<StateCounts, StoreError> {
        Ok(StateCounts {
            pending: count(self.pending_count, "pending_count")?,
            running: count(self.running_count, "running_count")?,
            awaiting: count(self.awaiting_count, "awaiting_count")?,
            correct: count(self.correct_count, "correct_count")?,
            incorrect: count(self.incorrect_count, "incorrect_count")?,
            failed: count(self.failed_count, "failed_count")?,
            canceled: count(self.canceled_count, "canceled_count")?,
        })
    }

    pub(crate) fn usage(&self) -> Result<RunUsage, StoreError> {
        json_column(self.usage.as_deref(), "usage", &self.id).map(Option::unwrap_or_default)
    }

    /// The run's judging in force, the round its verdicts are stored with: 0 before any
    /// re-judging, n after the n-th (one undone leaves the one before in force).
    pub(crate) fn judging_round(&self) -> i32 {
        self.judging_round
    }

    /// Why the run is being stopped, when it is for its budget.
    pub(crate) fn budget_spent(&self) -> Option<&str> {
        match self.error_kind.as_deref() {
            Some(evalboard_domain::BUDGET_EXHAUSTED) => self.error_message.as_deref(),
            _ => None,
        }
    }

    /// Retries and re-judgings so far.
    pub(crate) fn generation(&self) -> (i32, i32) {
        (self.retry_count, self.rejudge_count)
    }

    pub(crate) fn status(&self) -> Result<RunStatus, StoreError> {
        self.status.parse().map_err(StoreError::corrupt)
    }

    pub(crate) fn into_domain(self) -> Result<Run, StoreError> {
        let counts = self.counts()?;
        let status = self.status()?;
        let usage = self.usage()?;
        let settings: RunSettings = serde_json::from_str(&self.settings)
            .map_err(|e| StoreError::corrupt(format!("settings of run {}: {e}", self.id)))?;
        let fingerprint: Option<Fingerprint> =
            json_column(self.fingerprint.as_deref(), "fingerprint", &self.id)?;
        let latency: Option<LatencySummary> =
            json_column(self.latency.as_deref(), "latency", &self.id)?;
        Ok(Run {
            id: RunId::parse(&self.id).map_err(StoreError::corrupt)?,
            provider_name: self.provider_name,
            dataset_name: self.dataset_name,
            dataset_id: DatasetId::parse(&self.dataset_id).map_err(StoreError::corrupt)?,
            dataset_version: u32::try_from(self.dataset_version).map_err(StoreError::corrupt)?,
            dataset_digest: self.dataset_digest,
            model_name: self.model_name,
            status,
            settings,
            counts,
            lifecycle: Lifecycle {
                resumed_count: u32::try_from(self.resumed_count).map_err(StoreError::corrupt)?,
                last_resumed_at: self.last_resumed_at.map(|t| t.and_utc()),
                cancel_requested_at: self.cancel_requested_at.map(|t| t.and_utc()),
            },
            created_at: self.created_at.and_utc(),
            started_at: self.started_at.map(|t| t.and_utc()),
            finished_at: self.finished_at.map(|t| t.and_utc()),
            updated_at: self.updated_at.and_utc(),
            retry_count: u32::try_from(self.retry_count).map_err(StoreError::corrupt)?,
            failure: match (self.error_kind, self.error_message) {
                (Some(kind), message) => Some(RunFailure {
                    kind,
                    message: message.unwrap_or_default(),
                }),
                (None, _) => None,
            },
            usage,
            latency: latency.unwrap_or_default(),
            fingerprint,
            rejudge_count: u32::try_from(self.rejudge_count).map_err(StoreError::corrupt)?,
            judging_round: u32::try_from(self.judging_round).map_err(StoreError::corrupt)?,
            rejudging: self.rejudging,
            unparsed: u64::try_from(self.unparsed_count).map_err(StoreError::corrupt)?,
            cut_off: u64::try_from(self.cut_off_count).map_err(StoreError::corrupt)?,
            judge_fallbacks: u64::try_from(self.judge_fallback_count)
                .map_err(StoreError::corrupt)?,
        })
    }
}

/// Reads a run row. With `for_update` on PostgreSQL the row stays locked until the transaction
/// ends, so concurrent writers of the same run take turns (SQLite's single writer already does).
pub(crate) fn load_row(
    conn: &mut DbConnection,
    id: &RunId,
    for_update: bool,
) -> Result<RunRow, StoreError> {
    // `get_result`, not `first`: a primary key finds one row at most, and `first`'s `LIMIT ?`
    // makes SQLite (since 3.47, which reads a bound LIMIT when planning) prepare the statement
    // again every time it is bound, even from the statement cache.
    let row = match conn {
        DbConnection::Postgres(pg) if for_update => runs::table
            .find(id.as_str())
            .select(RunRow::as_select())
            .for_update()
            .get_result(pg)
            .optional()?,
        conn => runs::table
            .find(id.as_str())
            .select(RunRow::as_select())
            .get_result(conn)
            .optional()?,
    };
    row.ok_or_else(|| StoreError::NotFound {
        entity: "run",
        id: id.to_string(),
    })
}

impl Database {
    /// Writes a new run with `write`; when that lost a race on a unique key (an idempotency
    /// key, a bundle digest) to a concurrent request that committed first, answers with what
    /// `replay` finds of that request's run instead. `race` says what raced, should the winner's
    /// run not be found.
    pub(crate) fn write_or_replay(
        &self,
        write: impl FnOnce(&mut DbConnection) -> Result<CreatedRun, StoreError>,
        replay: impl Fn(&mut DbConnection) -> Result<Option<CreatedRun>, StoreError>,
        race: &str,
    ) -> Result<CreatedRun, StoreError> {
        match self.write(write) {
            Err(StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) => self
                .read(replay)?
                .ok_or_else(|| StoreError::Conflict(race.to_owned())),
            other => other,
        }
    }

    /// The run with this id.
    pub fn get_run(&self, id: &RunId) -> Result<Run, StoreError> {
        self.read(|conn| load_row(conn, id, false)?.into_domain())
    }

    /// When the latest answer of the run stored so far arrived (by any server), if it has one.
    /// Read rarely (when a provider looks down: the engine's `provider_down`), so a scan of the
    /// run's items rather than an index of their own.
    pub fn last_answer_at(
        &self,
        id: &RunId,
    ) -> Result<Option<evalboard_domain::Timestamp>, StoreError> {
        self.read(|conn| {
            let latest: Option<NaiveDateTime> = run_items::table
                .filter(run_items::run_id.eq(id.as_str()))
                .select(diesel::dsl::max(run_items::answered_at))
                .first(conn)?;
            Ok(latest.map(|at| at.and_utc()))
        })
    }

    /// `(sequence, state)` of every item of a run, in sequence order.
    pub fn item_states(&self, id: &RunId) -> Result<Vec<(u32, ItemState)>, StoreError> {
        self.read(|conn| {
            run_items::table
                .filter(run_items::run_id.eq(id.as_str()))
                .order(run_items::sequence.asc())
                .select((run_items::sequence, run_items::state))
                .load::<(i32, String)>(conn)?
                .into_iter()
                .map(|(sequence, state)| {
                    Ok((sequence as u32, state.parse().map_err(StoreError::corrupt)?))
                })
                .collect()
        })
    }
}
