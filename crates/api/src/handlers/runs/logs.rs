//! `GET /runs/{run_id}/logs`: what happened to a run and its items.

use actix_web::{get, web};
use evalboard_persistence::{LogCursor, LogLevel, LogPosition, LogQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::run_id;
use crate::{
    dto::{LogEntryDto, LogPageDto},
    error::{ApiError, Problem},
    params::{bounded_int, shorten},
    state::AppState,
};

/// Where the page after this one begins, in either order.
enum Next {
    Before(LogPosition),
    After(LogCursor),
}

/// Query of `GET /runs/{run_id}/logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogsQuery {
    /// Lowest level shown: `debug` (everything, the default), `info`, `warn` or `error`.
    #[param(pattern = "^(debug|info|warn|error)$")]
    level: Option<String>,
    /// Only entries about this item.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295.0)]
    sequence: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `oldest` first (the default: the log's order, which a client polls for new entries) or
    /// `newest` first (the latest at once; `nextCursor` reads further back, and is null on the
    /// last page).
    #[param(pattern = "^(oldest|newest)$")]
    order: Option<String>,
}

/// A run's log, oldest first: creation, status changes, each item's attempts, retries with
/// their reason, failures, cancels and resumes. Follow `nextCursor` to read on; it is also
/// returned on the last page, so a client can poll for new entries. With `order=newest`, the
/// latest entries first, `nextCursor` reading further back.
#[utoipa::path(
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id"), LogsQuery),
    responses(
        (status = 200, description = "Log entries", body = LogPageDto),
        (status = 400, description = "A parameter is malformed or out of range", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cursor` is not one this server issued for this listing", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{run_id}/logs")]
pub(crate) async fn list_run_logs(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LogsQuery>,
) -> Result<web::Json<LogPageDto>, ApiError> {
    let id = run_id(&path)?;
    let query = query.into_inner();
    let limit = bounded_int("limit", query.limit.as_deref(), 1, 500, 100)?;
    let min_level = match query.level.as_deref() {
        None => None,
        Some(level) => Some(LogLevel::parse(level).ok_or_else(|| {
            ApiError::bad_parameter(
                "level",
                format!(
                    "must be debug, info, warn or error, got `{}`",
                    shorten(level)
                ),
            )
        })?),
    };
    let sequence = match query.sequence.as_deref() {
        None => None,
        Some(text) => Some(bounded_int("sequence", Some(text), 1, u32::MAX, 1)?),
    };
    let newest = match query.order.as_deref() {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "order",
                format!("must be oldest or newest, got `{}`", shorten(other)),
            ));
        }
    };
    let cursors = state.cursors().await?;
    // Entries are paged by their position in the run's log (its commit, then its id): a cursor
    // continues its own run's log. (Level and item filters may change between pages: a position
    // is one in any of them.)
    let scope = id.to_string();
    let cursor = query.cursor.as_deref();
    // Newest first reads back from a place (its cursor a kind of its own); oldest first reads
    // on without passing an entry still to commit.
    let before = match cursor {
        Some(text) if newest => Some(cursors.decode_log_before(&scope, text)?),
        _ => None,
    };
    let after = match cursor {
        Some(text) if !newest => Some(cursors.decode_log(&scope, text)?),
        _ => None,
    };
    let log_query = LogQuery {
        min_level,
        sequence,
        after,
    };
    let (entries, next_cursor) = state
        .with_db(move |db| {
            db.get_run(&id)?;
            if newest {
                let (entries, next) = db.log_page_newest(&id, &log_query, before, limit)?;
                Ok((entries, next.map(Next::Before)))
            } else {
                let page = db.log_page(&id, &log_query, limit)?;
                Ok((page.entries, Some(Next::After(page.next))))
            }
        })
        .await?;
    let next_cursor = next_cursor.map(|next| match next {
        Next::Before(before) => cursors.encode_log_before(&scope, before),
        // Returned on the last page too: a client polls it for what is logged next.
        Next::After(after) => cursors.encode_log(&scope, &after),
    });
    Ok(web::Json(LogPageDto {
        logs: entries.into_iter().map(LogEntryDto::from).collect(),
        next_cursor,
    }))
}
