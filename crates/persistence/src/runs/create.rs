//! Creating a run: its row, one item per selected dataset item, the first log entry and event,
//! and the idempotency key, all in one transaction.

use chrono::NaiveDateTime;
use diesel::{
    prelude::*,
    sql_types::{self, Array, Integer, Text},
};
use evalboard_domain::{
    AnswerKind, Fingerprint, ItemState, Run, RunId, RunSettings, RunStatus, ShotsSource, Timestamp,
    ValidationErrors, prompt_template,
};

use super::{RunRow, load_row};
use crate::{
    connection::DbConnection,
    database::Database,
    datasets::{DatasetRow, item_keys, latest_row},
    error::StoreError,
    events,
    logs::{self, LogLevel},
    schema::idempotency_keys,
};

/// What a client asked for when creating a run. Provider and model have already been checked
/// against the configuration; the dataset and the selection are checked here, against the
/// stored data, in the same transaction that creates the run.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Provider name, as configured.
    pub provider_name: &'a str,
    /// Model name, as configured for that provider.
    pub model_name: &'a str,
    /// Name of the dataset.
    pub dataset_name: &'a str,
    /// The dataset's version to evaluate (`None`: its newest).
    pub dataset_version: Option<u32>,
    /// Validated settings, in force.
    pub settings: &'a RunSettings,
    /// How the provider is reached, for the run's fingerprint (`None`: not known to the
    /// caller; the run gets no fingerprint).
    pub provider: Option<ProviderIdentity<'a>>,
    /// Makes a repeated request return the run the first one created.
    pub idempotency: Option<IdempotencyKey<'a>>,
    /// The token that asked for it, for the run log (`None`: a server that needs no token).
    pub requested_by: Option<&'a str>,
    /// Creation time.
    pub at: Timestamp,
}

/// How a run's provider is reached, as far as its results depend on it.
#[derive(Debug, Clone, Copy)]
pub struct ProviderIdentity<'a> {
    /// The provider's kind (`openai-compatible`, `anthropic`, `simulated`, ...).
    pub kind: &'a str,
    /// Its base URL (credentials are removed before it is recorded).
    pub base_url: Option<&'a str>,
}

/// A client's `Idempotency-Key` with a fingerprint of the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyKey<'a> {
    /// The key as the client sent it.
    pub key: &'a str,
    /// A hash of the request; the same key with a different request is a conflict.
    pub request_hash: &'a str,
}

/// The outcome of [`Database::create_run`].
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedRun {
    /// The run.
    pub run: Run,
    /// `true` when the idempotency key had been seen: the run is the one created back then.
    pub replayed: bool,
}

#[derive(Insertable)]
#[diesel(table_name = idempotency_keys)]
struct NewIdempotencyRow<'a> {
    key: &'a str,
    request_hash: &'a str,
    run_id: &'a str,
    created_at: NaiveDateTime,
}

impl Database {
    /// Creates a run with one `pending` item per selected dataset item. Nothing is written when
    /// the dataset is unknown or the selection is invalid ([`StoreError::Invalid`]), or when the
    /// idempotency key was used for a different request ([`StoreError::Conflict`]).
    pub fn create_run(&self, new: NewRun<'_>) -> Result<CreatedRun, StoreError> {
        // Without a key, nothing unique is written that another request could race for.
        if new.idempotency.is_none() {
            return self.write(|conn| create_in(conn, &new));
        }
        self.write_or_replay(
            |conn| create_in(conn, &new),
            |conn| replay(conn, new.idempotency.as_ref()),
            "idempotency key race",
        )
    }
}

impl Database {
    /// What [`Database::create_run`] would refuse about the dataset, the selection and the
    /// worked examples of a new run, without writing anything: so that a request with other problems too can be told
    /// about all of them at once. Empty when both are fine (as of now).
    pub fn check_run_target(
        &self,
        dataset_name: &str,
        dataset_version: Option<u32>,
        settings: &RunSettings,
    ) -> Result<ValidationErrors, StoreError> {
        self.read(|conn| {
            let target = match target_of(conn, dataset_name, dataset_version, settings)? {
                Ok(target) => target,
                Err(errors) => return Ok(errors),
            };
            // The worked examples too, as creating the run would check them.
            let kind = crate::datasets::dataset_kind(conn, target.dataset.id.as_str())?;
            let settings = match with_shots_source(conn, settings, kind)? {
                Ok(settings) => settings,
                Err(errors) => return Ok(errors),
            };
            short_of_examples(
                conn,
                &settings,
                dataset_name,
                &target.dataset,
                &target.keys,
                &target.chosen,
            )
        })
    }
}

/// The items a new run takes.
struct Target {
    /// The version of the dataset it evaluates.
    dataset: DatasetRow,
    /// `(position, item id, category)` of each of its items.
    keys: Vec<(i32, String, String)>,
    /// Indices into `keys` of the selected items, in dataset order.
    chosen: Vec<usize>,
}

/// The items a new run takes (of `version` of the dataset, else of its newest), or what is
/// wrong with its dataset name, version or selection.
fn target_of(
    conn: &mut DbConnection,
    dataset_name: &str,
    version: Option<u32>,
    settings: &RunSettings,
) -> Result<Result<Target, ValidationErrors>, StoreError> {
    let Some(dataset) = crate::datasets::version_row(conn, dataset_name, version)? else {
        let mut errors = ValidationErrors::default();
        match (version, latest_row(conn, dataset_name)?) {
            (Some(version), Some(newest)) => errors.push(
                "datasetVersion",
                format!(
                    "dataset `{dataset_name}` has no version {version} (its versions are 1 to {})",
                    newest.version
                ),
            ),
            _ => errors.push(
                "datasetName",
                crate::datasets::no_dataset_named(conn, dataset_name)?,
            ),
        }
        return Ok(Err(errors));
    };
    let keys = item_keys(conn, dataset.id.as_str())?;
    let chosen = settings.selection.apply(
        "settings.selection",
        keys.iter()
            .map(|(_, id, category)| (id.as_str(), category.as_str())),
    );
    Ok(chosen.map(|chosen| Target {
        dataset,
        keys,
        chosen,
    }))
}

/// `settings` with the version of the dataset its worked examples come from fixed (the newest
/// unless it names one), or what is wrong with that dataset: missing, or of another kind of
/// items than the run's (`kind`).
fn with_shots_source(
    conn: &mut DbConnection,
    settings: &RunSettings,
    kind: AnswerKind,
) -> Result<Result<RunSettings, ValidationErrors>, StoreError> {
    let Some(source) = &settings.shots_from else {
        return Ok(Ok(settings.clone()));
    };
    let mut errors = ValidationErrors::default();
    match crate::datasets::version_row(conn, &source.dataset_name, source.version)? {
        None => match source.version {
            Some(version) if crate::datasets::latest_row(conn, &source.dataset_name)?.is_some() => {
                errors.push(
                    "settings.shotsFrom.version",
                    format!("dataset `{}` has no version {version}", source.dataset_name),
                );
            }
            _ => errors.push(
                "settings.shotsFrom.datasetName",
                crate::datasets::no_dataset_named(conn, &source.dataset_name)?,
            ),
        },
        Some(row) => {
            let theirs = crate::datasets::dataset_kind(conn, row.id.as_str())?;
            if theirs != kind {
                errors.push(
                    "settings.shotsFrom.datasetName",
                    format!(
                        "`{}` holds {} items and the run's dataset {} ones",
                        source.dataset_name,
                        theirs.as_str(),
                        kind.as_str()
                    ),
                );
            } else {
                let mut settings = settings.clone();
                settings.shots_from = Some(ShotsSource {
                    dataset_name: source.dataset_name.clone(),
                    version: Some(row.version as u32),
                });
                return Ok(Ok(settings));
            }
        }
    }
    Ok(Err(errors))
}

/// The worked examples a run asks for that it would not get: a category of its items with
/// fewer than `shots` examples to draw from (its own dataset's, or `shotsFrom`'s with its
/// version fixed) would have those items asked with fewer than the run records — a "5-shot"
/// score partly zero-shot. Empty when every item gets them all.
fn short_of_examples(
    conn: &mut DbConnection,
    settings: &RunSettings,
    dataset_name: &str,
    dataset: &DatasetRow,
    keys: &[(i32, String, String)],
    chosen: &[usize],
) -> Result<ValidationErrors, StoreError> {
    let mut errors = ValidationErrors::default();
    let shots = settings.shots.unwrap_or(0) as usize;
    if shots == 0 {
        return Ok(errors);
    }
    let source = match &settings.shots_from {
        Some(from) => match crate::datasets::version_row(conn, &from.dataset_name, from.version)? {
            Some(row) if row.id != dataset.id => Some((from.dataset_name.as_str(), row.id)),
            _ => None,
        },
        None => None,
    };
    let source_keys;
    let (source_name, candidates, needed) = match &source {
        Some((name, id)) => {
            source_keys = item_keys(conn, id.as_str())?;
            (*name, source_keys.as_slice(), shots)
        }
        // An item is never its own example: its category needs one more.
        None => (dataset_name, keys, shots + 1),
    };
    let mut available: std::collections::BTreeMap<&str, usize> = chosen
        .iter()
        .map(|&index| (keys[index].2.as_str(), 0))
        .collect();
    for (_, _, category) in candidates {
        if let Some(count) = available.get_mut(category.as_str()) {
            *count += 1;
        }
    }
    let short: Vec<String> = available
        .iter()
        .filter(|(_, count)| **count < needed)
        .map(|(category, count)| match count {
            0 => format!("`{category}` (none)"),
            n => format!("`{category}` ({n})"),
        })
        .collect();
    if short.is_empty() {
        return Ok(errors);
    }
    let shown = short.len().min(5);
    let more = match short.len() - shown {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let own = if source.is_none() {
        " (the run's own dataset: an item is never its own example)"
    } else {
        ""
    };
    errors.push(
        "settings.shots",
        format!(
            "{shots} worked examples per item need {needed} items of each of the run's \
             categories in `{source_name}`{own}; too few in {}{more}: ask for fewer, or draw \
             them from a dataset with more (`shotsFrom`)",
            short[..shown].join(", ")
        ),
    );
    Ok(errors)
}

/// Where a new run's items come from and where they go.
pub(super) struct RunOrigin<'a> {
    pub(super) provider_name: &'a str,
    pub(super) model_name: &'a str,
    pub(super) dataset_name: &'a str,
    pub(super) dataset: &'a DatasetRow,
    pub(super) settings: &'a RunSettings,
    /// The template its prompts are rendered with, for the fingerprint.
    pub(super) prompt_template: &'a str,
    /// How the provider is reached, for the fingerprint (none without it).
    pub(super) provider: Option<ProviderIdentity<'a>>,
}

/// The row of a new `pending` run of `item_count` items, all counted `pending`.
pub(super) fn new_run_row(
    id: &RunId,
    origin: RunOrigin<'_>,
    item_count: usize,
    at: Timestamp,
) -> Result<RunRow, StoreError> {
    let at = at.naive_utc();
    let fingerprint = origin
        .provider
        .map(|provider| {
            let fingerprint = Fingerprint::new(
                origin.settings,
                &origin.dataset.digest,
                origin.prompt_template,
                origin.model_name,
                provider.kind,
                provider.base_url,
            );
            serde_json::to_string(&fingerprint)
        })
        .transpose()
        .map_err(StoreError::corrupt)?;
    Ok(RunRow {
        id: id.to_string(),
        provider_name: origin.provider_name.to_owned(),
        dataset_name: origin.dataset_name.to_owned(),
        dataset_id: origin.dataset.id.clone(),
        dataset_version: origin.dataset.version,
        dataset_digest: origin.dataset.digest.clone(),
        model_name: origin.model_name.to_owned(),
        status: RunStatus::Pending.as_str().to_owned(),
        settings: serde_json::to_string(origin.settings).map_err(StoreError::corrupt)?,
        pending_count: item_count as i64,
        running_count: 0,
        awaiting_count: 0,
        correct_count: 0,
        incorrect_count: 0,
        failed_count: 0,
        canceled_count: 0,
        resumed_count: 0,
        last_resumed_at: None,
        cancel_requested_at: None,
        created_at: at,
        started_at: None,
        finished_at: None,
        updated_at: at,
        retry_count: 0,
        error_kind: None,
        error_message: None,
        usage: None,
        latency: None,
        fingerprint,
        rejudge_count: 0,
        rejudging: false,
        unparsed_count: 0,
        cut_off_count: 0,
        judge_fallback_count: 0,
        judging_round: 0,
    })
}

fn replay(
    conn: &mut DbConnection,
    idempotency: Option<&IdempotencyKey<'_>>,
) -> Result<Option<CreatedRun>, StoreError> {
    let Some(idempotency) = idempotency else {
        return Ok(None);
    };
    let stored: Option<(String, String)> = idempotency_keys::table
        .find(idempotency.key)
        .select((idempotency_keys::request_hash, idempotency_keys::run_id))
        .first(conn)
        .optional()?;
    let Some((request_hash, run_id)) = stored else {
        return Ok(None);
    };
    if request_hash != idempotency.request_hash {
        return Err(StoreError::Conflict(
            "this Idempotency-Key was already used with a different request".into(),
        ));
    }
    let run_id = RunId::parse(&run_id).map_err(StoreError::corrupt)?;
    Ok(Some(CreatedRun {
        run: load_row(conn, &run_id, false)?.into_domain()?,
        replayed: true,
    }))
}

fn create_in(conn: &mut DbConnection, new: &NewRun<'_>) -> Result<CreatedRun, StoreError> {
    if let Some(existing) = replay(conn, new.idempotency.as_ref())? {
        return Ok(existing);
    }
    let Target {
        dataset,
        keys,
        chosen,
    } = target_of(conn, new.dataset_name, new.dataset_version, new.settings)?
        .map_err(StoreError::Invalid)?;
    let kind = crate::datasets::dataset_kind(conn, dataset.id.as_str())?;
    let settings = with_shots_source(conn, new.settings, kind)?.map_err(StoreError::Invalid)?;
    short_of_examples(conn, &settings, new.dataset_name, &dataset, &keys, &chosen)?
        .into_result()
        .map_err(StoreError::Invalid)?;

    let id = RunId::generate();
    let at = new.at.naive_utc();
    let row = new_run_row(
        &id,
        RunOrigin {
            provider_name: new.provider_name,
            model_name: new.model_name,
            dataset_name: new.dataset_name,
            dataset: &dataset,
            settings: &settings,
            prompt_template: prompt_template(kind),
            provider: new.provider,
        },
        chosen.len(),
        new.at,
    )?;
    diesel::insert_into(crate::schema::runs::table)
        .values(&row)
        .execute(conn)?;

    let positions: Vec<i32> = chosen.iter().map(|&key| keys[key].0).collect();
    insert_pending_items(conn, &row.id, dataset.id.as_str(), &positions, at)?;

    logs::append(
        conn,
        &id,
        None,
        LogLevel::Info,
        &format!(
            "run created{}: {} item(s) of dataset `{}` version {} ({}) for model `{}` of provider `{}`",
            logs::requested_by(new.requested_by),
            chosen.len(),
            new.dataset_name,
            dataset.version,
            dataset.digest,
            new.model_name,
            new.provider_name
        ),
        new.at,
    )?;
    events::status(conn, &id, None, new.at)?;
    events::progress(&id, &row.counts()?, new.at)?;
    if let Some(idempotency) = &new.idempotency {
        diesel::insert_into(idempotency_keys::table)
            .values(NewIdempotencyRow {
                key: idempotency.key,
                request_hash: idempotency.request_hash,
                run_id: &row.id,
                created_at: at,
            })
            .execute(conn)?;
    }
    Ok(CreatedRun {
        run: row.into_domain()?,
        replayed: false,
    })
}

/// The columns [`insert_pending_items`] writes, on either backend.
macro_rules! insert_pending_items {
    () => {
        "INSERT INTO run_items (run_id, sequence, dataset_id, dataset_position, state, \
         attempt_count, queued_at, updated_at) "
    };
}

/// A new run's items, `pending`, item `n` (from 1) at dataset position `positions[n - 1]`: one
/// statement whatever the run's size, the positions bound as one value (an array on
/// PostgreSQL, a JSON array on SQLite) instead of eight parameters per row. A multi-row
/// `INSERT … VALUES` of 20,000 items was ten statements of 16,000 parameters each, every one
/// parsed anew.
fn insert_pending_items(
    conn: &mut DbConnection,
    run_id: &str,
    dataset_id: &str,
    positions: &[i32],
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query(concat!(
                insert_pending_items!(),
                "SELECT $1, p.sequence::int4, $2, p.position, $3, 0, $4, $4 \
                 FROM UNNEST($5::int4[]) WITH ORDINALITY AS p(position, sequence)"
            ))
            .bind::<Text, _>(run_id)
            .bind::<Text, _>(dataset_id)
            .bind::<Text, _>(ItemState::Pending.as_str())
            .bind::<sql_types::Timestamp, _>(at)
            .bind::<Array<Integer>, _>(positions)
            .execute(pg)?;
        }
        DbConnection::Sqlite(lite) => {
            let positions = serde_json::to_string(positions).map_err(StoreError::corrupt)?;
            diesel::sql_query(concat!(
                insert_pending_items!(),
                "SELECT ?1, p.key + 1, ?2, p.value, ?3, 0, ?4, ?4 FROM json_each(?5) AS p"
            ))
            .bind::<Text, _>(run_id)
            .bind::<Text, _>(dataset_id)
            .bind::<Text, _>(ItemState::Pending.as_str())
            .bind::<sql_types::Timestamp, _>(at)
            .bind::<Text, _>(positions)
            .execute(lite)?;
        }
    }
    Ok(())
}
