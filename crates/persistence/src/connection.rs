//! The connection type serving both backends, and how connections are opened and pooled.

use std::time::Duration;

use diesel::{
    connection::SimpleConnection, pg::PgConnection, prelude::*, r2d2::R2D2Connection,
    sqlite::SqliteConnection,
};

use crate::error::StoreError;

/// One database connection, to SQLite or PostgreSQL. Queries written against the shared
/// schema run on either; backend-specific SQL matches on the variant.
#[derive(diesel::MultiConnection)]
pub(crate) enum DbConnection {
    /// A PostgreSQL connection.
    Postgres(PgConnection),
    /// A SQLite connection.
    Sqlite(SqliteConnection),
}

/// Evaluates the same diesel expression on whichever concrete connection `$conn` holds. For the
/// few statements `MultiConnection` cannot express generically, such as multi-row `INSERT`.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::connection::DbConnection::Postgres($c) => $body,
            $crate::connection::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, for several replicas on one database.
    Postgres,
    /// SQLite, the embedded default.
    Sqlite,
}

impl Backend {
    /// The backend's name as logs and `/readyz` show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// A database location: the backend and what to hand its driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    target: String,
}

impl DatabaseUrl {
    /// Picks the backend from the URL itself: `postgres://` or `postgresql://` is PostgreSQL;
    /// `sqlite://PATH`, `sqlite:PATH` or a plain file path is SQLite. Any other scheme is an
    /// error, as is an in-memory SQLite database (each pooled connection would see its own).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidUrl(reason.to_owned());
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            refuse_tls(url)?;
            return Ok(Self {
                backend: Backend::Postgres,
                target: url.to_owned(),
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(invalid("the SQLite path is empty"));
        }
        if path == ":memory:" || path.contains("mode=memory") {
            return Err(invalid(
                "an in-memory SQLite database cannot be shared by a connection pool; use a file",
            ));
        }
        // A path never contains "://"; anything else with a scheme is a typo or another database.
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(invalid(&format!(
                "unsupported scheme `{scheme}://` (use postgres://, sqlite:// or a file path)"
            )));
        }
        Ok(Self {
            backend: Backend::Sqlite,
            target: path.to_owned(),
        })
    }

    /// The backend the URL selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For SQLite, the database file's path.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite).then_some(self.target.as_str())
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => redact_password(&self.target),
        }
    }
}

/// libpq is built without TLS (see the workspace's `pq-sys`), so a URL that demands it
/// (`sslmode=require`, `verify-ca`, `verify-full`) is refused here, by name, instead of by libpq
/// at the first connection. `disable`, `allow` and `prefer` connect in plain text.
fn refuse_tls(url: &str) -> Result<(), StoreError> {
    let query = UrlParts::of(url)
        .and_then(|parts| parts.query)
        .unwrap_or("");
    let demanded = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("sslmode="))
        .find(|mode| matches!(*mode, "require" | "verify-ca" | "verify-full"));
    match demanded {
        Some(mode) => Err(StoreError::InvalidUrl(format!(
            "`sslmode={mode}` asks for TLS, and evalboard connects to PostgreSQL without it; \
             reach a remote database through a tunnel or a TLS-terminating proxy \
             (docs/configuration.md)"
        ))),
        None => Ok(()),
    }
}

/// A URL's parts as written: `scheme://authority path ?query`.
struct UrlParts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn of(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let (authority, path) =
            before_query.split_at(before_query.find('/').unwrap_or(before_query.len()));
        Some(Self {
            scheme,
            authority,
            path,
            query,
        })
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Masks every password a PostgreSQL URL can carry: in the userinfo
/// (`postgres://user:secret@host/db`) and in query parameters (`?password=secret`,
/// `sslpassword=`).
fn redact_password(url: &str) -> String {
    let Some(UrlParts {
        scheme,
        authority,
        path,
        query,
    }) = UrlParts::of(url)
    else {
        return url.to_owned();
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let query = query.map(|query| {
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                    format!("{key}=***")
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) => format!("{scheme}://{authority}{path}?{query}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

/// Settings applied to every SQLite connection the pool hands out: a busy timeout instead of
/// immediate `SQLITE_BUSY` (first, so the others wait for locks too), enforced foreign keys,
/// and `synchronous = NORMAL`, which is durable across process crashes in WAL mode.
const SQLITE_CONNECTION_PRAGMAS: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

/// WAL, so readers never block the writer. It is a property of the file, set once through a
/// single connection before the pool opens several at once (which would race for the lock).
const SQLITE_FILE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;";

/// Prepares a SQLite database file for pooled use.
pub(crate) fn prepare_sqlite_file(url: &DatabaseUrl) -> Result<(), ConnectError> {
    let mut conn = SqliteConnection::establish(url.target())?;
    conn.batch_execute(SQLITE_FILE_PRAGMAS)?;
    Ok(())
}

/// A pooled connection and whether it was seen to lose its server. A lost connection is dropped
/// when it comes back to the pool instead of being handed out again, so the pool heals after a
/// database restart without any per-checkout ping.
pub(crate) struct ManagedConnection {
    pub(crate) conn: DbConnection,
    pub(crate) lost: bool,
}

/// Opens connections for the pool, to the backend the URL chose, never guessing.
#[derive(Debug)]
pub(crate) struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    pub(crate) fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = ManagedConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<ManagedConnection, ConnectError> {
        let conn = match self.url.backend {
            Backend::Postgres => {
                DbConnection::Postgres(PgConnection::establish(self.url.target())?)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(self.url.target())?;
                conn.batch_execute(SQLITE_CONNECTION_PRAGMAS)?;
                DbConnection::Sqlite(conn)
            }
        };
        Ok(ManagedConnection { conn, lost: false })
    }

    fn is_valid(&self, managed: &mut ManagedConnection) -> Result<(), ConnectError> {
        managed.conn.ping().map_err(ConnectError::from)
    }

    fn has_broken(&self, managed: &mut ManagedConnection) -> bool {
        managed.lost || managed.conn.is_broken()
    }
}

/// Why a connection could not be opened or checked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The driver refused to connect.
    #[error(transparent)]
    Connection(#[from] diesel::ConnectionError),
    /// A setup or health query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// How big the pool is and how long a caller waits for a connection.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections kept open.
    pub max_connections: u32,
    /// How long `get` waits before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn postgres_urls_that_demand_tls_are_refused_by_name() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let url =
                format!("postgres://u@db.internal/evalboard?application_name=x&sslmode={mode}");
            let error = DatabaseUrl::parse(&url).unwrap_err().to_string();
            assert!(error.contains(&format!("sslmode={mode}")), "{error}");
            assert!(error.contains("without"), "{error}");
        }
        for url in [
            "postgres://127.0.0.1/db?sslmode=disable",
            "postgres://db.internal:5432/evalboard",
            "postgres:///db?host=/var/run/postgresql&sslmode=prefer",
            "postgresql://u@10.0.0.5/db?sslmode=allow",
        ] {
            assert_eq!(DatabaseUrl::parse(url).unwrap().target(), url);
        }
    }

    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("postgres://h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db").unwrap().backend(),
            Backend::Postgres
        );
        for sqlite in [
            "sqlite://data/x.db",
            "sqlite:data/x.db",
            "./data/x.db",
            "/tmp/x.db",
        ] {
            let url = DatabaseUrl::parse(sqlite).unwrap();
            assert_eq!(url.backend(), Backend::Sqlite, "{sqlite}");
            assert!(url.sqlite_path().unwrap().ends_with("x.db"));
        }
    }

    #[test]
    fn unknown_schemes_and_memory_databases_are_rejected() {
        for bad in [
            "mysql://h/db",
            "http://x",
            "sqlite::memory:",
            ":memory:",
            "sqlite://",
            "",
        ] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn passwords_never_reach_logs() {
        let url =
            DatabaseUrl::parse("postgres://evalboard:hunter2@db:5432/evalboard?sslmode=prefer")
                .unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://evalboard:***@db:5432/evalboard?sslmode=prefer"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
