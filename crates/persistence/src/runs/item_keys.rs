//! The condition that picks some items of one run by sequence, in a form whose plan does not
//! depend on table statistics.
//!
//! `run_id = $1 AND sequence = ANY($2)` alone is planned, on a PostgreSQL table that was never
//! analyzed (autovacuum off, a fresh server), as a scan of *every* item of the run through an
//! index on `run_id`, with the sequences as a filter: without statistics the planner believes a
//! run has a handful of items. Bounding the sequences as well (`sequence BETWEEN min AND max`)
//! gives the primary key `(run_id, sequence)` a range to search that every estimate finds
//! cheapest, so the rows read are the batch's window, not the run.

use diesel::{dsl, prelude::*};
use evalboard_domain::RunId;

use crate::schema::run_items;

/// `run_id = run AND sequence BETWEEN min AND max AND sequence = ANY(sequences)`.
pub(crate) type ItemsOfRun<'a> = dsl::And<
    dsl::And<dsl::Eq<run_items::run_id, &'a str>, dsl::Between<run_items::sequence, i32, i32>>,
    dsl::EqAny<run_items::sequence, &'a [i32]>,
>;

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
    run_items::run_id
        .eq(run.as_str())
        .and(run_items::sequence.between(low, high))
        .and(run_items::sequence.eq_any(sequences))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::{explain, two_large_runs};

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
