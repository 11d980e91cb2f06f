//! Run logs on the wire.

use evalboard_persistence::RunLogEntry;
use serde::Serialize;
use utoipa::ToSchema;

use super::api_time;

/// One log entry of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEntryDto {
    /// Increasing id; entries are in id order.
    pub id: i64,
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The item the entry is about, or `null` for the run itself.
    #[schema(required = true)]
    pub sequence: Option<u32>,
    /// What happened.
    pub message: String,
}

impl From<RunLogEntry> for LogEntryDto {
    fn from(e: RunLogEntry) -> Self {
        Self {
            id: e.id,
            at: api_time(e.at),
            level: e.level.as_str().to_owned(),
            sequence: e.sequence,
            message: e.message,
        }
    }
}

/// `GET /runs/{run_id}/logs`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPageDto {
    /// Entries, oldest first.
    pub logs: Vec<LogEntryDto>,
    /// Pass as `cursor` for the next page; `null` when there is nothing more yet.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}
