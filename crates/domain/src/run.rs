//! Runs: their status and its legal transitions, the persisted lifecycle, and the run itself.

use crate::{
    fingerprint::Fingerprint,
    ids::DatasetId,
    ids::RunId,
    progress::StateCounts,
    settings::RunSettings,
    time::Timestamp,
    usage::{LatencySummary, RunUsage},
};

/// The provider name of runs made from Browser Harness captures: their answers come from a
/// model used in a browser, not from a configured provider.
pub const BROWSER_HARNESS_PROVIDER: &str = "Browser Harness";

/// The failure kind of a run stopped because its budget was spent (it ends `canceled`).
pub const BUDGET_EXHAUSTED: &str = "budget_exhausted";

/// Where a run stands: `pending` -> `running` -> `completed` | `failed` | `canceled`.
///
/// A pending run can also be canceled or fail before it starts, and a retry moves a finished
/// run back to `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Created, not started.
    Pending,
    /// Items are being evaluated.
    Running,
    /// Every item reached a terminal state (faulted ones included).
    Completed,
    /// The run could not proceed at all (e.g. the provider rejected its credentials).
    Failed,
    /// Stopped on request.
    Canceled,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Canceled,
    ];

    /// The status's wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the run is finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }

    /// Whether the run belongs on the active board as an active run (`pending` or `running`).
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// Whether `self -> next` is a legal move.
    pub fn can_transition_to(self, next: RunStatus) -> bool {
        use RunStatus::*;
        match (self, next) {
            (Pending, Running | Failed | Canceled) => true,
            (Running, Completed | Failed | Canceled) => true,
            // A retry reopens a finished run.
            (from, Pending) => from.is_terminal(),
            _ => false,
        }
    }
}

crate::states::named_states!(RunStatus, "run");

/// What happened to a run beyond its status, persisted so that a refreshed board can rebuild it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// How many times the run was picked up again after a restart or a lost worker.
    pub resumed_count: u32,
    /// When it was last picked up again.
    pub last_resumed_at: Option<Timestamp>,
    /// When a cancel was requested, set at once, before the run reaches `canceled`.
    pub cancel_requested_at: Option<Timestamp>,
}

/// A run: every selected item of one dataset sent to one model of one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// The provider, as named in the configuration.
    pub provider_name: String,
    /// The dataset's name.
    pub dataset_name: String,
    /// The exact dataset version the run's items were taken from.
    pub dataset_id: DatasetId,
    /// That version's number under the dataset's name.
    pub dataset_version: u32,
    /// That version's content digest.
    pub dataset_digest: String,
    /// The model, as named by the provider.
    pub model_name: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// The settings it was created with.
    pub settings: RunSettings,
    /// How many of its items are in each state.
    pub counts: StateCounts,
    /// Resume and cancel history.
    pub lifecycle: Lifecycle,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it first started running.
    pub started_at: Option<Timestamp>,
    /// When it last reached a terminal status.
    pub finished_at: Option<Timestamp>,
    /// When anything about it last changed.
    pub updated_at: Timestamp,
    /// How many times it was retried.
    pub retry_count: u32,
    /// Why it failed, when it could not proceed at all; or why it stopped, when it was
    /// canceled for a reason other than a request (its budget was spent).
    pub failure: Option<RunFailure>,
    /// What it spent: tokens and cost over every answered attempt.
    pub usage: RunUsage,
    /// How fast its answers came, as of when it last finished (empty while it first runs).
    pub latency: LatencySummary,
    /// What determines its results; `None` for runs made before fingerprints were recorded.
    pub fingerprint: Option<Fingerprint>,
    /// How many re-judgings of its answers were started (undone ones too): it only goes up,
    /// and with its retries says which generation of the run a worker's view belongs to.
    pub rejudge_count: u32,
    /// The re-judging whose verdicts are in force: 0 for the run's first judging, n for the
    /// n-th re-judging; one undone (canceled or failed before it finished) leaves the one
    /// before it in force. New verdicts are stored with this round.
    pub judging_round: u32,
    /// Whether its latest reopening was a re-judging (until a retry): its open items only need
    /// a verdict, so its answering provider is not needed.
    pub rejudging: bool,
    /// How many of its judged items had no answer that could be extracted (strict accuracy
    /// counts them wrong). Kept with the counters, so that reading it costs nothing.
    pub unparsed: u64,
    /// How many of its kept answers the provider stopped before the model finished them (at
    /// the token limit, or by a content filter): their verdicts judge part of an answer. Kept
    /// with the counters.
    pub cut_off: u64,
    /// How many of its verdicts its LLM judge did not give — it failed, or never answered
    /// with a verdict — so that the extraction rules gave them instead (each says why in its
    /// rationale). Kept with the counters; 0 for a run judged by the rules.
    pub judge_fallbacks: u64,
}

/// Why a run failed as a whole (e.g. the provider rejected the credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// A short machine-readable kind (`unauthorized`, `model_not_found`, ...).
    pub kind: String,
    /// What happened, for people.
    pub message: String,
}

/// A failure as one line, `kind: message`, its kind said once: a provider's message often
/// starts with it already ("unauthorized: …", as `ProviderError` words its errors).
pub fn failure_text(kind: &str, message: &str) -> String {
    match message.strip_prefix(kind) {
        Some(rest) if rest.starts_with(": ") => message.to_owned(),
        _ => format!("{kind}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus::{self, *};

    #[test]
    fn a_failure_says_its_kind_once() {
        use super::failure_text;
        assert_eq!(
            failure_text("unauthorized", "unauthorized: bad key"),
            "unauthorized: bad key"
        );
        assert_eq!(
            failure_text("not_found", "no model `m`"),
            "not_found: no model `m`"
        );
        assert_eq!(
            failure_text("timeout", "timeouts: many"),
            "timeout: timeouts: many"
        );
    }

    #[test]
    fn legal_and_illegal_moves() {
        assert!(Pending.can_transition_to(Running));
        assert!(Running.can_transition_to(Completed));
        assert!(Running.can_transition_to(Canceled));
        assert!(Completed.can_transition_to(Pending));
        assert!(!Completed.can_transition_to(Running));
        assert!(!Pending.can_transition_to(Completed));
        assert!(!Running.can_transition_to(Pending));
        assert_eq!(
            Canceled.transition_to(Running).unwrap_err().to_string(),
            "illegal run transition from `canceled` to `running`"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
    }
}
