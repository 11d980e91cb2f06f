//! The active board's read model: active runs first, then the most recently finished, each
//! with the item in flight and the last few finished items.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::{
    backend::Backend,
    prelude::*,
    query_builder::{BoxedSqlQuery, SqlQuery},
    serialize::ToSql,
    sql_types::{HasSqlType, Integer, Nullable, Text, Timestamp},
};
use evalboard_domain::{ItemSnapshot, Run, RunId, RunStatus};

use super::RunRow;
use crate::{
    connection::{DbConnection, on_backend},
    database::Database,
    error::StoreError,
    events::RECENT_ITEMS,
    schema::{dataset_items, run_items, runs},
};

/// One run as the active board shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveRun {
    /// The run, with progress and lifecycle.
    pub run: Run,
    /// The item most recently started among those still running, if any.
    pub current_item: Option<ItemSnapshot>,
    /// The most recently finished items, newest first.
    pub recent_items: Vec<ItemSnapshot>,
}

const ACTIVE: [&str; 2] = ["pending", "running"];

impl Database {
    /// Up to `limit` snapshots: runs `pending` or `running` (newest first), then terminal runs
    /// by when they finished (most recent first).
    pub fn active_runs(&self, limit: u32) -> Result<Vec<ActiveRun>, StoreError> {
        self.active_runs_with(limit, |_| None)
    }

    /// [`Database::active_runs`], with each run's current item the one `streaming` names (the
    /// item this server is streaming, when it knows one) rather than the one claimed last. Still
    /// one statement for every snapshot's items.
    pub fn active_runs_with(
        &self,
        limit: u32,
        streaming: impl Fn(&RunId) -> Option<u32>,
    ) -> Result<Vec<ActiveRun>, StoreError> {
        debug_assert!(
            ACTIVE
                .iter()
                .all(|s| s.parse::<RunStatus>().is_ok_and(RunStatus::is_active))
        );
        self.read(|conn| {
            let limit = i64::from(limit);
            let mut rows: Vec<RunRow> = runs::table
                .filter(runs::status.eq_any(ACTIVE))
                .order((runs::created_at.desc(), runs::id.desc()))
                .limit(limit)
                .select(RunRow::as_select())
                .load(conn)?;
            let room = limit - rows.len() as i64;
            if room > 0 {
                rows.extend(
                    runs::table
                        .filter(runs::status.ne_all(ACTIVE))
                        .order((
                            runs::finished_at.desc(),
                            runs::created_at.desc(),
                            runs::id.desc(),
                        ))
                        .limit(room)
                        .select(RunRow::as_select())
                        .load(conn)?,
                );
            }
            let runs: Vec<Run> = rows
                .into_iter()
                .map(RunRow::into_domain)
                .collect::<Result<_, _>>()?;
            let mut items = board_items(conn, &runs, &streaming)?;
            Ok(runs
                .into_iter()
                .map(|run| {
                    let (current, recent) = items.remove(run.id.as_str()).unwrap_or_default();
                    ActiveRun {
                        run,
                        current_item: current,
                        recent_items: recent,
                    }
                })
                .collect())
        })
    }
}

impl Database {
    /// One item of a run as the board shows it.
    pub fn item_snapshot(
        &self,
        run_id: &RunId,
        sequence: u32,
    ) -> Result<Option<ItemSnapshot>, StoreError> {
        self.read(|conn| {
            let row: Option<(i32, String, String, String)> = run_items::table
                .inner_join(
                    dataset_items::table.on(dataset_items::dataset_id
                        .eq(run_items::dataset_id)
                        .and(dataset_items::position.eq(run_items::dataset_position))),
                )
                .filter(run_items::run_id.eq(run_id.as_str()))
                .filter(run_items::sequence.eq(sequence as i32))
                .select((
                    run_items::sequence,
                    run_items::state,
                    dataset_items::question,
                    dataset_items::choices,
                ))
                .first(conn)
                .optional()?;
            row.map(snapshot).transpose()
        })
    }
}

fn snapshot(
    (sequence, state, question, choices): (i32, String, String, String),
) -> Result<ItemSnapshot, StoreError> {
    Ok(ItemSnapshot {
        sequence: sequence as u32,
        state: state.parse().map_err(StoreError::corrupt)?,
        prompt_text: question,
        choices: serde_json::from_str(&choices).map_err(StoreError::corrupt)?,
    })
}

/// One item a board shows, as the snapshot query reads it.
#[derive(QueryableByName)]
struct BoardItemRow {
    #[diesel(sql_type = Text)]
    run_id: String,
    /// `c` for the run's current item, `r` for a recently finished one.
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Integer)]
    sequence: i32,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    finished_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Text)]
    question: String,
    #[diesel(sql_type = Text)]
    choices: String,
}

/// The current item and the recent items of every run, by run id.
type BoardItems = HashMap<String, (Option<ItemSnapshot>, Vec<ItemSnapshot>)>;

/// The current and recent items of `runs`, in one statement whatever their number: per run, the
/// running item started last and the last [`RECENT_ITEMS`] finished ones (each an index range
/// read: `run_items_by_state`, and `run_items_by_finished`, whose order is the query's), joined
/// to their question text once the few rows are chosen.
/// The one statement that reads every board run's current and recent items: SQL with its binds
/// (a run id, or an item's sequence).
struct BoardQuery {
    sql: String,
    binds: Vec<(String, Option<i32>)>,
}

impl BoardQuery {
    fn new(runs: &[Run], streaming: &dyn Fn(&RunId) -> Option<u32>, postgres: bool) -> Self {
        let mut binds: Vec<(String, Option<i32>)> = Vec::new();
        let mut placeholder = |text: &str, number: Option<i32>| {
            binds.push((text.to_owned(), number));
            if postgres {
                format!("${}", binds.len())
            } else {
                "?".to_owned()
            }
        };
        const COLUMNS: &str = "run_id, sequence, state, finished_at, dataset_id, dataset_position";
        let mut picks = Vec::with_capacity(2 * runs.len());
        for (i, run) in runs.iter().enumerate() {
            let id = run.id.as_str();
            let current = match streaming(&run.id) {
                Some(sequence) => format!(
                    "SELECT 'c' AS role, {COLUMNS} FROM run_items WHERE run_id = {} AND sequence = {}",
                    placeholder(id, None),
                    placeholder("", Some(sequence as i32))
                ),
                // The running item sent last; one between attempts (not sent yet) after the others.
                None => format!(
                    "SELECT 'c' AS role, {COLUMNS} FROM run_items WHERE run_id = {} AND state = \
                     'running' ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, \
                     started_at DESC, sequence DESC LIMIT 1",
                    placeholder(id, None)
                ),
            };
            picks.push(format!("SELECT * FROM ({current}) AS c{i}"));
            picks.push(format!(
                "SELECT * FROM (SELECT 'r' AS role, {COLUMNS} FROM run_items WHERE run_id = {} AND \
                 finished_at IS NOT NULL ORDER BY finished_at DESC, sequence DESC \
                 LIMIT {RECENT_ITEMS}) AS r{i}",
                placeholder(id, None)
            ));
        }
        let sql = format!(
            "SELECT p.run_id, p.role, p.sequence, p.state, p.finished_at, d.question, d.choices \
             FROM ({}) AS p JOIN dataset_items d \
             ON d.dataset_id = p.dataset_id AND d.position = p.dataset_position",
            picks.join(" UNION ALL ")
        );
        Self { sql, binds }
    }

    /// The statement with its binds, for `DB`.
    fn bound<DB>(&self) -> BoxedSqlQuery<'_, DB, SqlQuery>
    where
        DB: Backend + HasSqlType<Text> + HasSqlType<Integer>,
        for<'x> &'x str: ToSql<Text, DB>,
        i32: ToSql<Integer, DB>,
    {
        let mut query = diesel::sql_query(&self.sql).into_boxed();
        for (text, number) in &self.binds {
            query = match number {
                Some(number) => query.bind::<Integer, _>(*number),
                None => query.bind::<Text, _>(text.as_str()),
            };
        }
        query
    }
}

fn board_items(
    conn: &mut DbConnection,
    runs: &[Run],
    streaming: &dyn Fn(&RunId) -> Option<u32>,
) -> Result<BoardItems, StoreError> {
    let mut board = BoardItems::new();
    if runs.is_empty() {
        return Ok(board);
    }
    let postgres = matches!(conn, DbConnection::Postgres(_));
    let query = BoardQuery::new(runs, streaming, postgres);
    let mut rows: Vec<BoardItemRow> = on_backend!(conn, |c| query.bound().load(c))?;
    // Newest first; the order of equal finish times is the sequence's, as events announce them.
    rows.sort_by_key(|row| std::cmp::Reverse((row.finished_at, row.sequence)));
    for row in rows {
        let entry = board.entry(row.run_id.clone()).or_default();
        let is_current = row.role == "c";
        let item = snapshot((row.sequence, row.state, row.question, row.choices))?;
        if is_current {
            entry.0 = Some(item);
        } else {
            entry.1.push(item);
        }
    }
    Ok(board)
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::plans::{explain, two_large_runs};

    /// On never-analyzed tables of two 10,000-item runs, each with items finished and in
    /// flight, the board's statement reads each run's current and recent items through an
    /// index of the run's own items and their questions by primary key: nothing of the rest.
    #[test]
    fn the_boards_items_are_read_without_statistics() {
        let Some((db, runs, mut conn)) = two_large_runs() else {
            return;
        };
        for run in &runs {
            diesel::sql_query(format!(
                "UPDATE run_items SET \
                 state = CASE WHEN sequence <= 4000 THEN 'correct' ELSE 'running' END, \
                 finished_at = CASE WHEN sequence <= 4000 \
                     THEN now() - (sequence * interval '1 millisecond') END, \
                 started_at = now() - (sequence * interval '1 millisecond') \
                 WHERE run_id = '{run}' AND sequence <= 4032"
            ))
            .execute(&mut conn)
            .unwrap();
        }
        let board: Vec<Run> = runs.iter().map(|id| db.get_run(id).unwrap()).collect();
        // One run's current item is known from its stream, the other's is looked for.
        let streaming = |id: &RunId| (id == &runs[0]).then_some(4010);
        let query = BoardQuery::new(&board, &streaming, true);
        let plan = explain(&mut conn, query.bound::<diesel::pg::Pg>());
        assert!(
            plan.rows_removed <= 64,
            "{} rows read and thrown away: {:#}",
            plan.rows_removed,
            plan.plan
        );
        for table in ["run_items", "dataset_items"] {
            let scans = plan.scans_of(table);
            assert!(
                !scans.is_empty() && scans.iter().all(Option::is_some),
                "{table} read through {scans:?}: {:#}",
                plan.plan
            );
        }
    }
}
