//! Deterministic choice of which dataset items a run (or a harness pack) evaluates.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ValidationErrors;

/// Largest sample a selection may ask for.
pub const MAX_SAMPLE_SIZE: u32 = 1_000_000;
/// Largest seed: 2^53 - 1, the largest integer a JavaScript client reads back exactly.
pub const MAX_SEED: u64 = (1 << 53) - 1;
/// Most categories a selection may name.
pub const MAX_SELECTED_CATEGORIES: usize = 64;

/// Which items of a dataset to take.
///
/// Items are first filtered by `categories` (when given); then, when `sampleSize` is given,
/// the first `sampleSize` items are taken, or with a `seed` a random sample of that size. The
/// random sample is reproducible anywhere: it keeps the items with the smallest
/// `SHA-256(seed as 8 little-endian bytes ‖ item id as UTF-8)`. Chosen items always keep their
/// dataset order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSelection {
    /// Only items of these categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// At most this many items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_size: Option<u32>,
    /// Take a random sample (seeded) instead of the first items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl ItemSelection {
    /// Whether this selects the whole dataset.
    pub fn is_all(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the selection's own bounds, reporting under `path`.
    pub fn validate(&self, path: &str, errors: &mut ValidationErrors) {
        if let Some(n) = self.sample_size
            && !(1..=MAX_SAMPLE_SIZE).contains(&n)
        {
            errors.push(
                format!("{path}.sampleSize"),
                format!("must be between 1 and {MAX_SAMPLE_SIZE}, got {n}"),
            );
        }
        if let Some(seed) = self.seed
            && seed > MAX_SEED
        {
            errors.push(
                format!("{path}.seed"),
                format!("must be at most {MAX_SEED}, got {seed}"),
            );
        }
        if self.seed.is_some() && self.sample_size.is_none() {
            errors.push(
                format!("{path}.seed"),
                "a seed only makes sense with a sample size",
            );
        }
        if let Some(categories) = &self.categories
            && (categories.is_empty() || categories.len() > MAX_SELECTED_CATEGORIES)
        {
            errors.push(
                format!("{path}.categories"),
                format!("must name between 1 and {MAX_SELECTED_CATEGORIES} categories"),
            );
        }
    }

    /// Reports (under `path.categories`) the selected categories that are not among `known`,
    /// the categories of the dataset's items.
    pub fn check_categories<'a>(
        &self,
        path: &str,
        known: impl IntoIterator<Item = &'a str>,
        errors: &mut ValidationErrors,
    ) {
        let Some(wanted) = &self.categories else {
            return;
        };
        let known: BTreeSet<&str> = known.into_iter().collect();
        let mut unknown: Vec<&str> = wanted
            .iter()
            .map(String::as_str)
            .filter(|c| !known.contains(c))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            errors.push(
                format!("{path}.categories"),
                format!("the dataset has no category {}", quoted_list(&unknown)),
            );
        }
    }

    /// Applies the selection to a dataset's items, given as `(id, category)` in dataset order.
    /// Returns the indices of the chosen items in dataset order, or a validation error (under
    /// `path`) when a category is unknown or nothing is selected.
    pub fn apply<'a>(
        &self,
        path: &str,
        items: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Vec<usize>, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        self.validate(path, &mut errors);
        errors.into_result()?;

        let items: Vec<(&str, &str)> = items.into_iter().collect();
        let mut errors = ValidationErrors::default();
        self.check_categories(path, items.iter().map(|(_, c)| *c), &mut errors);
        errors.into_result()?;
        let wanted: Option<BTreeSet<&str>> = self
            .categories
            .as_ref()
            .map(|c| c.iter().map(String::as_str).collect());

        let mut chosen: Vec<usize> = (0..items.len())
            .filter(|&i| wanted.as_ref().is_none_or(|w| w.contains(items[i].1)))
            .collect();
        if let Some(n) = self.sample_size {
            let n = n as usize;
            if let Some(seed) = self.seed {
                chosen.sort_by_cached_key(|&i| sample_rank(seed, items[i].0));
                chosen.truncate(n);
                chosen.sort_unstable();
            } else {
                chosen.truncate(n);
            }
        }
        Ok(chosen)
    }
}

fn sample_rank(seed: u64, id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(id.as_bytes());
    hasher.finalize().into()
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<(String, String)> {
        (0..20)
            .map(|i| {
                (
                    format!("q{i}"),
                    if i % 2 == 0 { "math" } else { "law" }.to_owned(),
                )
            })
            .collect()
    }

    fn apply(selection: &ItemSelection) -> Result<Vec<usize>, ValidationErrors> {
        let items = items();
        selection.apply("s", items.iter().map(|(a, b)| (a.as_str(), b.as_str())))
    }

    #[test]
    fn default_selects_everything() {
        assert_eq!(
            apply(&ItemSelection::default()).unwrap(),
            (0..20).collect::<Vec<_>>()
        );
    }

    #[test]
    fn categories_then_first_n() {
        let selection = ItemSelection {
            categories: Some(vec!["law".into()]),
            sample_size: Some(3),
            seed: None,
        };
        assert_eq!(apply(&selection).unwrap(), [1, 3, 5]);
    }

    #[test]
    fn seeded_samples_are_reproducible_ordered_and_seed_dependent() {
        let with_seed = |seed| ItemSelection {
            categories: None,
            sample_size: Some(5),
            seed: Some(seed),
        };
        let a = apply(&with_seed(7)).unwrap();
        assert_eq!(a, apply(&with_seed(7)).unwrap());
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, apply(&with_seed(8)).unwrap());
    }

    #[test]
    fn unknown_categories_are_named() {
        let selection = ItemSelection {
            categories: Some(vec!["law".into(), "poetry".into()]),
            ..Default::default()
        };
        let err = apply(&selection).unwrap_err();
        assert_eq!(err.0[0].field, "s.categories");
        assert!(err.0[0].message.contains("`poetry`"));
    }
}
