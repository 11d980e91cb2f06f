//! `POST /datasets`: import a dataset file (MMLU-Pro JSON Lines or multiple-choice CSV).

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use evalboard_domain::{
    DatasetName,
    import::{ImportFormat, MAX_DATASET_BYTES, parse_items},
    truncate_to_micros,
};
use evalboard_persistence::DatasetImport;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    body::{media_type, read_body},
    dto::{DatasetDto, DatasetImportResponse},
    error::{ApiError, Problem, ProblemItem},
    params::shorten,
    state::AppState,
};

/// Query of `POST /datasets`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// Name to store the dataset under: 1 to 100 characters, no control characters, no
    /// surrounding whitespace.
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f])?$"
    )]
    name: String,
    /// `jsonl`, `csv` or `parquet`; when absent, taken from the Content-Type.
    #[param(pattern = "^(jsonl|csv|parquet)$")]
    format: Option<String>,
}

/// Import a dataset file. Every row is checked first; if any is malformed the answer is a 422
/// listing the problems by line, and nothing is stored. Importing content identical to the
/// newest version under that name stores nothing and answers 200; otherwise a new version is
/// stored (201).
#[utoipa::path(
    tag = "datasets",
    params(ImportQuery),
    request_body(
        content(
            (String = "application/jsonl", example = json!("{\"question_id\": 1, \"question\": \"2 + 2 = ?\", \"options\": [\"3\", \"4\"], \"answer\": \"B\", \"answer_index\": 1, \"cot_content\": \"\", \"category\": \"math\", \"src\": \"demo\"}")),
            (String = "application/x-ndjson"),
            (String = "application/x-jsonlines"),
            (String = "application/json-lines"),
            (String = "text/csv", example = json!("question,A,B,answer,category\n2 + 2 = ?,3,4,B,math\n")),
            (Vec<u8> = "application/vnd.apache.parquet"),
        ),
        description = "JSON Lines (`application/jsonl` and its aliases: MMLU-Pro or numeric records), CSV (`text/csv`) or Parquet (`application/vnd.apache.parquet`, MMLU-Pro as published); see docs/datasets.md. With `format`, the Content-Type is not read for the format, but without a bearer token must still be one a page on another site cannot send (not missing, `text/plain`, a form or multipart: a 415), e.g. `application/octet-stream`."
    ),
    responses(
        (status = 201, description = "A new version was stored", body = DatasetImportResponse),
        (status = 200, description = "The newest version already has exactly these items", body = DatasetImportResponse),
        (status = 400, description = "Missing or invalid `name`, or an unknown `format`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "File larger than 64 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither `format` nor the Content-Type names a known format", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed rows; `errors` lists them by line", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/datasets")]
pub(crate) async fn import_dataset(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let name = DatasetName::parse(&query.name)
        .map_err(|message| ApiError::bad_parameter("name", message))?;
    let format = format(query.format.as_deref(), &req)?;
    let body = read_body(
        &req,
        payload,
        MAX_DATASET_BYTES,
        "dataset files are limited to 64 MiB",
    )
    .await?;

    let parsed = web::block(move || parse_items(format, &body))
        .await
        .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?
        .map_err(|rejected| ApiError::Unprocessable {
            detail: rejected.to_string(),
            errors: rejected
                .problems
                .into_iter()
                .map(|p| ProblemItem {
                    field: None,
                    line: (p.line > 0).then_some(p.line),
                    detail: p.message,
                })
                .collect(),
            total: Some(rejected.total),
        })?;

    let items = parsed.items;
    let imported = state
        .with_db(move |db| {
            db.import_dataset(DatasetImport {
                name: &name,
                items: &items,
                at: truncate_to_micros(Utc::now()),
            })
        })
        .await?;
    let mut response = if imported.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(DatasetImportResponse {
        dataset: DatasetDto::from(&imported.dataset),
        created: imported.created,
        warnings: parsed.warnings.into_iter().map(Into::into).collect(),
        warning_count: parsed.warning_total,
        replaced: imported.replaced.map(Into::into),
    }))
}

fn format(explicit: Option<&str>, req: &HttpRequest) -> Result<ImportFormat, ApiError> {
    if let Some(format) = explicit {
        return match format {
            "jsonl" => Ok(ImportFormat::Jsonl),
            "csv" => Ok(ImportFormat::Csv),
            "parquet" => Ok(ImportFormat::Parquet),
            other => Err(ApiError::bad_parameter(
                "format",
                format!(
                    "must be `jsonl`, `csv` or `parquet`, got `{}`",
                    shorten(other)
                ),
            )),
        };
    }
    let essence = media_type(req).unwrap_or_default();
    match essence.as_str() {
        "application/jsonl"
        | "application/x-jsonlines"
        | "application/x-ndjson"
        | "application/json-lines" => Ok(ImportFormat::Jsonl),
        "text/csv" => Ok(ImportFormat::Csv),
        "application/vnd.apache.parquet" | "application/x-parquet" => Ok(ImportFormat::Parquet),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "cannot tell the file format from Content-Type `{}`: send text/csv, application/jsonl or application/vnd.apache.parquet, or add format=csv|jsonl|parquet",
            shorten(&essence)
        ))),
    }
}
