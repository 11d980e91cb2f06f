//! A run's items as a comparison reads them: paired on dataset item ids, with verdicts.

use std::hash::{Hash, Hasher};

use diesel::prelude::*;
use evalboard_domain::{ExtractionTier, RunId, compare::ComparedItem};

use crate::{
    database::Database,
    error::StoreError,
    schema::{dataset_items, run_items},
};

/// item id, category, sequence, state, extracted letter, extraction tier.
type ComparedRow = (String, String, i32, String, Option<String>, Option<String>);

/// The dataset item's question, options and key, as stored.
type ContentRow = (String, String, String);

impl Database {
    /// Every item of a run, by sequence, as [`evalboard_domain::compare::compare_runs`] takes
    /// them. One read of the run's item rows joined to their dataset item ids; with `content`
    /// (runs of different dataset versions compared), their question, options and key too, as
    /// a digest that tells an id kept for another item.
    pub fn compared_items(
        &self,
        run_id: &RunId,
        content: bool,
    ) -> Result<Vec<ComparedItem>, StoreError> {
        self.read(|conn| {
            let items = run_items::table
                .inner_join(
                    dataset_items::table.on(dataset_items::dataset_id
                        .eq(run_items::dataset_id)
                        .and(dataset_items::position.eq(run_items::dataset_position))),
                )
                .filter(run_items::run_id.eq(run_id.as_str()))
                .order(run_items::sequence.asc());
            let compared = (
                dataset_items::item_id,
                dataset_items::category,
                run_items::sequence,
                run_items::state,
                run_items::extracted_answer,
                run_items::extraction_tier,
            );
            let rows: Vec<(ComparedRow, Option<u64>)> = if content {
                items
                    .select((
                        compared,
                        (
                            dataset_items::question,
                            dataset_items::choices,
                            dataset_items::answer,
                        ),
                    ))
                    .load::<(ComparedRow, ContentRow)>(conn)?
                    .into_iter()
                    .map(|(row, content)| (row, Some(digest(&content))))
                    .collect()
            } else {
                items
                    .select(compared)
                    .load::<ComparedRow>(conn)?
                    .into_iter()
                    .map(|row| (row, None))
                    .collect()
            };
            rows.into_iter()
                .map(
                    |((item_id, category, sequence, state, extracted, tier), content)| {
                        Ok(ComparedItem {
                            item_id,
                            category,
                            sequence: sequence as u32,
                            state: state.parse().map_err(StoreError::corrupt)?,
                            extracted,
                            unparsed: tier.as_deref() == Some(ExtractionTier::Unparsed.as_str()),
                            content,
                        })
                    },
                )
                .collect()
        })
    }
}

/// A digest of an item's content, compared within one request only (so the standard library's
/// hasher, fixed within a process, will do).
fn digest(content: &ContentRow) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut hasher);
    hasher.finish()
}
