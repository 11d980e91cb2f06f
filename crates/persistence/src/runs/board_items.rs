//! The items the active board shows of each of its runs: the current item (the one this server
//! streams, else the running item sent last) and the last few finished ones, with their question
//! text. Dashboards ask for the board many times a second, so its statements never change text
//! whatever the board holds: each connection prepares them once. (Built as one `UNION ALL` of two
//! subqueries per run, the statement was new text for every board: PostgreSQL spent 6.6 ms
//! planning it against 1.6 ms running it.)
//!
//! On PostgreSQL one statement reads every run's items: the runs are bound as arrays and each
//! run's picks are index range reads in a `LATERAL` subquery. SQLite has neither arrays nor
//! `LATERAL`, and no round trips to save: it runs one statement per run.

use std::{collections::HashMap, sync::LazyLock};

use chrono::NaiveDateTime;
use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Array, Integer, Nullable, Text, Timestamp, Untyped},
    sqlite::Sqlite,
};
use evalboard_domain::{ItemSnapshot, Run, RunId};

use crate::{connection::DbConnection, error::StoreError, events::RECENT_ITEMS};

/// The current item and the recent items of every run, by run id.
pub(super) type BoardItems = HashMap<String, (Option<ItemSnapshot>, Vec<ItemSnapshot>)>;

/// The current and recent items of `runs`; `streaming` names the item this server streams for
/// a run, when it knows one.
pub(super) fn board_items(
    conn: &mut DbConnection,
    runs: &[Run],
    streaming: &dyn Fn(&RunId) -> Option<u32>,
) -> Result<BoardItems, StoreError> {
    let mut board = BoardItems::new();
    if runs.is_empty() {
        return Ok(board);
    }
    let streamed: Vec<Option<i32>> = runs
        .iter()
        .map(|run| streaming(&run.id).map(|s| s as i32))
        .collect();
    let mut rows: Vec<BoardItemRow> = match conn {
        DbConnection::Postgres(pg) => {
            BoardItemsOfRuns::new(runs.iter().map(|r| r.id.as_str()).collect(), streamed)
                .load(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            let mut rows = Vec::new();
            for (run, streaming) in runs.iter().zip(streamed) {
                rows.extend(
                    BoardItemsOfRun {
                        run_id: run.id.as_str(),
                        streaming,
                    }
                    .load::<BoardItemRow>(sqlite)?,
                );
            }
            rows
        }
    };
    // Newest first; the order of equal finish times is the sequence's, as events announce them.
    rows.sort_by_key(|row| std::cmp::Reverse((row.finished_at, row.sequence)));
    for row in rows {
        let entry = board.entry(row.run_id.clone()).or_default();
        let is_current = row.role == "c";
        let item = super::active::snapshot((row.sequence, row.state, row.question, row.choices))?;
        if is_current {
            entry.0 = Some(item);
        } else {
            entry.1.push(item);
        }
    }
    Ok(board)
}

/// One item a board shows, as the statements read it.
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

/// What each pick reads of an item (`i`).
const PICKED: &str = "i.run_id, i.sequence, i.state, i.finished_at, i.dataset_id, \
                      i.dataset_position";

/// The running item sent last; when none is in flight (all queued, or between attempts), the
/// one next in line: the lowest sequence (claims and sends go in sequence order).
const LAST_SENT: &str = "i.state = 'running' ORDER BY CASE WHEN i.started_at IS NULL THEN 1 \
                         ELSE 0 END, i.started_at DESC, i.sequence ASC LIMIT 1";

/// The run's last finished items: a backward read of `run_items_by_finished`.
static RECENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "i.finished_at IS NOT NULL ORDER BY i.finished_at DESC, i.sequence DESC \
         LIMIT {RECENT_ITEMS}"
    )
});

/// Every board run's items in one statement (PostgreSQL): the runs' ids and streamed items
/// bound as two arrays of the same length.
struct BoardItemsOfRuns<'a> {
    run_ids: Vec<&'a str>,
    streaming: Vec<Option<i32>>,
}

impl<'a> BoardItemsOfRuns<'a> {
    fn new(run_ids: Vec<&'a str>, streaming: Vec<Option<i32>>) -> Self {
        debug_assert_eq!(run_ids.len(), streaming.len());
        Self { run_ids, streaming }
    }
}

/// The statement's text after its two arrays.
static OF_RUNS_PICKS: LazyLock<String> = LazyLock::new(|| {
    let recent: &str = &RECENT;
    format!(
        "::int4[]) AS b(run_id, streaming) \
         CROSS JOIN LATERAL ( \
           (SELECT 'c' AS role, {PICKED} FROM run_items i \
             WHERE b.streaming IS NOT NULL AND i.run_id = b.run_id AND i.sequence = b.streaming) \
           UNION ALL \
           (SELECT 'c' AS role, {PICKED} FROM run_items i \
             WHERE b.streaming IS NULL AND i.run_id = b.run_id AND {LAST_SENT}) \
           UNION ALL \
           (SELECT 'r' AS role, {PICKED} FROM run_items i WHERE i.run_id = b.run_id AND {recent}) \
         ) AS p \
         CROSS JOIN LATERAL (SELECT question, choices FROM dataset_items \
           WHERE dataset_id = p.dataset_id AND position = p.dataset_position) AS d"
    )
});

impl QueryId for BoardItemsOfRuns<'_> {
    type QueryId = BoardItemsOfRuns<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for BoardItemsOfRuns<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT p.run_id, p.role, p.sequence, p.state, p.finished_at, d.question, \
             d.choices FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.run_ids)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(&self.streaming)?;
        out.push_sql(&OF_RUNS_PICKS);
        Ok(())
    }
}

impl Query for BoardItemsOfRuns<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for BoardItemsOfRuns<'_> {}

/// One run's board items (SQLite).
struct BoardItemsOfRun<'a> {
    run_id: &'a str,
    streaming: Option<i32>,
}

/// The statement's text around its binds: the streamed item and the run, each bound again
/// where it is read (the statement is the same text whatever they are).
static OF_RUN_SQL: LazyLock<[String; 4]> = LazyLock::new(|| {
    let recent: &str = &RECENT;
    [
        format!(
            "SELECT p.run_id, p.role, p.sequence, p.state, p.finished_at, d.question, \
             d.choices FROM ( \
               SELECT * FROM (SELECT 'c' AS role, {PICKED} FROM run_items i WHERE "
        ),
        format!(
            ") \
               UNION ALL SELECT * FROM (SELECT 'c' AS role, {PICKED} FROM run_items i WHERE "
        ),
        format!(
            " AND {LAST_SENT}) \
               UNION ALL SELECT * FROM (SELECT 'r' AS role, {PICKED} FROM run_items i WHERE "
        ),
        format!(
            " AND {recent}) \
             ) AS p \
             JOIN dataset_items d \
             ON d.dataset_id = p.dataset_id AND d.position = p.dataset_position"
        ),
    ]
});

impl QueryId for BoardItemsOfRun<'_> {
    type QueryId = BoardItemsOfRun<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for BoardItemsOfRun<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let sql = &*OF_RUN_SQL;
        out.push_sql(&sql[0]);
        out.push_bind_param::<Nullable<Integer>, _>(&self.streaming)?;
        out.push_sql(" IS NOT NULL AND i.run_id = ");
        out.push_bind_param::<Text, _>(self.run_id)?;
        out.push_sql(" AND i.sequence = ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.streaming)?;
        out.push_sql(&sql[1]);
        out.push_bind_param::<Nullable<Integer>, _>(&self.streaming)?;
        out.push_sql(" IS NULL AND i.run_id = ");
        out.push_bind_param::<Text, _>(self.run_id)?;
        out.push_sql(&sql[2]);
        out.push_sql("i.run_id = ");
        out.push_bind_param::<Text, _>(self.run_id)?;
        out.push_sql(&sql[3]);
        Ok(())
    }
}

impl Query for BoardItemsOfRun<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for BoardItemsOfRun<'_> {}

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
        let query = BoardItemsOfRuns::new(
            board.iter().map(|r| r.id.as_str()).collect(),
            board.iter().map(|r| streaming(&r.id)).collect(),
        );
        let plan = explain(&mut conn, query);
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
