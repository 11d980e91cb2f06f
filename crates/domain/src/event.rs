//! Run events: what the live stream tells a board, one change at a time.

use crate::{ItemSnapshot, Lifecycle, RunId, RunStatus, StateCounts, Timestamp};

/// One change to a run, in the order the database committed it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    /// Where the event stands in the stream; its id is the SSE `id`.
    pub position: EventPosition,
    /// The run it is about.
    pub run_id: RunId,
    /// When the change happened.
    pub at: Timestamp,
    /// What changed.
    pub change: RunChange,
}

/// Where an event stands in the stream, which delivers events in this order: by the order
/// of the transactions that wrote them, then by id.
///
/// Writers on several replicas commit events concurrently, so ids (taken when a row is
/// inserted) do not become visible in id order; the transaction order does, once every
/// transaction before it has ended (PostgreSQL's transaction ids, below the oldest one still
/// running). Where one writer commits at a time (SQLite) the transaction order is always 0 and
/// ids alone order the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPosition {
    /// The order of the transaction that wrote the event (0 where ids are in commit order).
    pub commit: u64,
    /// The event's id: unique, the SSE `id` clients resume from.
    pub id: u64,
}

impl RunEvent {
    /// The event's id (the SSE `id`).
    pub fn id(&self) -> u64 {
        self.position.id
    }
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
