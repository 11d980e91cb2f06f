//! The connection type serving both backends, and how connections are opened and pooled.

use std::time::Duration;

use diesel::{
    connection::SimpleConnection, pg::PgConnection, prelude::*, r2d2::R2D2Connection,
    sqlite::SqliteConnection,
};

use crate::{error::StoreError, outage::Outage};

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

/// Inserts the rows of the slice `$rows` into `$table`, in order. On PostgreSQL, `$per_statement`
/// rows per statement (each statement is a round trip; PostgreSQL binds at most 65,535 values
/// per statement). On SQLite, which has no round trip to save, one single-row statement run once
/// per row: a multi-row statement's text changes with its number of rows, so diesel never keeps
/// it prepared and SQLite parsed and planned it anew every time, where the single-row one is
/// prepared once per connection. Call it inside the caller's transaction: the rows are all or
/// nothing only with it.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr, $per_statement:expr) => {
        match $conn {
            $crate::connection::DbConnection::Postgres(pg) => {
                for chunk in $rows.chunks($per_statement) {
                    diesel::insert_into($table).values(chunk).execute(pg)?;
                }
            }
            $crate::connection::DbConnection::Sqlite(sqlite) => {
                for row in $rows {
                    diesel::insert_into($table).values(row).execute(sqlite)?;
                }
            }
        }
    };
}
pub(crate) use insert_rows;

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
        // libpq also reads `host=… user=… dbname=…`; taken as a path, that would be a new SQLite
        // file named after the string (its password included, in logs), and a replica meant
        // for the shared database would run on its own.
        if path.split_ascii_whitespace().any(|word| {
            word.split_once('=')
                .is_some_and(|(key, _)| LIBPQ_KEYWORDS.contains(&key))
        }) {
            return Err(invalid(
                "a PostgreSQL key/value connection string (`host=… dbname=…`) is not read: \
                 write it as a URL, postgres://USER:PASSWORD@HOST:PORT/DBNAME",
            ));
        }
        // A path never contains "://"; anything else with a scheme (but a SQLite `file:` URI)
        // is a typo or another database.
        if let Some((scheme, _)) = path.split_once("://")
            && scheme != "file"
        {
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

    /// For SQLite, the database file's path: the target itself, or the path of a SQLite URI
    /// (`file:/srv/evalboard.db?mode=ro`, which SQLite reads with its parameters).
    pub fn sqlite_path(&self) -> Option<&str> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let Some(uri) = self.target.strip_prefix("file:") else {
            return Some(self.target.as_str());
        };
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        // `file:///p` and `file://localhost/p` name `/p`; `file:p` and `file:/p` are paths.
        Some(match path.strip_prefix("//") {
            Some(rest) => rest.strip_prefix("localhost").unwrap_or(rest),
            None => path,
        })
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

/// The keywords of libpq's key/value connection strings (the ones such strings are made of).
const LIBPQ_KEYWORDS: [&str; 16] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "service",
    "options",
    "application_name",
    "connect_timeout",
    "client_encoding",
    "sslmode",
    "sslrootcert",
    "target_session_attrs",
    "channel_binding",
];

/// libpq is built without TLS (see the workspace's `pq-sys`), so a URL that demands it
/// (`sslmode=require`, `verify-ca`, `verify-full`) is refused here, by name, instead of by libpq
/// at the first connection. `disable`, `allow` and `prefer` connect in plain text.
fn refuse_tls(url: &str) -> Result<(), StoreError> {
    let demanded = query_starts(url)
        .flat_map(|query| url[query..].split('&'))
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

/// Where a PostgreSQL URL's query may start (the byte after its `?`), by either reading: after
/// the first `?`, as RFC 3986 reads it, and after the first `?` that follows the userinfo, as
/// libpq does (its userinfo ends at the first `@` before the first `/`, and may hold a `?`).
fn query_starts(url: &str) -> impl Iterator<Item = usize> + '_ {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let before_path = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_start = before_path.find('@').map_or(0, |at| at + 1);
    let first = rest.find('?');
    let libpq = rest[host_start..].find('?').map(|i| host_start + i);
    let second = libpq.filter(|&q| Some(q) != first);
    [first, second]
        .into_iter()
        .flatten()
        .map(move |q| start + q + 1)
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Masks every password a PostgreSQL URL can carry: in the userinfo
/// (`postgres://user:secret@host/db`) and in query parameters (`?password=secret`,
/// `sslpassword=`, their names percent-encoded or not).
///
/// A password written without percent-encoding may hold `?`, `/` or `@`, and readers of the URL
/// disagree on where it ends: an RFC 3986 reading ends the authority at the first `/` or `?`,
/// libpq looks for the userinfo's `@` up to the first `/` only. Whatever any of them reads as a
/// password is masked: from the first `:` after `://` to the last `@` (when one follows it), and
/// the values of password parameters in the query by either reading ([`query_starts`]). A URL with `@` in its path or query may lose more than its password to the
/// mask; it never shows one.
fn redact_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let mut secrets: Vec<std::ops::Range<usize>> = Vec::new();
    if let (Some(colon), Some(at)) = (rest.find(':'), rest.rfind('@'))
        && colon < at
    {
        secrets.push(start + colon + 1..start + at);
    }
    for query in query_starts(url) {
        let mut offset = query;
        for pair in url[offset..].split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && percent_encoding::percent_decode_str(key)
                    .decode_utf8_lossy()
                    .to_ascii_lowercase()
                    .contains("password")
                && !value.is_empty()
            {
                let value_start = offset + key.len() + 1;
                secrets.push(value_start..value_start + value.len());
            }
            offset += pair.len() + 1;
        }
    }
    secrets.retain(|range| !range.is_empty());
    secrets.sort_by_key(|range| range.start);
    let mut redacted = String::with_capacity(url.len());
    let mut shown = 0;
    for range in secrets {
        if range.end <= shown {
            continue;
        }
        if range.start > shown {
            redacted.push_str(&url[shown..range.start]);
            redacted.push_str("***");
        } else if !redacted.ends_with("***") {
            redacted.push_str("***");
        }
        shown = range.end;
    }
    redacted.push_str(&url[shown..]);
    redacted
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
    /// The pool opens connections in the background, again and again while the database is
    /// down: its failures are logged as one outage (the pool's own error handler is silenced).
    outage: Outage,
}

impl ConnectionManager {
    pub(crate) fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            outage: Outage::new("open a database connection"),
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = ManagedConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<ManagedConnection, ConnectError> {
        let connected = self.open();
        match &connected {
            Ok(_) => self.outage.succeeded(),
            Err(error) => self.outage.failed(error),
        }
        connected
    }

    fn is_valid(&self, managed: &mut ManagedConnection) -> Result<(), ConnectError> {
        managed.conn.ping().map_err(ConnectError::from)
    }

    fn has_broken(&self, managed: &mut ManagedConnection) -> bool {
        managed.lost || managed.conn.is_broken()
    }
}

impl ConnectionManager {
    /// Opens a connection to the database, set up for use.
    fn open(&self) -> Result<ManagedConnection, ConnectError> {
        let conn = match self.url.backend {
            Backend::Postgres => {
                DbConnection::Postgres(PgConnection::establish(self.url.target())?)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(self.url.target())?;
                conn.batch_execute(SQLITE_CONNECTION_PRAGMAS)?;
                // Letter by letter, as PostgreSQL lowers: `str::to_lowercase` makes a final Σ a
                // ς, so a name ending "ΟΔΟΣX" would not contain its own lowered "ΟΔΟΣ".
                lower_utils::register_impl(&mut conn, |text: String| {
                    text.chars()
                        .flat_map(char::to_lowercase)
                        .collect::<String>()
                })?;
                DbConnection::Sqlite(conn)
            }
        };
        Ok(ManagedConnection { conn, lost: false })
    }
}

diesel::define_sql_function! {
    /// The text in lower case. On SQLite it is Rust's `char::to_lowercase` of each letter,
    /// registered on every connection in place of SQLite's own `lower`, which folds ASCII
    /// letters only (a search for `über` did not find `ÜberQA`); PostgreSQL's folds as the
    /// database's locale says (every letter in a UTF-8 locale, ASCII only in `C`).
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
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
        // A raw `?` in the password: libpq's query is the one after the host.
        let error = DatabaseUrl::parse("postgres://u:p?w@db/x?sslmode=require").unwrap_err();
        assert!(error.to_string().contains("sslmode=require"), "{error}");
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
    fn a_key_value_connection_string_is_refused_without_being_repeated() {
        for kv in [
            "host=127.0.0.1 user=postgres password=s3cret dbname=postgres",
            "dbname=evalboard",
            "service=evalboard",
        ] {
            let message = DatabaseUrl::parse(kv).unwrap_err().to_string();
            assert!(message.contains("write it as a URL"), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
        // A file whose name holds `=` is still a file.
        let odd = DatabaseUrl::parse("./data/run=1.db").unwrap();
        assert_eq!(odd.backend(), Backend::Sqlite);
    }

    #[test]
    fn a_sqlite_uri_names_its_file_without_its_parameters() {
        for (uri, path) in [
            ("file:/srv/e/x.db?mode=ro", "/srv/e/x.db"),
            ("sqlite:file:data/x.db?cache=private", "data/x.db"),
            ("file:///srv/e/x.db", "/srv/e/x.db"),
            ("file://localhost/srv/e/x.db?mode=rw", "/srv/e/x.db"),
        ] {
            let url = DatabaseUrl::parse(uri).unwrap();
            assert_eq!(url.sqlite_path(), Some(path), "{uri}");
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

    /// A password written raw may hold `?`, `/`, `@` or `&`; whatever reading of the URL a
    /// library or a person makes, no part of it is shown.
    #[test]
    fn raw_passwords_are_masked_however_the_url_is_read() {
        let cases = [
            // (url, what must not show, what must still show)
            (
                "postgres://u:pa?ss@db/x",
                &["pa", "ss"][..],
                "postgres://u:***@db/x",
            ),
            (
                "postgres://u:pa/ss@db/x",
                &["pa/ss"],
                "postgres://u:***@db/x",
            ),
            (
                "postgres://u:p@ss@db:5432/x",
                &["p@ss"],
                "postgres://u:***@db:5432/x",
            ),
            ("postgres://u:secret@db", &["secret"], "postgres://u:***@db"),
            (
                "postgres://u@db/x?password=p@ss&sslmode=disable",
                &["p@ss"],
                "postgres://u@db/x?password=***&sslmode=disable",
            ),
            (
                "postgres://u@db?password=p@ss",
                &["p@ss"],
                "postgres://u@db?password=***",
            ),
            (
                "postgres://u@db/x?sslpassword=k1&PassWord=k2",
                &["k1", "k2"],
                "postgres://u@db/x?sslpassword=***&PassWord=***",
            ),
            (
                "postgres://u@db/x?pass%77ord=k3",
                &["k3"],
                "postgres://u@db/x?pass%77ord=***",
            ),
            (
                "postgres://u:a?b@db/x?password=c&d",
                &["a?b", "=c&"],
                "postgres://u:***@db/x?password=***&d",
            ),
            (
                "postgres://db:5432/x?user=u",
                &[],
                "postgres://db:5432/x?user=u",
            ),
        ];
        for (raw, hidden, shown) in cases {
            let redacted = redact_password(raw);
            for secret in hidden {
                assert!(
                    !redacted.contains(secret),
                    "{raw} showed {secret}: {redacted}"
                );
            }
            assert_eq!(redacted, shown, "{raw}");
        }
        // Both a userinfo password and a query one: nothing of either shows, the host may not.
        let both = redact_password("postgres://u:s1@db/x?password=s2@h");
        for secret in ["s1", "s2"] {
            assert!(!both.contains(secret), "{both}");
        }
    }

    /// The bundled SQLite keeps a statement's plan whatever values are bound to it (the
    /// workspace's `.cargo/config.toml` builds it so): a cached hot statement is not parsed and
    /// planned again at every execution.
    #[test]
    fn sqlite_is_built_to_keep_its_plans() {
        use diesel::{Connection, RunQueryDsl, sql_types::Text};
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = Text)]
            compile_options: String,
        }
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        let options: Vec<CompileOption> = diesel::sql_query("PRAGMA compile_options")
            .load(&mut conn)
            .unwrap();
        assert!(
            options.iter().any(|o| o.compile_options == "ENABLE_QPSG"),
            "build the bundled SQLite with LIBSQLITE3_FLAGS=-DSQLITE_ENABLE_QPSG"
        );
    }
}
