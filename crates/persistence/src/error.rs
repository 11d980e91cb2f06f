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
    #[error("database unavailable: {}", one_line(.0))]
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

impl StoreError {
    /// An [`Invalid`](Self::Invalid) error about one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::default();
        errors.push(field, message.into());
        Self::Invalid(errors)
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(_, ref info) if is_transient(info.message()) => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::BrokenTransactionManager => {
                Self::Unavailable("the connection was left in a broken transaction".into())
            }
            other => Self::Query(other),
        }
    }
}

/// Messages of errors that say the database is out of reach, busy or asks for a retry, not that
/// the query is wrong: PostgreSQL's deadlocks and serialization failures, libpq's words for a lost
/// server, SQLite's for lock contention past the busy timeout. The drivers report these without
/// a more specific kind.
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 12] = [
        "deadlock detected",
        "could not serialize access",
        "no connection to the server",
        "server closed the connection",
        "connection has been closed",
        "terminating connection",
        "could not receive data from server",
        "could not send data to server",
        "the database system is shutting down",
        "the database system is starting up",
        "database is locked",
        "database is busy",
    ];
    TRANSIENT.iter().any(|t| message.contains(t))
}

/// A driver's message on one line: libpq's span lines ("…failed: Connection refused\n\tIs the
/// server running…"), and a log line is one line.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
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
