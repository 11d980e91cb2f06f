//! Datasets and their items: versioned import, listing, lookup by name.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    AnswerKind, CategoryCount, Dataset, DatasetId, DatasetItem, DatasetName, ItemAnswer, Timestamp,
    dataset_digest,
};

use crate::{
    connection::{DbConnection, on_backend},
    database::Database,
    error::StoreError,
    schema::{dataset_items, datasets},
};

/// Rows per multi-row INSERT: well under SQLite's and PostgreSQL's bind-parameter limits.
const INSERT_CHUNK: usize = 1_000;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = datasets)]
pub(crate) struct DatasetRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) version: i32,
    pub(crate) digest: String,
    pub(crate) item_count: i64,
    pub(crate) created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = dataset_items, treat_none_as_default_value = false)]
struct NewDatasetItemRow<'a> {
    dataset_id: &'a str,
    position: i32,
    item_id: &'a str,
    category: &'a str,
    question: &'a str,
    choices: String,
    answer: String,
    explanation: Option<&'a str>,
    source: Option<&'a str>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = dataset_items)]
pub(crate) struct DatasetItemRow {
    pub(crate) item_id: String,
    pub(crate) category: String,
    pub(crate) question: String,
    pub(crate) choices: String,
    pub(crate) answer: String,
    pub(crate) explanation: Option<String>,
    pub(crate) source: Option<String>,
}

impl DatasetItemRow {
    pub(crate) fn choices(&self) -> Result<Vec<String>, StoreError> {
        serde_json::from_str(&self.choices)
            .map_err(|e| StoreError::corrupt(format!("choices of item {}: {e}", self.item_id)))
    }

    pub(crate) fn into_domain(self) -> Result<DatasetItem, StoreError> {
        let choices = self.choices()?;
        let answer = ItemAnswer::of_item(&choices, &self.answer)
            .ok_or_else(|| StoreError::corrupt(format!("answer of item {}", self.item_id)))?;
        Ok(DatasetItem {
            id: self.item_id,
            category: self.category,
            question: self.question,
            choices,
            answer,
            explanation: self.explanation,
            source: self.source,
        })
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedDataset {
    /// The stored version.
    pub dataset: Dataset,
    /// `false` when the newest version under that name already had exactly these items, in
    /// which case nothing was written.
    pub created: bool,
    /// The version the stored one follows under its name (new runs of the name take the new
    /// one), when one was created and there was one before.
    pub replaced: Option<ReplacedVersion>,
}

/// A dataset version an import put another after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplacedVersion {
    /// Its version number.
    pub version: u32,
    /// How many items it has.
    pub item_count: u64,
}

/// Input of an import: a valid name and items that passed the importers' checks.
#[derive(Debug, Clone)]
pub struct DatasetImport<'a> {
    /// Name to store the items under.
    pub name: &'a DatasetName,
    /// The items, in dataset order.
    pub items: &'a [DatasetItem],
    /// Time of the import.
    pub at: Timestamp,
}

impl Database {
    /// Stores `items` as a new version of dataset `name`, in one transaction. Importing the
    /// same content again returns the existing version instead of making another.
    pub fn import_dataset(&self, import: DatasetImport<'_>) -> Result<ImportedDataset, StoreError> {
        let digest = dataset_digest(import.items);
        self.write(|conn| {
            lock_dataset_name(conn, import.name.as_str())?;
            let latest = latest_row(conn, import.name.as_str())?;
            if let Some(latest) = latest.as_ref().filter(|row| row.digest == digest) {
                let dataset = load_dataset(conn, latest)?;
                return Ok(ImportedDataset {
                    dataset,
                    created: false,
                    replaced: None,
                });
            }
            let replaced = match &latest {
                Some(row) => Some(ReplacedVersion {
                    version: u32::try_from(row.version).map_err(StoreError::corrupt)?,
                    item_count: u64::try_from(row.item_count).map_err(StoreError::corrupt)?,
                }),
                None => None,
            };
            let row = DatasetRow {
                id: DatasetId::generate().to_string(),
                name: import.name.to_string(),
                version: latest.map_or(1, |row| row.version + 1),
                digest,
                item_count: import.items.len() as i64,
                created_at: import.at.naive_utc(),
            };
            diesel::insert_into(datasets::table)
                .values(&row)
                .execute(conn)?;
            insert_items(conn, &row.id, import.items)?;
            Ok(ImportedDataset {
                dataset: load_dataset(conn, &row)?,
                created: true,
                replaced,
            })
        })
    }

    /// The newest version of every dataset, by name as a reader sorts it: letters' case
    /// ignored (`evalboard-demo` before `MMLU-Pro`), then byte order between names differing
    /// in case only. Sorted here, not by the database, whose collation differs between SQLite
    /// (bytes) and a PostgreSQL cluster's locale.
    pub fn list_datasets(&self) -> Result<Vec<Dataset>, StoreError> {
        self.read(|conn| {
            let rows: Vec<DatasetRow> = datasets::table
                .order((datasets::name.asc(), datasets::version.desc()))
                .select(DatasetRow::as_select())
                .load(conn)?;
            let mut newest: Vec<DatasetRow> = Vec::new();
            for row in rows {
                if newest.last().is_none_or(|last| last.name != row.name) {
                    newest.push(row);
                }
            }
            newest.sort_by_cached_key(|row| (row.name.to_lowercase(), row.name.clone()));
            let ids: Vec<&str> = newest.iter().map(|r| r.id.as_str()).collect();
            let mut categories = category_counts(conn, &ids)?;
            newest
                .into_iter()
                .map(|row| {
                    let cats = categories.remove(&row.id).unwrap_or_default();
                    into_dataset(&row, cats)
                })
                .collect()
        })
    }

    /// The newest version of dataset `name`, if there is one.
    pub fn find_dataset(&self, name: &str) -> Result<Option<Dataset>, StoreError> {
        self.read(|conn| match latest_row(conn, name)? {
            Some(row) => load_dataset(conn, &row).map(Some),
            None => Ok(None),
        })
    }

    /// Every item of one dataset version, in dataset order.
    pub fn dataset_items(&self, id: &DatasetId) -> Result<Vec<DatasetItem>, StoreError> {
        self.read(|conn| {
            dataset_items::table
                .filter(dataset_items::dataset_id.eq(id.as_str()))
                .order(dataset_items::position.asc())
                .select(DatasetItemRow::as_select())
                .load(conn)?
                .into_iter()
                .map(DatasetItemRow::into_domain)
                .collect()
        })
    }
}

/// Makes concurrent imports under one name take turns, so that two of them never pick the same
/// next version (replicas importing the demo dataset at start, clients uploading at once). On
/// PostgreSQL a transaction-scoped advisory lock keyed by the name; SQLite's write transactions
/// are already serial.
fn lock_dataset_name(conn: &mut DbConnection, name: &str) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))::text AS locked")
            .bind::<diesel::sql_types::Text, _>(name)
            .execute(pg)?;
    }
    Ok(())
}

pub(crate) fn latest_row(
    conn: &mut DbConnection,
    name: &str,
) -> Result<Option<DatasetRow>, StoreError> {
    Ok(datasets::table
        .filter(datasets::name.eq(name))
        .order(datasets::version.desc())
        .select(DatasetRow::as_select())
        .first(conn)
        .optional()?)
}

impl Database {
    /// `no dataset is named `name``, with the names there are (the first ten, and how many
    /// more), for a request that named a dataset that is not there.
    pub fn no_dataset_named(&self, name: &str) -> Result<String, StoreError> {
        self.read(|conn| no_dataset_named(conn, name))
    }
}

/// `no dataset is named `name``, with the names there are (the first ten by name, and how many
/// more): a misspelt or miscased name is then seen at once.
pub(crate) fn no_dataset_named(conn: &mut DbConnection, name: &str) -> Result<String, StoreError> {
    const SHOWN: i64 = 10;
    let names: Vec<String> = datasets::table
        .select(datasets::name)
        .distinct()
        .order(datasets::name)
        .limit(SHOWN)
        .load(conn)?;
    let all: i64 = datasets::table
        .select(diesel::dsl::count(datasets::name).aggregate_distinct())
        .first(conn)?;
    let more = (all - names.len() as i64).max(0);
    let there = match (names.is_empty(), more) {
        (true, _) => {
            " (there is none yet: `evalboard dataset import` or the Datasets page adds one)"
                .to_owned()
        }
        (false, 0) => format!(" (the datasets: {})", names.join(", ")),
        (false, more) => format!(
            " (the datasets: {}, and {more} more: `GET /datasets` lists them)",
            names.join(", ")
        ),
    };
    Ok(format!("no dataset is named `{name}`{there}"))
}

/// The row of version `version` of the dataset `name`, or of its newest version.
pub(crate) fn version_row(
    conn: &mut DbConnection,
    name: &str,
    version: Option<u32>,
) -> Result<Option<DatasetRow>, StoreError> {
    let Some(version) = version else {
        return latest_row(conn, name);
    };
    Ok(datasets::table
        .filter(datasets::name.eq(name))
        .filter(datasets::version.eq(i32::try_from(version).unwrap_or(i32::MAX)))
        .select(DatasetRow::as_select())
        .first(conn)
        .optional()?)
}

/// `(position, item id, category)` of every item of a dataset version, in order: what item
/// selection needs, without the text.
pub(crate) fn item_keys(
    conn: &mut DbConnection,
    dataset_id: &str,
) -> Result<Vec<(i32, String, String)>, StoreError> {
    Ok(dataset_items::table
        .filter(dataset_items::dataset_id.eq(dataset_id))
        .order(dataset_items::position.asc())
        .select((
            dataset_items::position,
            dataset_items::item_id,
            dataset_items::category,
        ))
        .load(conn)?)
}

/// The kind of a dataset's items (one kind per dataset): numeric when its first item has no
/// options.
pub(crate) fn dataset_kind(
    conn: &mut DbConnection,
    dataset_id: &str,
) -> Result<AnswerKind, StoreError> {
    let choices: Option<String> = dataset_items::table
        .filter(dataset_items::dataset_id.eq(dataset_id))
        .order(dataset_items::position.asc())
        .select(dataset_items::choices)
        .first(conn)
        .optional()?;
    Ok(match choices.as_deref() {
        Some("[]") => AnswerKind::Number,
        _ => AnswerKind::Choice,
    })
}

fn insert_items(
    conn: &mut DbConnection,
    dataset_id: &str,
    items: &[DatasetItem],
) -> Result<(), StoreError> {
    for (chunk_index, chunk) in items.chunks(INSERT_CHUNK).enumerate() {
        let rows: Vec<NewDatasetItemRow<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, item)| NewDatasetItemRow {
                dataset_id,
                position: (chunk_index * INSERT_CHUNK + i) as i32,
                item_id: &item.id,
                category: &item.category,
                question: &item.question,
                choices: serde_json::to_string(&item.choices).unwrap_or_default(),
                answer: item.answer.text(),
                explanation: item.explanation.as_deref(),
                source: item.source.as_deref(),
            })
            .collect();
        on_backend!(conn, |c| diesel::insert_into(dataset_items::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(())
}

fn load_dataset(conn: &mut DbConnection, row: &DatasetRow) -> Result<Dataset, StoreError> {
    let mut categories = category_counts(conn, &[row.id.as_str()])?;
    let cats = categories.remove(&row.id).unwrap_or_default();
    into_dataset(row, cats)
}

fn category_counts(
    conn: &mut DbConnection,
    dataset_ids: &[&str],
) -> Result<BTreeMap<String, Vec<CategoryCount>>, StoreError> {
    let rows: Vec<(String, String, i64)> = dataset_items::table
        .filter(dataset_items::dataset_id.eq_any(dataset_ids))
        .group_by((dataset_items::dataset_id, dataset_items::category))
        .select((
            dataset_items::dataset_id,
            dataset_items::category,
            diesel::dsl::count_star(),
        ))
        .order((dataset_items::dataset_id, dataset_items::category))
        .load(conn)?;
    let mut by_dataset: BTreeMap<String, Vec<CategoryCount>> = BTreeMap::new();
    for (dataset_id, name, items) in rows {
        by_dataset
            .entry(dataset_id)
            .or_default()
            .push(CategoryCount {
                name,
                items: items as u64,
            });
    }
    Ok(by_dataset)
}

fn into_dataset(row: &DatasetRow, categories: Vec<CategoryCount>) -> Result<Dataset, StoreError> {
    Ok(Dataset {
        id: DatasetId::parse(&row.id).map_err(StoreError::corrupt)?,
        name: row.name.clone(),
        version: u32::try_from(row.version).map_err(StoreError::corrupt)?,
        digest: row.digest.clone(),
        item_count: u64::try_from(row.item_count).map_err(StoreError::corrupt)?,
        categories,
        created_at: row.created_at.and_utc(),
    })
}
