//! `/browser-harness`: published keys, signed packs, and imports of captures as runs
//! (docs/harness-format.md).

pub(crate) mod imports;
pub(crate) mod keys;
pub(crate) mod packs;
pub(crate) mod schemas;
