//! The run archive: filtered, ordered (newest first by default), paged by keyset cursor.

use diesel::{expression::SqlLiteral, prelude::*, sql_types::Double};
use evalboard_domain::{Run, RunId, RunStatus, Timestamp};

use super::RunRow;
use crate::{connection::lower, database::Database, error::StoreError, schema::runs};

/// Which runs to list, and in which order. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Any of these statuses (all when empty).
    pub statuses: Vec<RunStatus>,
    /// Exactly this provider.
    pub provider_name: Option<String>,
    /// Exactly this dataset.
    pub dataset_name: Option<String>,
    /// Exactly this model.
    pub model_name: Option<String>,
    /// Created at or after this instant.
    pub created_from: Option<Timestamp>,
    /// Created strictly before this instant.
    pub created_before: Option<Timestamp>,
    /// Text the provider's, the model's or the dataset's name contains, ignoring case (see
    /// `connection::lower`).
    pub search: Option<String>,
    /// The order of the runs.
    pub order: RunOrder,
}

/// The order of the archive's runs. Runs of one accuracy come newest first, and runs of one
/// creation time by id (descending, or ascending for [`RunOrder::Oldest`]), so every run has
/// one place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunOrder {
    /// The most recently created first.
    #[default]
    Newest,
    /// The first created first.
    Oldest,
    /// The highest accuracy over the judged items (correct / (correct + incorrect)) first;
    /// runs with nothing judged last.
    MostAccurate,
    /// The lowest accuracy first; runs with nothing judged last.
    LeastAccurate,
}

impl RunOrder {
    /// Whether runs are ordered by their accuracy (a key besides their creation time, which
    /// cursors of the order hold).
    pub fn is_by_accuracy(self) -> bool {
        self.unjudged_key().is_some()
    }

    /// In an order by accuracy, the key of a run with nothing judged: past every accuracy
    /// (0–1) in the order's direction, so that such runs come last either way.
    fn unjudged_key(self) -> Option<f64> {
        match self {
            Self::Newest | Self::Oldest => None,
            Self::MostAccurate => Some(-1.0),
            Self::LeastAccurate => Some(2.0),
        }
    }

    /// The key a run is ordered by besides its creation time and id, when the order has one:
    /// its accuracy, or for a run with nothing judged a value past every accuracy in the
    /// order's direction.
    pub fn key_of(self, run: &Run) -> Option<f64> {
        let unjudged = self.unjudged_key()?;
        let (correct, incorrect) = (run.counts.correct, run.counts.incorrect);
        let judged = correct + incorrect;
        Some(if judged > 0 {
            correct as f64 / judged as f64
        } else {
            unjudged
        })
    }
}

/// [`RunOrder::key_of`] in SQL, `unjudged` the key of a run with nothing judged. Both
/// backends divide IEEE doubles, as Rust does, so a key read back from a cursor compares equal
/// to the database's for the same run. (`DOUBLE PRECISION` is a `REAL` to SQLite.)
fn accuracy_key(unjudged: f64) -> SqlLiteral<Double> {
    diesel::dsl::sql::<Double>(&format!(
        "COALESCE(CAST(correct_count AS DOUBLE PRECISION) \
         / NULLIF(correct_count + incorrect_count, 0), {unjudged:.1})"
    ))
}

/// A `LIKE` pattern for names that contain `text`: its own `%`, `_` and `\` match themselves
/// (escaped with `\`). The database puts both it and the names in lower case, so that both
/// sides fold alike.
fn containing(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Position after the last run of a page: its key in the order ([`RunOrder::key_of`]), its
/// creation time and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCursor {
    /// The order's key of the last run returned, when the order has one.
    pub key: Option<f64>,
    /// Creation time of the last run returned.
    pub created_at: Timestamp,
    /// Id of the last run returned.
    pub id: RunId,
}

/// One page of the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs, in the filter's order.
    pub runs: Vec<Run>,
    /// Where the next page starts, when there is one.
    pub next: Option<RunCursor>,
    /// How many runs the filter selects in all, on the first page (the pages after it, which a
    /// cursor continues, do not count them again).
    pub total: Option<u64>,
}

/// The runs `$filter` selects, as a boxed query of `$select`.
macro_rules! filtered_runs {
    ($filter:expr, $select:expr) => {{
        let filter: &RunFilter = $filter;
        let mut query = runs::table.select($select).into_boxed();
        if !filter.statuses.is_empty() {
            let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            query = query.filter(runs::status.eq_any(statuses));
        }
        if let Some(provider) = &filter.provider_name {
            query = query.filter(runs::provider_name.eq(provider.clone()));
        }
        if let Some(dataset) = &filter.dataset_name {
            query = query.filter(runs::dataset_name.eq(dataset.clone()));
        }
        if let Some(model) = &filter.model_name {
            query = query.filter(runs::model_name.eq(model.clone()));
        }
        if let Some(from) = filter.created_from {
            query = query.filter(runs::created_at.ge(from.naive_utc()));
        }
        if let Some(before) = filter.created_before {
            query = query.filter(runs::created_at.lt(before.naive_utc()));
        }
        if let Some(text) = &filter.search {
            let pattern = || lower(containing(text).into_sql::<diesel::sql_types::Text>());
            query = query.filter(
                lower(runs::provider_name)
                    .like(pattern())
                    .escape('\\')
                    .or(lower(runs::model_name).like(pattern()).escape('\\'))
                    .or(lower(runs::dataset_name).like(pattern()).escape('\\')),
            );
        }
        query
    }};
}

impl Database {
    /// How many runs there are in each status, every status included (for metrics), waiting
    /// at most `wait` for a connection.
    pub fn count_runs_by_status(
        &self,
        wait: std::time::Duration,
    ) -> Result<Vec<(RunStatus, u64)>, StoreError> {
        let counted: Vec<(String, i64)> = self.read_within(wait, |conn| {
            Ok(runs::table
                .group_by(runs::status)
                .select((runs::status, diesel::dsl::count_star()))
                .load(conn)?)
        })?;
        RunStatus::ALL
            .into_iter()
            .map(|status| {
                let n = counted
                    .iter()
                    .find(|(s, _)| s == status.as_str())
                    .map_or(0, |(_, n)| *n);
                Ok((status, u64::try_from(n).map_err(StoreError::corrupt)?))
            })
            .collect()
    }

    /// Runs matching `filter`, in its order, after `cursor`, at most `limit`.
    pub fn list_runs(
        &self,
        filter: &RunFilter,
        cursor: Option<&RunCursor>,
        limit: u32,
    ) -> Result<RunPage, StoreError> {
        self.read(|conn| {
            let mut query = filtered_runs!(filter, RunRow::as_select());
            let order = filter.order;
            // The accuracy key in SQL (read by the orders by accuracy only).
            let accuracy = || accuracy_key(order.unjudged_key().unwrap_or_default());
            query = match order {
                RunOrder::Newest => query.order((runs::created_at.desc(), runs::id.desc())),
                RunOrder::Oldest => query.order((runs::created_at.asc(), runs::id.asc())),
                RunOrder::MostAccurate => {
                    query.order((accuracy().desc(), runs::created_at.desc(), runs::id.desc()))
                }
                RunOrder::LeastAccurate => {
                    query.order((accuracy().asc(), runs::created_at.desc(), runs::id.desc()))
                }
            };
            if let Some(cursor) = cursor {
                let at = cursor.created_at.naive_utc();
                let id = cursor.id.to_string();
                // After the cursor's run among runs of its key: older, or as old with a
                // smaller id (newer and larger for `Oldest`).
                let newest_first = runs::created_at
                    .lt(at)
                    .or(runs::created_at.eq(at).and(runs::id.lt(id.clone())));
                query =
                    match (order, cursor.key) {
                        (RunOrder::Newest, _) => query.filter(newest_first),
                        (RunOrder::Oldest, _) => query.filter(
                            runs::created_at
                                .gt(at)
                                .or(runs::created_at.eq(at).and(runs::id.gt(id))),
                        ),
                        (RunOrder::MostAccurate, Some(key)) => query
                            .filter(accuracy().lt(key).or(accuracy().eq(key).and(newest_first))),
                        (RunOrder::LeastAccurate, Some(key)) => query
                            .filter(accuracy().gt(key).or(accuracy().eq(key).and(newest_first))),
                        (RunOrder::MostAccurate | RunOrder::LeastAccurate, None) => {
                            return Err(StoreError::invalid(
                                "cursor",
                                "a cursor of an order by accuracy holds the last run's accuracy",
                            ));
                        }
                    };
            }
            // One extra row tells whether another page follows.
            let mut rows: Vec<RunRow> = query.limit(i64::from(limit) + 1).load(conn)?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let runs = rows
                .into_iter()
                .map(RunRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            let next = if more {
                runs.last().map(|run| RunCursor {
                    key: order.key_of(run),
                    created_at: run.created_at,
                    id: run.id.clone(),
                })
            } else {
                None
            };
            // Counted on the first page only: a client pages on from it, and an archive of
            // many runs is not counted again for each page.
            let total = match (cursor, &next) {
                (Some(_), _) => None,
                (None, None) => Some(runs.len() as u64),
                (None, Some(_)) => {
                    let counted: i64 =
                        filtered_runs!(filter, diesel::dsl::count_star()).first(conn)?;
                    Some(u64::try_from(counted).map_err(StoreError::corrupt)?)
                }
            };
            Ok(RunPage { runs, next, total })
        })
    }
}
