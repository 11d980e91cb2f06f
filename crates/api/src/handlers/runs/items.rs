//! `GET /runs/{run_id}/items`: the run's items, grouped, filtered and paged, with everything
//! recorded about each.

use actix_web::{get, web};
use evalboard_domain::{ItemState, RunId};
use evalboard_persistence::{ItemGrouping, ItemQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::run_id;
use crate::{
    dto::{ItemDetailDto, ItemGroupDto, ItemPageDto},
    error::{ApiError, Problem},
    params::{bounded_int, is_name, shorten},
    state::AppState,
};

/// Most sequences one `sequence` filter names.
const MAX_SEQUENCES: usize = 200;

/// Query of `GET /runs/{run_id}/items`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ItemsQuery {
    /// `category` (default), `state` or `none`.
    #[param(pattern = "^(category|state|none)$")]
    group_by: Option<String>,
    /// Comma-separated item states, e.g. `failed,canceled`.
    #[param(
        pattern = "^(pending|running|awaiting|correct|incorrect|failed|canceled)(,(pending|running|awaiting|correct|incorrect|failed|canceled))*$"
    )]
    state: Option<String>,
    /// Comma-separated categories, e.g. `law,math`: each 1 to 100 characters, no control
    /// characters, and the category of some item of the run (else 422, naming the run's).
    #[param(pattern = "^[^,\\x00-\\x1f\\x7f-\\x9f]{1,100}(,[^,\\x00-\\x1f\\x7f-\\x9f]{1,100})*$")]
    category: Option<String>,
    /// Comma-separated item sequences, e.g. `3,17` (1 to 200 of them, each 1 to 999999999):
    /// only those items.
    #[param(pattern = "^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8}){0,199}$")]
    sequence: Option<String>,
    /// One dataset item's id (`datasetItemId`, MMLU-Pro's `question_id`; 1 to 128 characters,
    /// no control characters): only the run's item of that id, found by what the comparison
    /// and the dataset name it by.
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,128}$")]
    dataset_item_id: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// Items of a run with their groups. Groups (by category, by state, or one group `all`) carry
/// counts and strict accuracy over every item matching the filters; items come a page at a
/// time, ordered by group key then sequence, each with prompt, choices, expected answer,
/// response, extracted answer and rule, verdicts, attempts, error, timings and token usage.
#[utoipa::path(
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id"), ItemsQuery),
    responses(
        (status = 200, description = "Groups and a page of items", body = ItemPageDto),
        (status = 400, description = "A parameter is malformed or out of range", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cursor` is not one this server issued for this listing, or `category` names a category none of the run's items is in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{run_id}/items")]
pub(crate) async fn list_run_items(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ItemsQuery>,
) -> Result<web::Json<ItemPageDto>, ApiError> {
    let id = run_id(&path)?;
    let query = query.into_inner();
    let group_by = match query.group_by.as_deref().unwrap_or("category") {
        "category" => ItemGrouping::Category,
        "state" => ItemGrouping::State,
        "none" => ItemGrouping::None,
        other => {
            return Err(ApiError::bad_parameter(
                "groupBy",
                format!("must be category, state or none, got `{}`", shorten(other)),
            ));
        }
    };
    let states = item_states(query.state.as_deref())?;
    let categories = item_categories(query.category.as_deref())?;
    categories_of_run(&state, &id, &categories).await?;
    let sequences = match query.sequence.as_deref() {
        None => Vec::new(),
        Some(list) => {
            // Exactly the parameter's pattern: no signs, spaces or leading zeros.
            let sequence = |s: &str| {
                let digits = (1..=9).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && !s.starts_with('0');
                digits.then(|| s.parse::<u32>().ok()).flatten()
            };
            let parsed: Option<Vec<u32>> = list.split(',').map(sequence).collect();
            match parsed {
                Some(sequences) if sequences.len() <= MAX_SEQUENCES => sequences,
                _ => {
                    return Err(ApiError::bad_parameter(
                        "sequence",
                        format!(
                            "must be 1 to {MAX_SEQUENCES} comma-separated item sequences (1 to 999999999)"
                        ),
                    ));
                }
            }
        }
    };
    let item_ids: Vec<String> = match query.dataset_item_id {
        None => Vec::new(),
        Some(item_id) if is_name(&item_id, 128) => vec![item_id],
        Some(_) => {
            return Err(ApiError::bad_parameter(
                "datasetItemId",
                "must be a dataset item's id: 1 to 128 characters, without control characters",
            ));
        }
    };
    let limit = bounded_int("limit", query.limit.as_deref(), 1, 200, 50)?;
    let cursors = state.cursors().await?;
    // A cursor is a position in one listing: this run's items, grouped and filtered as here.
    // (The dataset item's id only when given: the cursors issued before it existed hold.)
    let mut scope = format!("{id}|{group_by:?}|{states:?}|{categories:?}|{sequences:?}");
    if !item_ids.is_empty() {
        scope.push_str(&format!("|{item_ids:?}"));
    }
    let after = query
        .cursor
        .as_deref()
        .map(|text| cursors.decode_item(&scope, text))
        .transpose()?;
    let item_query = ItemQuery {
        states,
        categories,
        sequences,
        item_ids,
        group_by,
        after,
        limit,
    };
    let page = state
        .with_db(move |db| db.run_items(&id, &item_query))
        .await?;
    Ok(web::Json(ItemPageDto {
        group_by: match group_by {
            ItemGrouping::Category => "category",
            ItemGrouping::State => "state",
            ItemGrouping::None => "none",
        }
        .to_owned(),
        groups: page.groups.into_iter().map(ItemGroupDto::from).collect(),
        items: page.items.into_iter().map(ItemDetailDto::from).collect(),
        next_cursor: page.next.as_ref().map(|c| cursors.encode_item(&scope, c)),
    }))
}

/// The `state` parameter of an item listing or export: comma-separated item states.
pub(super) fn item_states(list: Option<&str>) -> Result<Vec<ItemState>, ApiError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|s| {
            s.parse::<ItemState>().map_err(|_| {
                ApiError::bad_parameter(
                    "state",
                    format!(
                        "`{}` is not an item state (pending, running, awaiting, correct, incorrect, failed, canceled)",
                        shorten(s)
                    ),
                )
            })
        })
        .collect()
}

/// Whether `name` can be a category's: 1 to 100 characters, no control characters (as the
/// `category` parameters' patterns say).
pub(super) fn category_name(name: &str) -> bool {
    is_name(name, 100)
}

/// Refuses (422) a `category` filter that names a category none of the run's items is in,
/// naming the run's own: a miscased `Law` would otherwise list, or export, nothing without a
/// word. A 404 for an unknown run.
pub(super) async fn categories_of_run(
    state: &AppState,
    run: &RunId,
    named: &[String],
) -> Result<(), ApiError> {
    const LISTED: usize = 20;
    if named.is_empty() {
        return Ok(());
    }
    let run = run.clone();
    let theirs = state.with_db(move |db| db.run_categories(&run)).await?;
    let Some(unknown) = named.iter().find(|name| !theirs.contains(name)) else {
        return Ok(());
    };
    let listed = match theirs.len() {
        n if n <= LISTED => theirs.join(", "),
        n => format!("{} and {} more", theirs[..LISTED].join(", "), n - LISTED),
    };
    Err(ApiError::unprocessable_parameter(
        "category",
        format!(
            "no item of this run is in category `{}` (its categories: {listed})",
            shorten(unknown)
        ),
    ))
}

/// The `category` parameter of an item listing or export: comma-separated names, exactly as
/// sent (the parameter's pattern allows no trimming).
pub(super) fn item_categories(list: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = list.split(',').map(str::to_owned).collect();
    if !names.iter().all(|name| category_name(name)) {
        return Err(ApiError::bad_parameter(
            "category",
            "must be comma-separated names of 1 to 100 characters, without control characters",
        ));
    }
    Ok(names)
}
