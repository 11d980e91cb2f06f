//! `/runs` handlers.

pub(crate) mod active;
pub(crate) mod cancel;
pub(crate) mod compare;
pub(crate) mod create;
pub(crate) mod events;
pub(crate) mod export;
pub(crate) mod get;
pub(crate) mod item_stream;
pub(crate) mod items;
pub(crate) mod list;
pub(crate) mod logs;
pub(crate) mod rejudge;
pub(crate) mod retry;

use evalboard_domain::RunId;

use crate::{error::ApiError, params::shorten};

/// The run id of a path; anything malformed names no run (404).
pub(crate) fn run_id(path: &str) -> Result<RunId, ApiError> {
    RunId::parse(path).map_err(|_| ApiError::NotFound(format!("no run `{}`", shorten(path))))
}
