//! Run logs: what happened to a run and its items, in the order it happened.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{RunId, Timestamp};

use crate::{
    commit_order::oldest_running_tx,
    connection::{DbConnection, MultiBackend, insert_rows},
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

/// Where an entry stands in its run's log: the order its writers committed in (the writing
/// transaction's id on PostgreSQL, 0 on SQLite), then its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogPosition {
    /// The writing transaction's id (PostgreSQL), or 0.
    pub commit: i64,
    /// The entry's id.
    pub id: i64,
}

/// One log entry of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLogEntry {
    /// Unique id.
    pub id: i64,
    /// Its place in the log's order (entries are read in this order, the id last).
    pub position: LogPosition,
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
    tx: i64,
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
    /// Only entries a reader at this place has not read yet.
    pub after: Option<LogCursor>,
}

/// Where a reader of a run's log continues: the entries after `after`, except those in `seen`.
///
/// On PostgreSQL a page may end with entries whose transaction committed while an earlier one
/// was still running (an entry of that one, committed later, comes before them in the log's
/// order). The cursor stops before them, so that such an entry is not passed, and names them
/// in `seen`, so that they are not read twice. On SQLite `seen` is always empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogCursor {
    /// Every entry up to here was read.
    pub after: LogPosition,
    /// Entries after `after` already read.
    pub seen: Vec<LogPosition>,
}

/// A page of a run's log and where to read on.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    /// The entries, in the log's order.
    pub entries: Vec<RunLogEntry>,
    /// Where the next page begins (also when this one was the last, for a reader that polls).
    pub next: LogCursor,
}

/// The most entries a cursor names as read ahead of its position; a page stops there.
const MAX_SEEN: usize = 32;

impl LogLevel {
    fn at_least(self) -> Vec<&'static str> {
        [Self::Debug, Self::Info, Self::Warn, Self::Error]
            .into_iter()
            .filter(|l| *l >= self)
            .map(Self::as_str)
            .collect()
    }
}

/// Whether an entry's place in the log's order, `(tx, id)`, compares with `$op` (`">"`, `"<"`)
/// to the place `($commit, $id)`.
macro_rules! position_is {
    ($op:literal, $commit:expr, $id:expr) => {
        diesel::dsl::sql::<diesel::sql_types::Bool>(concat!(
            "(run_logs.tx, run_logs.id) ",
            $op,
            " ("
        ))
        .bind::<diesel::sql_types::BigInt, _>($commit)
        .sql(", ")
        .bind::<diesel::sql_types::BigInt, _>($id)
        .sql(")")
    };
}

/// A run's log entries after the position `($commit, $id)`, in commit order (PostgreSQL; a
/// macro so that the plan test explains this very query).
macro_rules! logs_after {
    ($run_id:expr, $commit:expr, $id:expr) => {
        run_logs::table
            .filter(run_logs::run_id.eq($run_id))
            .filter(position_is!(">", $commit, $id))
            .order((run_logs::tx.asc(), run_logs::id.asc()))
    };
}

/// `q` narrowed to `query`'s level and item (its position is each reader's own).
fn matching<'a>(
    mut q: run_logs::BoxedQuery<'a, MultiBackend>,
    query: &LogQuery,
) -> run_logs::BoxedQuery<'a, MultiBackend> {
    if let Some(level) = query.min_level {
        q = q.filter(run_logs::level.eq_any(level.at_least()));
    }
    if let Some(sequence) = query.sequence {
        q = q.filter(run_logs::sequence.eq(sequence as i32));
    }
    q
}

impl Database {
    /// A run's log entries after `after`, oldest first, at most `limit`.
    pub fn run_logs(
        &self,
        run_id: &RunId,
        after: Option<LogCursor>,
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

    /// A run's log entries matching `query`, in the order their writers committed (oldest
    /// first), at most `limit`.
    pub fn query_logs(
        &self,
        run_id: &RunId,
        query: &LogQuery,
        limit: u32,
    ) -> Result<Vec<RunLogEntry>, StoreError> {
        Ok(self.log_page(run_id, query, limit)?.entries)
    }

    /// A page of a run's log: the entries matching `query` that its cursor has not read, in
    /// the order their writers committed, at most `limit`; and the cursor that reads on without
    /// ever passing an entry still to commit (see [`LogCursor`], [`crate::commit_order`]).
    pub fn log_page(
        &self,
        run_id: &RunId,
        query: &LogQuery,
        limit: u32,
    ) -> Result<LogPage, StoreError> {
        let cursor = query.after.clone().unwrap_or_default();
        let after = cursor.after;
        // The entries already read come again from the database: as many more are asked for.
        let asked = i64::from(limit) + cursor.seen.len() as i64;
        let (rows, settled_below): (Vec<LogRow>, Option<i64>) = self.read(|conn| {
            // Asked before the rows are read: every transaction below it had ended, so the read
            // sees all their entries (asked after, it could count as settled a transaction that
            // ended between the two statements, whose entries the read missed).
            let settled_below = match conn {
                DbConnection::Sqlite(_) => None,
                DbConnection::Postgres(pg) => Some(
                    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                        oldest_running_tx!(),
                    ))
                    .get_result::<i64>(pg)?,
                ),
            };
            let q = match conn {
                // One writer at a time: ids are the commit order (every `tx` is 0).
                DbConnection::Sqlite(_) => run_logs::table
                    .filter(run_logs::run_id.eq(run_id.as_str()))
                    .filter(run_logs::id.gt(after.id))
                    .order(run_logs::id.asc())
                    .into_boxed(),
                DbConnection::Postgres(_) => {
                    logs_after!(run_id.as_str(), after.commit, after.id).into_boxed()
                }
            };
            let rows = matching(q, query)
                .limit(asked)
                .select(LogRow::as_select())
                .load(conn)?;
            Ok((rows, settled_below))
        })?;
        let mut entries: Vec<RunLogEntry> = rows
            .into_iter()
            .filter(|row| {
                !cursor.seen.contains(&LogPosition {
                    commit: row.tx,
                    id: row.id,
                })
            })
            .take(limit as usize)
            .map(LogRow::into_entry)
            .collect::<Result<_, _>>()?;
        let settled = |p: &LogPosition| settled_below.is_none_or(|below| p.commit < below);
        // Every entry up to the last settled place this reader knows of (read now, or read
        // before) has been read: a settled transaction had ended before the read, so its
        // entries were all visible. (Past a full page's last entry, what lies between is not
        // known.)
        let full = entries.len() == limit as usize;
        let last_read = entries.last().map(|e| e.position);
        let mut known: Vec<LogPosition> = entries
            .iter()
            .map(|e| e.position)
            .chain(
                cursor
                    .seen
                    .iter()
                    .copied()
                    .filter(|p| !full || last_read.is_some_and(|last| *p <= last)),
            )
            .collect();
        known.sort_unstable();
        let next_after = known
            .iter()
            .take_while(|p| settled(p))
            .last()
            .copied()
            .unwrap_or(after)
            .max(after);
        // Read but not passed: named in the cursor, at most MAX_SEEN (the page stops there).
        let mut seen: Vec<LogPosition> = cursor
            .seen
            .into_iter()
            .filter(|p| *p > next_after)
            .collect();
        let passed = entries
            .iter()
            .take_while(|e| e.position <= next_after)
            .count();
        entries.truncate(passed + MAX_SEEN.saturating_sub(seen.len()));
        seen.extend(entries[passed..].iter().map(|e| e.position));
        Ok(LogPage {
            entries,
            next: LogCursor {
                after: next_after,
                seen,
            },
        })
    }
}

impl Database {
    /// A page of a run's log newest first: the entries matching `query`'s level and item
    /// (its `after` is not read) that come before `before` in the log's order (all when
    /// `None`), at most `limit`, and where the next page begins when this one is full. A
    /// reading of what has committed, for a reader that wants the latest first: an entry that
    /// commits later at an earlier place (PostgreSQL, [`LogCursor`]) is not on a page read
    /// before it; a reader that must see every entry reads oldest first.
    pub fn log_page_newest(
        &self,
        run_id: &RunId,
        query: &LogQuery,
        before: Option<LogPosition>,
        limit: u32,
    ) -> Result<(Vec<RunLogEntry>, Option<LogPosition>), StoreError> {
        let rows: Vec<LogRow> = self.read(|conn| {
            let mut q = run_logs::table
                .filter(run_logs::run_id.eq(run_id.as_str()))
                .into_boxed();
            if let Some(before) = before {
                q = q.filter(position_is!("<", before.commit, before.id));
            }
            Ok(matching(q, query)
                .order((run_logs::tx.desc(), run_logs::id.desc()))
                .limit(i64::from(limit))
                .select(LogRow::as_select())
                .load(conn)?)
        })?;
        let entries: Vec<RunLogEntry> = rows
            .into_iter()
            .map(LogRow::into_entry)
            .collect::<Result<_, _>>()?;
        let next = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.position))
            .flatten();
        Ok((entries, next))
    }
}

impl LogRow {
    fn into_entry(self) -> Result<RunLogEntry, StoreError> {
        Ok(RunLogEntry {
            id: self.id,
            position: LogPosition {
                commit: self.tx,
                id: self.id,
            },
            sequence: self.sequence.map(|s| s as u32),
            level: LogLevel::parse(&self.level)
                .ok_or_else(|| StoreError::corrupt(format!("log level {}", self.level)))?,
            message: self.message,
            at: self.created_at.and_utc(),
        })
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::plans::{explain, two_large_runs};

    /// A page of a run's log on never-analyzed tables of two 10,000-item runs with a log entry
    /// per item, interleaved: found through `(run_id, tx, id)`, reading no other run's entries.
    #[test]
    fn a_page_of_a_runs_log_is_read_through_its_index_without_statistics() {
        let Some((_db, [run, _], mut conn)) = two_large_runs() else {
            return;
        };
        diesel::sql_query(
            "INSERT INTO run_logs (run_id, sequence, level, message, created_at) \
             SELECT runs.id, items.s, 'debug', 'attempt 1 sent', now() \
             FROM generate_series(1, 10000) AS items(s) CROSS JOIN runs ORDER BY items.s, runs.id",
        )
        .execute(&mut conn)
        .unwrap();
        let (tx, id): (i64, i64) = run_logs::table
            .filter(run_logs::run_id.eq(run.as_str()))
            .select((run_logs::tx, run_logs::id))
            .order((run_logs::tx.asc(), run_logs::id.asc()))
            .offset(5_000)
            .first(&mut conn)
            .unwrap();
        let page = explain(
            &mut conn,
            logs_after!(run.as_str(), tx, id)
                .limit(100)
                .select(LogRow::as_select()),
        );
        page.assert_reads("a page of the log", "run_logs", "run_logs_by_run", 100);
    }
}
