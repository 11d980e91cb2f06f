//! Test support: what PostgreSQL does to run a query, on tables that were never analyzed (as
//! on a server with autovacuum off), so that tests can require plans that hold whatever the
//! statistics say; and SQLite's plan of a query.

use diesel::{
    pg::{Pg, PgConnection},
    prelude::*,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Integer, Text},
    sqlite::Sqlite,
};
use evalboard_domain::{AnswerKey, DatasetItem, DatasetName, RunId, RunSettings};
use serde_json::Value;

use crate::{DatasetImport, NewRun, testing::TestDatabase};

/// `EXPLAIN (ANALYZE, FORMAT JSON)` of a query, with the query's own binds.
#[derive(QueryId)]
pub(crate) struct Explain<Q>(pub(crate) Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN (ANALYZE, FORMAT JSON) ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> Query for Explain<Q> {
    type SqlType = diesel::sql_types::Text;
}

impl<Q> RunQueryDsl<PgConnection> for Explain<Q> {}

/// What PostgreSQL does to run `query`: its [`Explain`], [`summarize`]d.
pub(crate) fn explain<Q: QueryFragment<Pg> + QueryId>(
    conn: &mut PgConnection,
    query: Q,
) -> PlanSummary {
    let explained: String = Explain(query).get_result(conn).unwrap();
    summarize(&explained)
}

/// `EXPLAIN QUERY PLAN` of a query on SQLite, with the query's own binds.
#[derive(QueryId)]
pub(crate) struct ExplainSqlite<Q>(pub(crate) Q);

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for ExplainSqlite<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("EXPLAIN QUERY PLAN ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> Query for ExplainSqlite<Q> {
    type SqlType = (Integer, Integer, Integer, Text);
}

impl<Q> RunQueryDsl<SqliteConnection> for ExplainSqlite<Q> {}

/// How SQLite runs `query`: the detail of each step of its plan (`SEARCH run_events USING
/// INDEX … (tx=? AND id>?)`, `SCAN …`).
pub(crate) fn explain_sqlite<Q: QueryFragment<Sqlite> + QueryId>(
    conn: &mut SqliteConnection,
    query: Q,
) -> Vec<String> {
    ExplainSqlite(query)
        .load::<(i32, i32, i32, String)>(conn)
        .unwrap()
        .into_iter()
        .map(|(.., detail)| detail)
        .collect()
}

/// What a plan did: rows it read and threw away, and how it read each table.
#[derive(Debug)]
pub(crate) struct PlanSummary {
    /// Rows removed by filters and join filters, over every node and every loop of it.
    pub(crate) rows_removed: u64,
    /// `(table, index)` for every scan (a bitmap heap scan's is its child's); the index is
    /// `None` for a sequential scan.
    pub(crate) scans: Vec<(String, Option<String>)>,
    /// `(table, rows)` for every scan: the rows it returned over all its loops.
    pub(crate) rows_read: Vec<(String, u64)>,
    /// The plan itself, for failure messages.
    pub(crate) plan: Value,
}

impl PlanSummary {
    /// The indexes scans of `table` used (`None`: a sequential scan).
    pub(crate) fn scans_of(&self, table: &str) -> Vec<Option<&str>> {
        self.scans
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, index)| index.as_deref())
            .collect()
    }

    /// Fails `what` unless every scan of `table` goes through `index` and the plan throws away
    /// at most `thrown_away` rows it read.
    pub(crate) fn assert_reads(&self, what: &str, table: &str, index: &str, thrown_away: u64) {
        assert!(
            self.rows_removed <= thrown_away,
            "{what}: {} rows read and thrown away: {:#}",
            self.rows_removed,
            self.plan
        );
        let scans = self.scans_of(table);
        assert!(
            !scans.is_empty() && scans.iter().all(|used| *used == Some(index)),
            "{what}: {table} is read through {scans:?}, not {index}: {:#}",
            self.plan
        );
    }

    /// The rows scans of `table` returned, in all.
    pub(crate) fn rows_read_from(&self, table: &str) -> u64 {
        self.rows_read
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, rows)| rows)
            .sum()
    }
}

/// Summarizes the output of an [`Explain`].
pub(crate) fn summarize(explained: &str) -> PlanSummary {
    let plan: Value = serde_json::from_str(explained).unwrap();
    let all = nodes(&plan[0]["Plan"]);
    // PostgreSQL gives a node's removed rows as an average per loop (explain.c divides by
    // nloops): an inner scan that throws away 1,000 rows in each of 5,000 loops reads "1000".
    let rows_removed = all
        .iter()
        .map(|n| {
            ((count(&n["Rows Removed by Filter"]) + count(&n["Rows Removed by Join Filter"]))
                * n["Actual Loops"].as_f64().unwrap_or(1.0))
            .round() as u64
        })
        .sum();
    let scans = all
        .iter()
        .filter(|n| n["Node Type"].as_str().is_some_and(|t| t.ends_with("Scan")))
        .filter_map(|n| {
            let table = n["Relation Name"].as_str()?;
            // A bitmap heap scan reads the table through the index its child scans.
            let index = n["Index Name"].as_str().or_else(|| {
                nodes(n)
                    .iter()
                    .find_map(|child| child["Index Name"].as_str())
            });
            Some((table.to_owned(), index.map(str::to_owned)))
        })
        .collect();
    let rows_read = all
        .iter()
        .filter(|n| n["Node Type"].as_str().is_some_and(|t| t.ends_with("Scan")))
        .filter_map(|n| {
            let table = n["Relation Name"].as_str()?;
            let rows = (count(&n["Actual Rows"]) * n["Actual Loops"].as_f64().unwrap_or(1.0))
                .round() as u64;
            Some((table.to_owned(), rows))
        })
        .collect();
    PlanSummary {
        rows_removed,
        scans,
        rows_read,
        plan: plan[0]["Plan"].clone(),
    }
}

/// A row count of a plan, 0 when absent: PostgreSQL before 18 writes whole numbers, 18 writes
/// per-loop averages with decimals (read as whole numbers, a node would go uncounted).
fn count(value: &Value) -> f64 {
    value.as_f64().unwrap_or(0.0)
}

/// Every node of a plan, depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut all = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        all.extend(nodes(child));
    }
    all
}

/// A fresh PostgreSQL test database (`None` without one) holding two runs of the same
/// 10,000-item dataset, never analyzed; with the runs' ids and a connection of its own for
/// explaining.
pub(crate) fn two_large_runs() -> Option<(TestDatabase, [RunId; 2], PgConnection)> {
    let db = TestDatabase::postgres()?;
    let now = evalboard_domain::truncate_to_micros(chrono::Utc::now());
    let items: Vec<DatasetItem> = (0..10_000)
        .map(|i| DatasetItem {
            id: format!("q{i}"),
            category: "math".into(),
            question: format!("Question {i}?"),
            choices: vec!["yes".into(), "no".into()],
            answer: AnswerKey::from_letter("A").unwrap().into(),
            explanation: None,
            source: None,
        })
        .collect();
    db.import_dataset(DatasetImport {
        name: &DatasetName::parse("plans").unwrap(),
        items: &items,
        at: now,
    })
    .unwrap();
    let run = || {
        db.create_run(NewRun {
            provider_name: "Simulated",
            provider: None,
            model_name: "sim-1",
            dataset_name: "plans",
            dataset_version: None,
            settings: &RunSettings::default(),
            idempotency: None,
            requested_by: None,
            at: now,
        })
        .unwrap()
        .run
        .id
    };
    let runs = [run(), run()];
    let conn = PgConnection::establish(db.url()).unwrap();
    Some((db, runs, conn))
}
