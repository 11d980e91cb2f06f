//! `/runs` handlers.

pub(crate) mod active;
pub(crate) mod create;
pub(crate) mod get;
pub(crate) mod list;
