//! The persistence error type: the cases callers act on, and the rest.

use evalboard_domain::{TransitionError, ValidationErrors};

/// What can go wrong when reading or writing evalboard's data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is not one evalboard can use.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database cannot be reached or no connection is free in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The thing asked for does not exist.
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of thing (`run`, `dataset`).
        entity: &'static str,
        /// The id or name asked for.
        id: String,
    },
    /// The request refers to things that do not exist or breaks a rule that depends on stored
    /// data (e.g. a category the dataset does not have).
    #[error("invalid request: {0}")]
    Invalid(ValidationErrors),
    /// The request conflicts with what is stored (e.g. an idempotency key reused for a
    /// different request).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A state change the lifecycle rules forbid.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Stored data that does not read back as a valid domain value.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if is_busy(info.message()) =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

/// SQLite reports lock contention past the busy timeout as an unknown error with this text.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl StoreError {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }
}
