//! `GET /runs/{run_id}/export`: every item of a run as JSON Lines or CSV, streamed from the
//! database a page at a time.

use actix_web::{HttpResponse, get, http::header, web};
use evalboard_persistence::{Database, ExportFilter};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::{
    items::{categories_of_run, item_categories, item_states},
    run_id,
};
use crate::{
    csv_cells::write_row,
    dto::ItemDetailDto,
    error::{ApiError, Problem},
    params::shorten,
    state::AppState,
    streaming::paged_body,
};

/// Items read from the database per page of an export.
const PAGE: u32 = 500;

/// Query of `GET /runs/{run_id}/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `jsonl` (default) or `csv`.
    #[param(pattern = "^(jsonl|csv)$")]
    format: Option<String>,
    /// Only items in these states, comma-separated (e.g. `incorrect`), as `GET
    /// /runs/{run_id}/items` takes them.
    #[param(
        pattern = "^(pending|running|awaiting|correct|incorrect|failed|canceled)(,(pending|running|awaiting|correct|incorrect|failed|canceled))*$"
    )]
    state: Option<String>,
    /// Only items of these categories, comma-separated (e.g. `law`), as `GET
    /// /runs/{run_id}/items` takes them.
    #[param(pattern = "^[^,\\x00-\\x1f\\x7f-\\x9f]{1,100}(,[^,\\x00-\\x1f\\x7f-\\x9f]{1,100})*$")]
    category: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Jsonl,
    Csv,
}

/// A run's items, in sequence order, as a file: JSON Lines (one object per line: `runId`, then
/// the fields of an item of `GET /runs/{run_id}/items`) or CSV (one row per item, `runId` first,
/// then the same fields flattened; `choices` and `attempts` as JSON). Every item, or those of
/// the states and categories asked for. The run's id is on each line, so that the exports of
/// several runs concatenate into one table. Streamed as it is read, so a run of any size
/// exports in bounded memory; the download is named after the run (`Content-Disposition`).
#[utoipa::path(
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id"), ExportQuery),
    responses(
        (status = 200, description = "The items, as `application/x-ndjson` or `text/csv`", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        ), headers(("Content-Disposition" = String, description = "`attachment; filename=\"<run_id>-items.jsonl\"` (or `.csv`; `<run_id>-items-filtered.…` when `state` or `category` chose some items; `…-partial.…` while the run is still going)"))),
        (status = 400, description = "An unknown format or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`category` names a category none of the run's items is in", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{run_id}/export")]
pub(crate) async fn export_run_items(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    let format = match query.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => Format::Jsonl,
        "csv" => Format::Csv,
        other => {
            return Err(ApiError::bad_parameter(
                "format",
                format!("must be jsonl or csv, got `{}`", shorten(other)),
            ));
        }
    };
    let filter = ExportFilter {
        states: item_states(query.state.as_deref())?,
        categories: item_categories(query.category.as_deref())?,
    };
    // An unknown run is a 404 before anything is streamed.
    let run = {
        let id = id.clone();
        state.with_db(move |db| db.get_run(&id)).await?
    };
    categories_of_run(&state, &run.id, &filter.categories).await?;
    let (content_type, extension) = match format {
        Format::Jsonl => ("application/x-ndjson", "jsonl"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    // A file of some of the items is not saved under the whole run's name (a second download
    // would otherwise be taken for the first, or replace it).
    let part = if filter.states.is_empty() && filter.categories.is_empty() {
        ""
    } else {
        "-filtered"
    };
    // Nor is a file of a run still going, whose items are not all answered yet, saved under the
    // name its finished export will have: the name says it is partial.
    let partial = if run.status.is_active() {
        "-partial"
    } else {
        ""
    };
    let body = paged_body(pages(state.db.clone(), run.id.clone(), filter, format));
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}-items{part}{partial}.{extension}\"",
                run.id
            ),
        ))
        .streaming(body))
}

/// The encoded pages of a run's items, one per call.
fn pages(
    db: Database,
    run: evalboard_domain::RunId,
    filter: ExportFilter,
    format: Format,
) -> impl FnMut() -> Result<(Vec<u8>, bool), evalboard_persistence::StoreError> + Send + 'static {
    let mut after = None;
    let mut header = matches!(format, Format::Csv);
    move || {
        let page = db.item_export_page(&run, &filter, after, PAGE)?;
        after = page.next.map(|cursor| cursor.sequence);
        let items: Vec<ItemDetailDto> = page.items.into_iter().map(Into::into).collect();
        let bytes = match format {
            Format::Jsonl => jsonl(run.as_str(), &items),
            Format::Csv => csv(run.as_str(), &items, std::mem::take(&mut header)),
        };
        Ok((bytes, after.is_some()))
    }
}

/// A line of a JSON Lines export: the item with its run's id first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportedItem<'a> {
    run_id: &'a str,
    #[serde(flatten)]
    item: &'a ItemDetailDto,
}

fn jsonl(run_id: &str, items: &[ItemDetailDto]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        serde_json::to_writer(&mut out, &ExportedItem { run_id, item })
            .expect("an item serializes");
        out.push(b'\n');
    }
    out
}

/// The CSV columns, in order.
pub(crate) const CSV_COLUMNS: [&str; 32] = [
    "runId",
    "sequence",
    "datasetItemId",
    "category",
    "state",
    "question",
    "choices",
    "expectedAnswer",
    "renderedPrompt",
    "responseText",
    "extractedAnswer",
    "extractionTier",
    "verdict",
    "judge",
    "judgeRationale",
    "errorKind",
    "errorMessage",
    "attemptCount",
    "attempts",
    "queuedAt",
    "startedAt",
    "firstTokenAt",
    "answeredAt",
    "judgedAt",
    "finishedAt",
    "latencyMs",
    "timeToFirstTokenMs",
    "promptTokens",
    "completionTokens",
    "reasoningTokens",
    "costUsd",
    "cutOff",
];

fn csv(run_id: &str, items: &[ItemDetailDto], header: bool) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let number = |value: Option<i64>| value.map(|n| n.to_string()).unwrap_or_default();
    if header {
        writer.write_record(CSV_COLUMNS).expect("writing to memory");
    }
    for item in items {
        let t = &item.timings;
        let record: [String; 32] = [
            run_id.to_owned(),
            item.sequence.to_string(),
            item.dataset_item_id.clone(),
            item.category.clone(),
            item.state.clone(),
            item.question.clone(),
            serde_json::to_string(&item.choices).expect("strings serialize"),
            item.expected_answer.clone(),
            text(&item.rendered_prompt),
            text(&item.response_text),
            text(&item.extracted_answer),
            text(&item.extraction_tier),
            text(&item.verdict),
            text(&item.judge),
            text(&item.judge_rationale),
            item.error
                .as_ref()
                .map(|e| e.kind.clone())
                .unwrap_or_default(),
            item.error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
            item.attempt_count.to_string(),
            serde_json::to_string(&item.attempts).expect("attempts serialize"),
            text(&t.queued_at),
            text(&t.started_at),
            text(&t.first_token_at),
            text(&t.answered_at),
            text(&t.judged_at),
            text(&t.finished_at),
            number(t.latency_ms),
            number(t.time_to_first_token_ms),
            number(item.usage.prompt_tokens.map(i64::from)),
            number(item.usage.completion_tokens.map(i64::from)),
            number(item.usage.reasoning_tokens.map(i64::from)),
            item.usage
                .cost_usd
                .map(|c| c.to_string())
                .unwrap_or_default(),
            item.cut_off.unwrap_or_default().to_owned(),
        ];
        write_row(&mut writer, record);
    }
    writer.into_inner().expect("writing to memory")
}
