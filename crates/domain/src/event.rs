//! Run events: what the live stream tells a board, one change at a time.

use crate::{ItemSnapshot, Lifecycle, RunId, RunStatus, StateCounts, Timestamp};

/// One change to a run, in the order the database committed it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    /// Increasing position of the event in the stream; the SSE `id`.
    pub id: u64,
    /// The run it is about.
    pub run_id: RunId,
    /// When the change happened.
    pub at: Timestamp,
    /// What changed.
    pub change: RunChange,
}

/// What a [`RunEvent`] says.
#[derive(Debug, Clone, PartialEq)]
pub enum RunChange {
    /// The run was created, changed status, was resumed, or had a cancel requested.
    Status {
        /// The run's header as it is after the change.
        run: RunHeader,
        /// Its status before (`None` when the run was just created; the same status when only
        /// the lifecycle changed).
        previous: Option<RunStatus>,
        /// Its lifecycle after the change.
        lifecycle: Lifecycle,
    },
    /// The run's item counters after the change.
    Progress(StateCounts),
    /// One item after the change.
    Item(ItemSnapshot),
}

/// What a board shows of a run besides its counters: names and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHeader {
    /// The run's id.
    pub id: RunId,
    /// The provider, as configured.
    pub provider_name: String,
    /// The dataset's name.
    pub dataset_name: String,
    /// The model, as the provider names it.
    pub model_name: String,
    /// Where the run stands.
    pub status: RunStatus,
}

impl RunChange {
    /// The event's name on the stream: `run_status`, `run_progress` or `run_item`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunChange::Status { .. } => "run_status",
            RunChange::Progress(_) => "run_progress",
            RunChange::Item(_) => "run_item",
        }
    }
}
