//! `GET /runs`: the archive, filtered and paged.

use actix_web::{HttpResponse, get, web};
use evalboard_domain::RunStatus;
use evalboard_persistence::{RunFilter, RunOrder};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    csv_cells::write_row,
    dto::{RunDetailDto, RunPageDto},
    error::{ApiError, Problem},
    params::{bounded_int, shorten, text, timestamp, timestamp_schema},
    state::AppState,
    streaming::paged_body,
};

/// Query of `GET /runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListRunsQuery {
    /// Comma-separated statuses, e.g. `running,pending`.
    #[param(
        pattern = "^(pending|running|completed|failed|canceled)(,(pending|running|completed|failed|canceled))*$"
    )]
    status: Option<String>,
    /// Exact provider name.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    provider_name: Option<String>,
    /// Exact dataset name.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    dataset_name: Option<String>,
    /// Exact model name.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    model_name: Option<String>,
    /// Runs whose provider's, model's or dataset's name contains this text, ignoring case
    /// (`claude` finds `claude-sonnet-4`, `über` finds `ÜberQA`; on PostgreSQL, letters beyond
    /// ASCII only in a database of a UTF-8 locale).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    search: Option<String>,
    /// Runs created at or after this time ([`created_from_schema`]).
    #[param(schema_with = created_from_schema)]
    created_from: Option<String>,
    /// Runs created strictly before this time ([`created_before_schema`]).
    #[param(schema_with = created_before_schema)]
    created_before: Option<String>,
    /// The order of the runs: `-createdAt` (the newest first; the default), `createdAt` (the
    /// oldest first), `-accuracy` (the highest accuracy over the judged items first) or
    /// `accuracy` (the lowest first). Runs of one accuracy come newest first, and runs with
    /// nothing judged come last in either order by accuracy.
    #[param(pattern = "^-?(createdAt|accuracy)$")]
    sort: Option<String>,
    /// `nextCursor` of the previous page (of the same filters and `sort`).
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `csv`: every run the filters select, as one CSV file, instead of a page of JSON (no
    /// `cursor` or `limit` then).
    #[param(pattern = "^csv$")]
    format: Option<String>,
}

fn created_from_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    timestamp_schema(
        "Runs created at or after this RFC 3339 time, or the start (UTC) of this date.",
    )
}

fn created_before_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    timestamp_schema(
        "Runs created strictly before this RFC 3339 time, or before the start (UTC) of this \
         date.",
    )
}

/// Runs, newest first (or in the order `sort` names), filtered by status, provider, dataset,
/// model, part of a name and creation time, one page at a time; with `format=csv`, every selected
/// run as one CSV file, in the same order (a row per run: ids, names,
/// dataset version, status, progress counts, strict accuracy, times, retries, resumes, failure),
/// streamed, `Content-Disposition: attachment; filename="runs.csv"`.
#[utoipa::path(
    tag = "runs",
    params(ListRunsQuery),
    responses(
        (status = 200, description = "A page of runs (JSON), or every selected run (`format=csv`)", content(
            (RunPageDto = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is malformed or out of range", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cursor` is not one this server issued for this listing, or `cursor` or `limit` came with `format=csv`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs")]
pub(crate) async fn list_runs(
    state: web::Data<AppState>,
    query: web::Query<ListRunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut query = query.into_inner();
    match query.format.as_deref() {
        None => {}
        Some("csv") => return export_csv(&state, query),
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "format",
                format!("must be csv (or absent for JSON), got `{}`", shorten(other)),
            ));
        }
    }
    let limit = bounded_int("limit", query.limit.as_deref(), 1, 100, 20)?;
    let cursors = state.cursors().await?;
    let cursor_text = query.cursor.take();
    let filter = filter(query)?;
    // A cursor is a position in the runs these filters select.
    let scope = format!("{filter:?}");
    let cursor = cursor_text
        .as_deref()
        .map(|text| cursors.decode_run(&scope, filter.order, text))
        .transpose()?;
    let page = state
        .with_db(move |db| db.list_runs(&filter, cursor.as_ref(), limit))
        .await?;
    Ok(HttpResponse::Ok().json(RunPageDto {
        runs: page
            .runs
            .iter()
            .map(|run| RunDetailDto::new(run, state.is_simulated(run)))
            .collect(),
        next_cursor: page.next.as_ref().map(|c| cursors.encode_run(&scope, c)),
        total: page.total,
    }))
}

fn filter(query: ListRunsQuery) -> Result<RunFilter, ApiError> {
    Ok(RunFilter {
        statuses: statuses(query.status.as_deref())?,
        provider_name: text("providerName", query.provider_name)?,
        dataset_name: text("datasetName", query.dataset_name)?,
        model_name: text("modelName", query.model_name)?,
        created_from: timestamp("createdFrom", query.created_from.as_deref())?,
        created_before: timestamp("createdBefore", query.created_before.as_deref())?,
        search: text("search", query.search)?,
        order: order(query.sort.as_deref())?,
    })
}

/// The order `sort` names (see [`ListRunsQuery::sort`]).
fn order(sort: Option<&str>) -> Result<RunOrder, ApiError> {
    Ok(match sort {
        None | Some("-createdAt") => RunOrder::Newest,
        Some("createdAt") => RunOrder::Oldest,
        Some("-accuracy") => RunOrder::MostAccurate,
        Some("accuracy") => RunOrder::LeastAccurate,
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "sort",
                format!(
                    "must be -createdAt, createdAt, -accuracy or accuracy, got `{}`",
                    shorten(other)
                ),
            ));
        }
    })
}

/// Runs read from the database per page of the CSV archive.
const CSV_PAGE: u32 = 100;

/// The CSV archive's columns, in order.
const CSV_COLUMNS: [&str; 42] = [
    "id",
    "providerName",
    "datasetName",
    "datasetVersion",
    "datasetDigest",
    "modelName",
    "simulated",
    "status",
    "total",
    "completed",
    "correct",
    "incorrect",
    "awaiting",
    "faulted",
    "pending",
    "accuracy",
    "createdAt",
    "startedAt",
    "finishedAt",
    "retryCount",
    "resumedCount",
    "failureKind",
    "failureMessage",
    "promptTokens",
    "completionTokens",
    "reasoningTokens",
    "costUsd",
    "timeToFirstTokenP50Ms",
    "timeToFirstTokenP95Ms",
    "totalP50Ms",
    "totalP95Ms",
    "judge",
    "rejudgeCount",
    "fingerprint",
    // Last, so that readers of the columns before them are not moved.
    "judgeTokens",
    "judgeCostUsd",
    // Added after the others, so that reading the file by position keeps working.
    "canceled",
    "unparsed",
    "cachedAnswers",
    "answersWithoutUsage",
    "answersCutOff",
    "judgeFallbacks",
];

/// Every run the filters select, as CSV, a page at a time.
fn export_csv(state: &AppState, query: ListRunsQuery) -> Result<HttpResponse, ApiError> {
    if query.cursor.is_some() || query.limit.is_some() {
        let field = if query.cursor.is_some() {
            "cursor"
        } else {
            "limit"
        };
        return Err(ApiError::unprocessable_parameter(
            field,
            "a CSV export holds every selected run: leave out cursor and limit",
        ));
    }
    let filter = filter(query)?;
    let state = state.clone();
    let mut cursor = None;
    let mut first = true;
    let body = paged_body(move || {
        let page = state.db.list_runs(&filter, cursor.as_ref(), CSV_PAGE)?;
        cursor = page.next;
        let mut writer = csv::Writer::from_writer(Vec::new());
        if std::mem::take(&mut first) {
            writer.write_record(CSV_COLUMNS).expect("writing to memory");
        }
        for run in &page.runs {
            let dto = RunDetailDto::new(run, state.is_simulated(run));
            let p = &dto.progress;
            let judged = p.correct + p.incorrect;
            let optional = |value: &Option<String>| value.clone().unwrap_or_default();
            let number = |value: Option<f64>| value.map(|n| n.to_string()).unwrap_or_default();
            let (usage, latency) = (&dto.usage, &dto.latency);
            let record: [String; 42] = [
                dto.run.id.clone(),
                dto.run.provider_name.clone(),
                dto.run.dataset_name.clone(),
                dto.dataset.version.to_string(),
                dto.dataset.digest.clone(),
                dto.run.model_name.clone(),
                dto.simulated.to_string(),
                dto.run.status.clone(),
                p.total.to_string(),
                p.completed.to_string(),
                p.correct.to_string(),
                p.incorrect.to_string(),
                p.awaiting.to_string(),
                p.faulted.to_string(),
                p.pending.to_string(),
                if judged > 0 {
                    (p.correct as f64 / judged as f64).to_string()
                } else {
                    String::new()
                },
                dto.created_at.clone(),
                optional(&dto.started_at),
                optional(&dto.finished_at),
                dto.retry_count.to_string(),
                dto.lifecycle.resumed_count.to_string(),
                dto.failure
                    .as_ref()
                    .map(|f| f.kind.clone())
                    .unwrap_or_default(),
                dto.failure
                    .as_ref()
                    .map(|f| f.message.clone())
                    .unwrap_or_default(),
                usage.prompt_tokens.to_string(),
                usage.completion_tokens.to_string(),
                usage.reasoning_tokens.to_string(),
                number(usage.cost_usd),
                number(latency.time_to_first_token_p50_ms),
                number(latency.time_to_first_token_p95_ms),
                number(latency.total_p50_ms),
                number(latency.total_p95_ms),
                dto.judge.clone(),
                dto.rejudge_count.to_string(),
                dto.fingerprint
                    .as_ref()
                    .map(|f| f.digest.clone())
                    .unwrap_or_default(),
                usage
                    .judge
                    .as_ref()
                    .map(|j| j.total_tokens.to_string())
                    .unwrap_or_default(),
                number(usage.judge.as_ref().and_then(|j| j.cost_usd)),
                dto.canceled.to_string(),
                dto.unparsed.to_string(),
                usage.cached_answers.to_string(),
                usage.answers_without_usage.to_string(),
                dto.answers_cut_off.to_string(),
                dto.judge_fallbacks.to_string(),
            ];
            write_row(&mut writer, record);
        }
        Ok((
            writer.into_inner().expect("writing to memory"),
            cursor.is_some(),
        ))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"runs.csv\"",
        ))
        .streaming(body))
}

fn statuses(value: Option<&str>) -> Result<Vec<RunStatus>, ApiError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(|s| {
            s.trim().parse::<RunStatus>().map_err(|_| {
                ApiError::bad_parameter(
                    "status",
                    format!(
                        "`{}` is not a run status (pending, running, completed, failed, canceled)",
                        shorten(s)
                    ),
                )
            })
        })
        .collect()
}
