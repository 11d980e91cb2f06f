//! Run logs: what happened to a run and its items, in the order it happened.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{RunId, Timestamp};

use crate::{
    connection::{DbConnection, insert_rows},
    database::Database,
    error::StoreError,
    schema::run_logs,
};

/// How important a log entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Detail for troubleshooting.
    Debug,
    /// Normal progress (created, started, resumed).
    Info,
    /// Something went wrong but the run goes on (a retry, a fault).
    Warn,
    /// Something stopped the run or an item.
    Error,
}

impl LogLevel {
    /// The level's stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// The level named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Debug, Self::Info, Self::Warn, Self::Error]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// One log entry of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLogEntry {
    /// Increasing id, also the entry's order.
    pub id: i64,
    /// The item the entry is about, if any.
    pub sequence: Option<u32>,
    /// Importance.
    pub level: LogLevel,
    /// What happened.
    pub message: String,
    /// When.
    pub at: Timestamp,
}

#[derive(Insertable)]
#[diesel(table_name = run_logs, treat_none_as_default_value = false)]
struct NewLogRow<'a> {
    run_id: &'a str,
    sequence: Option<i32>,
    level: &'static str,
    message: &'a str,
    created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = run_logs)]
struct LogRow {
    id: i64,
    sequence: Option<i32>,
    level: String,
    message: String,
    created_at: NaiveDateTime,
}

/// How a run log names who asked for something: ` by token `ci`` (nothing when the server
/// needs no token).
pub(crate) fn requested_by(token: Option<&str>) -> String {
    token.map_or_else(String::new, |name| format!(" by token `{name}`"))
}

/// Appends a log entry inside the caller's transaction.
pub(crate) fn append(
    conn: &mut DbConnection,
    run_id: &RunId,
    sequence: Option<u32>,
    level: LogLevel,
    message: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    diesel::insert_into(run_logs::table)
        .values(NewLogRow {
            run_id: run_id.as_str(),
            sequence: sequence.map(|s| s as i32),
            level: level.as_str(),
            message,
            created_at: at.naive_utc(),
        })
        .execute(conn)?;
    Ok(())
}

/// One entry to append with [`append_many`].
pub(crate) struct PendingLog {
    pub(crate) sequence: Option<u32>,
    pub(crate) level: LogLevel,
    pub(crate) message: String,
}

/// Appends several entries of one run, in order, inside the caller's transaction.
pub(crate) fn append_many(
    conn: &mut DbConnection,
    run_id: &RunId,
    entries: &[PendingLog],
    at: Timestamp,
) -> Result<(), StoreError> {
    let rows: Vec<NewLogRow<'_>> = entries
        .iter()
        .map(|entry| NewLogRow {
            run_id: run_id.as_str(),
            sequence: entry.sequence.map(|s| s as i32),
            level: entry.level.as_str(),
            message: &entry.message,
            created_at: at.naive_utc(),
        })
        .collect();
    insert_rows!(conn, run_logs::table, &rows, 500);
    Ok(())
}

/// Which log entries of a run to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only entries at this level or above (all when `None`).
    pub min_level: Option<LogLevel>,
    /// Only entries about this item.
    pub sequence: Option<u32>,
    /// Only entries with an id above this.
    pub after: Option<i64>,
}

impl LogLevel {
    fn at_least(self) -> Vec<&'static str> {
        [Self::Debug, Self::Info, Self::Warn, Self::Error]
            .into_iter()
            .filter(|l| *l >= self)
            .map(Self::as_str)
            .collect()
    }
}

impl Database {
    /// A run's log entries with an id above `after`, oldest first, at most `limit`.
    pub fn run_logs(
        &self,
        run_id: &RunId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RunLogEntry>, StoreError> {
        self.query_logs(
            run_id,
            &LogQuery {
                after,
                ..Default::default()
            },
            limit,
        )
    }

    /// A run's log entries matching `query`, oldest first, at most `limit`.
    pub fn query_logs(
        &self,
        run_id: &RunId,
        query: &LogQuery,
        limit: u32,
    ) -> Result<Vec<RunLogEntry>, StoreError> {
        self.read(|conn| {
            let mut q = run_logs::table
                .filter(run_logs::run_id.eq(run_id.as_str()))
                .filter(run_logs::id.gt(query.after.unwrap_or(0)))
                .into_boxed();
            if let Some(level) = query.min_level {
                q = q.filter(run_logs::level.eq_any(level.at_least()));
            }
            if let Some(sequence) = query.sequence {
                q = q.filter(run_logs::sequence.eq(sequence as i32));
            }
            q.order(run_logs::id.asc())
                .limit(i64::from(limit))
                .select(LogRow::as_select())
                .load(conn)?
                .into_iter()
                .map(|row| {
                    Ok(RunLogEntry {
                        id: row.id,
                        sequence: row.sequence.map(|s| s as u32),
                        level: LogLevel::parse(&row.level).ok_or_else(|| {
                            StoreError::corrupt(format!("log level {}", row.level))
                        })?,
                        message: row.message,
                        at: row.created_at.and_utc(),
                    })
                })
                .collect()
        })
    }
}
