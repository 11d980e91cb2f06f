//! `/datasets` handlers.

pub(crate) mod import;
pub(crate) mod list;
