//! The condition that picks some items of one run by sequence, in a form whose plan does not
//! depend on table statistics and whose text does not depend on how many items it picks.
//!
//! `run_id = $1 AND sequence = ANY($2)` alone is planned, on a PostgreSQL table that was never
//! analyzed (autovacuum off, a fresh server), as a scan of *every* item of the run through an
//! index on `run_id`, with the sequences as a filter: without statistics the planner believes a
//! run has a handful of items. Bounding the sequences as well (`sequence BETWEEN min AND max`)
//! gives the primary key `(run_id, sequence)` a range to search that every estimate finds
//! cheapest, so the rows read are the batch's window, not the run.
//!
//! On SQLite diesel writes a list as `IN (?, ?, ...)`, one placeholder per item: a statement
//! whose text changes with the batch's size, which diesel never keeps prepared, so SQLite parsed
//! and planned it again at every batch. The sequences are bound there as one JSON array instead
//! (`IN (SELECT value FROM json_each(?))`), one text for every batch, and bounded the same way
//! (without the bounds, SQLite read the run's every item through its `state` index).

use std::fmt::Write;

use diesel::{
    backend::Backend,
    expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping},
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{Array, Bool, HasSqlType, Integer, Text},
    sqlite::Sqlite,
};
use evalboard_domain::RunId;

use crate::{connection::MultiBackend, schema::run_items};

/// `run_id = run AND sequence BETWEEN min AND max AND sequence = ANY(sequences)` on
/// PostgreSQL, `... AND sequence IN (SELECT value FROM json_each(sequences))` on SQLite: a
/// boolean expression on `run_items`, for reads and updates alike.
pub(crate) struct ItemsOfRun<'a> {
    run: &'a str,
    sequences: &'a [i32],
    low: i32,
    high: i32,
    /// The sequences as a JSON array, for SQLite.
    json: String,
}

/// The smallest and largest of `sequences`, to bound them with (an empty list is the empty range
/// `1..=0`). The statements written in SQL (`UPDATE ... FROM UNNEST`) bind these too.
pub(crate) fn bounds(sequences: &[i32]) -> (i32, i32) {
    let low = sequences.iter().copied().min().unwrap_or(1);
    let high = sequences.iter().copied().max().unwrap_or(0);
    (low, high)
}

/// The items of `run` whose sequence is in `sequences` (none when it is empty).
pub(crate) fn items_of_run<'a>(run: &'a RunId, sequences: &'a [i32]) -> ItemsOfRun<'a> {
    let (low, high) = bounds(sequences);
    let mut json = String::with_capacity(2 + 7 * sequences.len());
    json.push('[');
    for (i, sequence) in sequences.iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        // Writing into a `String` cannot fail.
        let _ = write!(json, "{comma}{sequence}");
    }
    json.push(']');
    ItemsOfRun {
        run: run.as_str(),
        sequences,
        low,
        high,
        json,
    }
}

impl Expression for ItemsOfRun<'_> {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for ItemsOfRun<'_> where
    (run_items::run_id, run_items::sequence): AppearsOnTable<QS>
{
}

impl<QS> SelectableExpression<QS> for ItemsOfRun<'_> where
    (run_items::run_id, run_items::sequence): SelectableExpression<QS>
{
}

impl<GB> ValidGrouping<GB> for ItemsOfRun<'_>
where
    (run_items::run_id, run_items::sequence): ValidGrouping<GB>,
{
    type IsAggregate = <(run_items::run_id, run_items::sequence) as ValidGrouping<GB>>::IsAggregate;
}

// Cached by type: each connection (one backend) keeps one prepared statement per query that
// holds this node, so `walk_ast` must render the same text whatever the values (no shortcut
// for an empty list, for one).
impl QueryId for ItemsOfRun<'_> {
    type QueryId = ItemsOfRun<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl ItemsOfRun<'_> {
    /// `(run_id = ? AND sequence BETWEEN ? AND ? AND sequence`, which both backends share; each
    /// completes it with its own form of the list.
    fn walk_run_and_window<'b, DB>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>
    where
        DB: Backend + HasSqlType<Text> + HasSqlType<Integer>,
        str: ToSql<Text, DB>,
        i32: ToSql<Integer, DB>,
        run_items::run_id: QueryFragment<DB>,
        run_items::sequence: QueryFragment<DB>,
    {
        out.push_sql("(");
        run_items::run_id.walk_ast(out.reborrow())?;
        out.push_sql(" = ");
        out.push_bind_param::<Text, _>(self.run)?;
        out.push_sql(" AND ");
        run_items::sequence.walk_ast(out.reborrow())?;
        out.push_sql(" BETWEEN ");
        out.push_bind_param::<Integer, _>(&self.low)?;
        out.push_sql(" AND ");
        out.push_bind_param::<Integer, _>(&self.high)?;
        out.push_sql(" AND ");
        run_items::sequence.walk_ast(out.reborrow())
    }
}

impl QueryFragment<Pg> for ItemsOfRun<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.walk_run_and_window(&mut out)?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<Integer>, _>(self.sequences)?;
        out.push_sql("))");
        Ok(())
    }
}

impl QueryFragment<Sqlite> for ItemsOfRun<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.walk_run_and_window(&mut out)?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, _>(&self.json)?;
        out.push_sql(")))");
        Ok(())
    }
}

impl QueryFragment<MultiBackend> for ItemsOfRun<'_> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        MultiBackend::walk_variant_ast(self, pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        connection::DbConnection,
        plans::{explain, explain_sqlite, two_large_runs},
    };

    /// On SQLite a batch's items are read through the primary key, within the batch's window,
    /// for reads and updates alike, the sequences coming from their one bound JSON array.
    /// (Without the bounds SQLite read the run's every item through its `state` index.)
    #[test]
    fn on_sqlite_a_batch_of_items_is_read_through_the_primary_key() {
        let db = crate::testing::TestDatabase::sqlite();
        let run = RunId::generate();
        let batch = [5_001, 5_003, 5_010];
        let (read, update) = db
            .read(|conn| {
                let DbConnection::Sqlite(conn) = conn else {
                    unreachable!("a SQLite test database")
                };
                Ok((
                    explain_sqlite(
                        conn,
                        run_items::table
                            .filter(items_of_run(&run, &batch))
                            .select(run_items::state),
                    ),
                    explain_sqlite(
                        conn,
                        diesel::update(run_items::table.filter(items_of_run(&run, &batch)))
                            .set(run_items::attempt_count.eq(run_items::attempt_count + 1)),
                    ),
                ))
            })
            .unwrap();
        for plan in [read, update] {
            // A seek per item or a range of the window, as SQLite's estimate goes.
            let primary_key = [
                "sqlite_autoindex_run_items_1 (run_id=? AND sequence=?)",
                "sqlite_autoindex_run_items_1 (run_id=? AND sequence>? AND sequence<?)",
            ];
            assert!(
                plan[0].starts_with("SEARCH run_items USING ")
                    && primary_key.iter().any(|seek| plan[0].ends_with(seek)),
                "{plan:#?}"
            );
            assert!(
                plan[1..].iter().all(|step| !step.contains("run_items")),
                "the items are read once: {plan:#?}"
            );
        }
    }

    /// On a never-analyzed table of two runs of 10,000 items each, picking a batch of one run's
    /// items reads the batch's window through the primary key, for reads and for updates; the
    /// condition without its bounds reads the whole run (which is why they are there).
    #[test]
    fn a_batch_of_items_is_found_through_the_primary_key_without_statistics() {
        let Some((_db, runs, mut conn)) = two_large_runs() else {
            return;
        };
        let run = &runs[1];
        // A batch as workers finish it: 64 items, not all adjacent.
        let batch: Vec<i32> = (0..64).map(|i| 5_001 + 2 * i).collect();
        let window = (batch[63] - batch[0] + 1) as u64 - batch.len() as u64;

        let read = explain(
            &mut conn,
            run_items::table
                .filter(items_of_run(run, &batch))
                .select(run_items::sequence),
        );
        let update = explain(
            &mut conn,
            diesel::update(run_items::table.filter(items_of_run(run, &batch)))
                .set(run_items::attempt_count.eq(run_items::attempt_count + 1)),
        );
        for (what, plan) in [("read", read), ("update", update)] {
            assert!(
                plan.rows_removed <= window,
                "{what}: {} rows read and thrown away, more than the batch's window",
                plan.rows_removed
            );
            assert_eq!(
                plan.scans_of("run_items"),
                [Some("run_items_pkey")],
                "{what}"
            );
        }

        let unbounded = explain(
            &mut conn,
            run_items::table
                .filter(run_items::run_id.eq(run.as_str()))
                .filter(run_items::sequence.eq_any(&batch))
                .select(run_items::sequence),
        );
        assert!(
            unbounded.rows_removed > 9_000,
            "without statistics the unbounded condition reads the run: {unbounded:?}"
        );
    }
}
