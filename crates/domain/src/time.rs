//! The one timestamp type of the domain, kept at microsecond precision so that it survives a
//! round trip through both databases unchanged.

use chrono::{DateTime, SubsecRound, Utc};

/// An instant in UTC. Values handed to the domain should come through [`truncate_to_micros`].
pub type Timestamp = DateTime<Utc>;

/// Drops sub-microsecond precision: PostgreSQL keeps microseconds, so a value read back must
/// equal the value written.
pub fn truncate_to_micros(t: Timestamp) -> Timestamp {
    t.trunc_subsecs(6)
}
