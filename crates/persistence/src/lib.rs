#![doc = include_str!("../README.md")]

mod commit_order;
mod connection;
mod database;
mod datasets;
mod error;
mod events;
mod harness;
mod logs;
mod migrations;
mod outage;
#[cfg(all(test, feature = "testing"))]
mod plans;
mod runs;
mod schema;
mod secrets;
#[cfg(feature = "testing")]
pub mod testing;
mod worker_name;

pub use connection::{Backend, DatabaseUrl, PoolOptions};
pub use database::Database;
pub use datasets::{DatasetImport, ImportedDataset, ReplacedVersion};
pub use error::StoreError;
pub use events::{EventHorizon, EventListener, Resume};
pub use harness::IssuedPack;
pub use logs::{LogCursor, LogLevel, LogPage, LogPosition, LogQuery, RunLogEntry};
pub use outage::Outage;
pub use runs::{
    ActiveRun, Answer, AppliedOutcomes, AttemptRecord, CachedAnswer, CaptureImport, CapturedAnswer,
    Claim, ClaimRequest, ClaimedItem, CreatedRun, ExportFilter, GoneWorker, IdempotencyKey,
    ImportItem, ItemCursor, ItemDetail, ItemError, ItemGroup, ItemGrouping, ItemPage, ItemQuery,
    ItemTransition, Judgment, JudgmentRecord, NewRun, Outcome, OutcomeKind, ProviderIdentity,
    RetryScope, RunCursor, RunFailed, RunFilter, RunGeneration, RunOrder, RunPage,
};
pub use worker_name::WorkerNameHold;

/// Declares this crate's counters at zero in the installed metrics recorder: a series that
/// appears only with its first event hides that event from `increase()`, and from alerts.
pub fn declare_metrics() {
    for counter in [database::POOL_TIMEOUTS, runs::claims::CLAIMS_TAKEN_OVER] {
        metrics::counter!(counter).increment(0);
    }
}
