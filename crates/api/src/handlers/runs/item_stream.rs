//! `GET /runs/{run_id}/items/{sequence}/stream`: one item's answer as it arrives (Server-Sent
//! Events), for the drill-down's item view. The active board's previews show the last 160
//! characters of each run's current item a few times a second; this follows any one item, all
//! of its text, while it streams on this server.

use std::time::{Duration, Instant};

use actix_web::{Responder, get, web};
use actix_web_lab::sse;
use evalboard_domain::{ItemState, RunId};
use evalboard_runner::{ActivityBoard, LivePosition};
use tokio::sync::mpsc;

use super::run_id;
use crate::{
    EventHub,
    dto::{ItemEndEventDto, ItemTextEventDto},
    error::{ApiError, Problem},
    params::NoParameters,
    params::shorten,
    state::AppState,
};

/// How often the item's text is looked at: often enough to read as a stream, and a look is a
/// map lookup under a lock.
const LOOK_EVERY: Duration = Duration::from_millis(100);
/// Comments keep a stream open while the model is silent.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long an item that stopped streaming may stay `running` before the stream ends anyway.
/// An answer reaches the database a moment after its last chunk (the writer gathers answers
/// for `engine.commit_window_ms`); a stream that said `ended` before then would send its client
/// to read an item without its answer. An item still running after this is waiting to retry.
const STORED_WITHIN: Duration = Duration::from_secs(5);

/// Server-Sent Events following one item's answer while it streams on this server:
/// `item_text` (`ItemTextEventDto`) whenever text arrived — the whole text so far first, then
/// what follows — and `item_end` (`ItemEndEventDto`) when it stops streaming here and its
/// answer, if any, is stored (or was not streaming here to begin with), after which the stream
/// closes. The text is not stored until
/// the item is answered: a reconnecting client starts again from the whole text.
#[utoipa::path(
    tag = "runs",
    params(
        ("run_id" = String, Path, description = "Run id"),
        ("sequence" = u32, Path, description = "The item's sequence in the run (1-based)"),
    ),
    responses(
        (status = 200, description = "A `text/event-stream` of `item_text` events ending with `item_end`", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such run or item", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{run_id}/items/{sequence}/stream")]
pub(crate) async fn stream_item_text(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _: web::Query<NoParameters>,
) -> Result<impl Responder, ApiError> {
    let (run, sequence) = path.into_inner();
    let id = run_id(&run)?;
    let sequence = sequence
        .parse::<u32>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| {
            ApiError::NotFound(format!("no item `{}` in run {id}", shorten(&sequence)))
        })?;
    let lookup = id.clone();
    if state
        .with_db(move |db| db.item_snapshot(&lookup, sequence))
        .await?
        .is_none()
    {
        // The run may exist without such an item; say which.
        let lookup = id.clone();
        state.with_db(move |db| db.get_run(&lookup)).await?;
        return Err(ApiError::NotFound(format!(
            "no item {sequence} in run {id}"
        )));
    }
    let (outbox, stream) = mpsc::channel(4);
    actix_web::rt::spawn(follow(state, id, sequence, outbox));
    Ok(sse::Sse::from_infallible_receiver(stream).with_keep_alive(KEEP_ALIVE))
}

/// Sends the item's text as it arrives until it stops streaming here (and its answer, if it
/// got one, is stored) or the client leaves.
async fn follow(
    state: web::Data<AppState>,
    run: RunId,
    sequence: u32,
    outbox: mpsc::Sender<sse::Event>,
) {
    let activity: Option<ActivityBoard> = state.engine.as_ref().map(|e| e.activity().clone());
    let mut ticks = tokio::time::interval(LOOK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut position: Option<LivePosition> = None;
    let mut last_counts = None;
    let mut stopped_at: Option<Instant> = None;
    loop {
        ticks.tick().await;
        // Gone, or the server stops (its graceful stop waits for open streams).
        if outbox.is_closed() || state.events.as_ref().is_some_and(EventHub::is_closing) {
            return;
        }
        let Some(live) = activity
            .as_ref()
            .and_then(|board| board.live_text(&run, sequence, position))
        else {
            if position.is_some()
                && stopped_at.get_or_insert_with(Instant::now).elapsed() < STORED_WITHIN
                && still_running(&state, &run, sequence).await
            {
                continue;
            }
            let reason = if position.is_some() {
                "ended"
            } else {
                "not_streaming_here"
            };
            let _ = outbox
                .send(event(
                    "item_end",
                    &ItemEndEventDto {
                        reason: reason.into(),
                    },
                ))
                .await;
            return;
        };
        stopped_at = None;
        // Past the kept text's limit only the counts grow: they are news too.
        let counts = (live.chunk_count, live.received_chars);
        let changed = live.replace || !live.text.is_empty() || last_counts != Some(counts);
        last_counts = Some(counts);
        position = Some(live.position);
        if changed {
            let payload = ItemTextEventDto {
                attempt: live.attempt,
                replace: live.replace,
                text: live.text,
                received_chars: live.received_chars,
                chunk_count: live.chunk_count,
            };
            if outbox.send(event("item_text", &payload)).await.is_err() {
                return;
            }
        }
    }
}

/// Whether the item is still `running` in the database (its answer not stored yet, or a retry
/// waiting); `false` when that cannot be read, so that the stream ends as it would have.
async fn still_running(state: &AppState, run: &RunId, sequence: u32) -> bool {
    let run = run.clone();
    matches!(
        state.with_db(move |db| db.item_snapshot(&run, sequence)).await,
        Ok(Some(item)) if item.state == ItemState::Running
    )
}

fn event(name: &'static str, payload: &impl serde::Serialize) -> sse::Event {
    let json = serde_json::to_string(payload).expect("payloads are plain data");
    sse::Data::new(json).event(name).into()
}
