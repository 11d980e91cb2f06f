//! `GET /runs/events`: the live stream of run changes (Server-Sent Events).

use actix_web::{HttpRequest, Responder, get, web};
use evalboard_domain::RunId;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    error::{ApiError, Problem},
    events::{Start, StreamView, subscribe},
    params::shorten,
    state::AppState,
};

/// Query of `GET /runs/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only the events of these runs: one run id, or several separated by commas (at most
    /// 50).
    #[param(pattern = "^[^,]*(,[^,]*){0,49}$")]
    run_id: Option<String>,
    /// `exact` (the default): every stored event, once, in id order. `board`: what a board
    /// needs, in batches at most every 100 ms (`events.board_ms`); a status change at once
    /// (docs/events.md, "The board view").
    // Read as text, so that a value it does not take is a 400 naming `view` (serde's message
    // for an enum names the values, not the parameter).
    #[param(value_type = Option<StreamView>, inline)]
    view: Option<String>,
    /// Resume after this event id, for clients that cannot set the `Last-Event-ID` header (the
    /// header wins when both are given). `GET /runs/active` returns the id its snapshot
    /// includes in its `Last-Event-ID` response header.
    #[param(value_type = Option<u64>)]
    last_event_id: Option<String>,
    /// `true` (the default): the stream stays open and carries what happens next. `false`:
    /// it sends what is stored after the resume position (nothing without one) and ends — for
    /// scripts that collect what they missed, and for probes that need a response that ends.
    follow: Option<bool>,
}

/// Server-Sent Events: `run_status`, `run_progress` and `run_item` (payloads in
/// `docs/events.md` and the `RunStatusEventDto`, `RunProgressEventDto`, `RunItemEventDto`
/// schemas), each with an increasing `id`. With `Last-Event-ID`, the stream starts with every
/// event after that id, in order; when those were pruned or the id is unknown it starts with a
/// `reset` event (`ResetEventDto`): refetch `GET /runs/active`. Comments keep idle streams open.
/// With `follow=false` the stream ends once it has sent what was stored.
#[utoipa::path(
    tag = "runs",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Id of the last event received"),
    ),
    responses(
        (status = 200, description = "A `text/event-stream`, endless unless `follow=false`", content_type = "text/event-stream", body = String),
        (status = 400, description = "`Last-Event-ID` is not an event id, or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`runId` names no run", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The stream is not served here, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/events")]
pub(crate) async fn stream_run_events(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<EventsQuery>,
) -> Result<impl Responder, ApiError> {
    let view = match query.view.as_deref() {
        None | Some("exact") => StreamView::Exact,
        Some("board") => StreamView::Board,
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "view",
                format!(
                    "must be exact or board, not `{}`",
                    crate::params::shorten(other)
                ),
            ));
        }
    };
    let header = request
        .headers()
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("\u{fffd}"));
    // Event ids are the database's 64-bit signed keys: an int64 of at least 0. Both places
    // are checked when both are given (the header wins), so neither is silently ignored.
    let event_id = |name: &str, text: &str| {
        text.trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| u64::try_from(id).ok())
            .ok_or_else(|| {
                ApiError::bad_parameter(
                    name,
                    format!(
                        "must be an event id (a whole number, 0 or more), got `{}`",
                        shorten(text)
                    ),
                )
            })
    };
    let from_query = query
        .last_event_id
        .as_deref()
        .map(|text| event_id("lastEventId", text))
        .transpose()?;
    let from_header = header
        .map(|text| event_id("Last-Event-ID", text))
        .transpose()?;
    let start = match from_header.or(from_query) {
        None => Start::Now,
        Some(id) => Start::After(id),
    };
    let runs = match &query.run_id {
        None => None,
        Some(text) => {
            let ids = run_ids(text)?;
            let lookup = ids.clone();
            state
                .with_db(move |db| lookup.iter().try_for_each(|id| db.get_run(id).map(drop)))
                .await?;
            Some(ids)
        }
    };
    let hub = state
        .events
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this server does not stream events".into()))?;
    Ok(subscribe(hub, start, runs, view, query.follow.unwrap_or(true)).await?)
}

/// How many runs one stream may follow by id.
const MAX_RUNS: usize = 50;

/// The distinct runs of a `runId` list (a malformed id names no run: 404, as a path would).
fn run_ids(text: &str) -> Result<Vec<RunId>, ApiError> {
    if text.split(',').count() > MAX_RUNS {
        return Err(ApiError::bad_parameter(
            "runId",
            format!("names more than {MAX_RUNS} runs"),
        ));
    }
    let mut ids: Vec<RunId> = Vec::new();
    for part in text.split(',') {
        let id = super::run_id(part.trim())?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
