//! The payloads of `GET /runs/events`, one per SSE event name. Each names its run, so a board
//! can merge it into the snapshot `GET /runs/active` gave it.

use evalboard_domain::{RunChange, RunEvent};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ItemSnapshotDto, LifecycleDto, ProgressDto, RunDto};

use super::api_time_millis;

/// `run_status`: a run was created, changed status, was resumed, or had a cancel requested.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStatusEventDto {
    /// The run.
    pub run_id: String,
    /// The run as `/runs/active` shows it, after the change.
    pub run: RunDto,
    /// Its status after the change (the same as `run.status`).
    pub status: String,
    /// Its status before; `null` for a new run, equal to `status` when only the lifecycle changed.
    #[schema(required = true)]
    pub previous_status: Option<String>,
    /// Its lifecycle after the change.
    pub lifecycle: LifecycleDto,
    /// When the change happened (RFC 3339, milliseconds).
    #[schema(format = DateTime, example = "2026-03-06T19:43:11.250Z")]
    pub at: String,
}

/// `run_progress`: the run's counters after a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunProgressEventDto {
    /// The run.
    pub run_id: String,
    /// The whole `progress` object, replacing the previous one.
    pub progress: ProgressDto,
    /// Of `progress.faulted`, the items canceled (the rest failed), as in `GET /runs/{run_id}`.
    pub canceled: u64,
    /// When the change happened (RFC 3339, milliseconds).
    #[schema(format = DateTime)]
    pub at: String,
}

/// `run_item`: one item as `currentItem`/`recentItems` show it. `state: running` makes it the
/// run's current item (with `activity` in the throttled streaming previews); any later state
/// makes it leave `currentItem` and, when terminal, head `recentItems`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunItemEventDto {
    /// The run.
    pub run_id: String,
    /// The item.
    pub item: ItemSnapshotDto,
    /// When the change happened, or when the preview was taken (RFC 3339, milliseconds).
    #[schema(format = DateTime)]
    pub at: String,
}

/// `reset`: the events since the client's `Last-Event-ID` are no longer stored (or the id is
/// not one this server issued). Refetch `GET /runs/active`, then apply the events that follow.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetEventDto {
    /// `pruned` (older than the retention) or `unknown_position`.
    #[schema(example = "pruned")]
    pub reason: String,
    /// The id the stream continues after (also this event's `id`).
    pub last_event_id: u64,
}

/// `item_text` on `GET /runs/{run_id}/items/{sequence}/stream`: the item's answer as it
/// arrives on this server.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemTextEventDto {
    /// The attempt streaming.
    pub attempt: u32,
    /// `true`: `text` is the attempt's whole text so far (the stream's first event, or a new
    /// attempt): replace what is shown. `false`: `text` follows what the previous event gave.
    pub replace: bool,
    /// The text.
    pub text: String,
    /// Characters received so far. The server keeps the first 256 KiB of an attempt's text
    /// for this stream; past that only the count grows (the stored response has it all).
    pub received_chars: u64,
    /// Chunks received so far.
    pub chunk_count: u64,
}

/// `item_end` on `GET /runs/{run_id}/items/{sequence}/stream`, its last event: fetch the item
/// (`GET /runs/{run_id}/items?sequence=N`) for its response and verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemEndEventDto {
    /// `ended`: the item stopped streaming here (answered, failed, canceled, or its attempt is
    /// over). `not_streaming_here`: it was not streaming on this server when the stream
    /// opened (not started, finished, or in flight on another replica).
    #[schema(example = "ended")]
    pub reason: String,
}

/// A stored event as its payload.
pub enum EventPayload {
    /// `run_status`.
    Status(RunStatusEventDto),
    /// `run_progress`.
    Progress(RunProgressEventDto),
    /// `run_item`.
    Item(RunItemEventDto),
}

impl EventPayload {
    /// The payload's JSON text.
    pub fn to_json(&self) -> String {
        let json = match self {
            EventPayload::Status(dto) => serde_json::to_string(dto),
            EventPayload::Progress(dto) => serde_json::to_string(dto),
            EventPayload::Item(dto) => serde_json::to_string(dto),
        };
        json.expect("event payloads are plain data")
    }
}

impl From<RunEvent> for EventPayload {
    fn from(event: RunEvent) -> Self {
        let run_id = event.run_id.to_string();
        let at = api_time_millis(event.at);
        match event.change {
            RunChange::Status {
                run,
                previous,
                lifecycle,
            } => EventPayload::Status(RunStatusEventDto {
                run_id,
                status: run.status.as_str().to_owned(),
                run: RunDto::from(run),
                previous_status: previous.map(|s| s.as_str().to_owned()),
                lifecycle: LifecycleDto::from(&lifecycle),
                at,
            }),
            RunChange::Progress(counts) => EventPayload::Progress(RunProgressEventDto {
                run_id,
                progress: counts.progress().into(),
                canceled: counts.canceled,
                at,
            }),
            RunChange::Item(item) => EventPayload::Item(RunItemEventDto {
                run_id,
                item: item.into(),
                at,
            }),
        }
    }
}
