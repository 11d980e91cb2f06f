//! The JSON shapes of the API, and their conversions from domain values. camelCase fields,
//! RFC 3339 UTC timestamps with `Z`, explicit `null` where the contract shows one.

mod compare;
mod dataset;
mod event;
mod harness;
mod health;
mod item;
mod log;
mod provider;
mod run;
mod session;
mod settings;

pub use compare::{
    BreakdownDto, CategoryComparisonDto, ComparedRunDto, ComparisonDto, FlippedItemDto,
    FlippedOutcomeDto, FlippedPageDto, IntervalDto, PairedDto, RunFiguresDto,
};
pub use dataset::{
    CategoryDto, DatasetDto, DatasetImportResponse, ImportWarningDto, ReplacedVersionDto,
};
pub use event::{
    EventPayload, ItemEndEventDto, ItemTextEventDto, ResetEventDto, RunItemEventDto,
    RunProgressEventDto, RunStatusEventDto,
};
pub use harness::{
    CaptureBundleDto, CaptureDto, ChunkDto, CreatePackRequest, EnvelopeDto, EnvelopeSignatureDto,
    HarnessInfoDto, KeysDto, PublicKeyDto,
};
pub use health::HealthDto;
pub use item::{
    ActivityDto, AttemptDto, ErrorDto, ItemDetailDto, ItemGroupDto, ItemPageDto, TimingsDto,
    UsageDto, VerdictDto,
};
pub use log::{LogEntryDto, LogPageDto};
pub use provider::{PriceDto, ProviderDto};
pub use run::{
    ActiveRunDto, CreateRunRequest, DatasetRefDto, FingerprintDto, ItemSnapshotDto, JudgeUsageDto,
    LatencyDto, LifecycleDto, ProgressDto, RunDetailDto, RunDto, RunPageDto, RunUsageDto,
};
pub use session::{SessionDto, SignInRequest};
pub use settings::{
    BudgetDto, GenerationDto, ItemSelectionDto, JudgeDto, RunSettingsDto, SimulatedDto,
};

use chrono::SecondsFormat;
use evalboard_domain::Timestamp;

/// The API's timestamp format: RFC 3339 in UTC, whole seconds, `Z` (`2026-03-06T19:43:11Z`),
/// as the contract shows.
pub fn api_time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Times of things that happen many to a second — stream events, streamed chunks — carry
/// milliseconds (`2026-03-06T19:43:11.250Z`), so that a client can order them and measure delays.
pub fn api_time_millis(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
