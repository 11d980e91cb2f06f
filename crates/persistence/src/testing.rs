//! Fresh, migrated databases for tests, on either backend (feature `testing`).
//!
//! SQLite tests get a file in a temporary directory. PostgreSQL tests get a schema of their own
//! on the server named by `EVALBOARD_TEST_POSTGRES_URL`, dropped when the test ends, so tests run
//! in parallel without seeing each other. Without that variable PostgreSQL tests are skipped
//! with a message, unless `EVALBOARD_REQUIRE_POSTGRES=1` (as in CI) makes that a failure.

use std::ops::Deref;

use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};

use crate::{Backend, Database, PoolOptions};

/// Names the PostgreSQL server tests use, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_ENV: &str = "EVALBOARD_TEST_POSTGRES_URL";
/// When set to `1`, a missing PostgreSQL test database fails tests instead of skipping them.
pub const REQUIRE_POSTGRES_ENV: &str = "EVALBOARD_REQUIRE_POSTGRES";

/// A migrated database that lives as long as the test holds it.
pub struct TestDatabase {
    database: Database,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Removed, with the database file, when dropped.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        server_url: String,
        schema: String,
    },
}

impl TestDatabase {
    /// A fresh SQLite database file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("evalboard.db").display());
        Self::open(url, Cleanup::Sqlite { _dir: dir })
    }

    /// A fresh PostgreSQL schema, or `None` (after saying so on stderr) when no test server is
    /// configured. Panics when none is configured but one is required.
    pub fn postgres() -> Option<Self> {
        let Some(server_url) = std::env::var(POSTGRES_URL_ENV)
            .ok()
            .filter(|u| !u.is_empty())
        else {
            assert!(
                std::env::var(REQUIRE_POSTGRES_ENV).as_deref() != Ok("1"),
                "{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is not set"
            );
            eprintln!("skipping a PostgreSQL test: {POSTGRES_URL_ENV} is not set");
            return None;
        };
        Some(Self::postgres_at(&server_url))
    }

    /// A fresh PostgreSQL schema on the server at `server_url`.
    pub fn postgres_at(server_url: &str) -> Self {
        let server_url = server_url.to_owned();
        let schema = format!("evalboard_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::establish(&server_url)
            .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL test server: {e}"));
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("create a test schema");
        let separator = if server_url.contains('?') { '&' } else { '?' };
        // The application name lets a test find this database's server connections.
        let url = format!(
            "{server_url}{separator}application_name={schema}&options=-c%20search_path%3D{schema}"
        );
        Self::open(url, Cleanup::Postgres { server_url, schema })
    }

    /// A fresh database of the given backend (`None` as for [`TestDatabase::postgres`]).
    pub fn of(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres(),
        }
    }

    fn open(url: String, cleanup: Cleanup) -> Self {
        let options = PoolOptions {
            max_connections: 4,
            ..PoolOptions::default()
        };
        let database = Database::connect(&url, &options).expect("connect to the test database");
        database.migrate().expect("migrate the test database");
        Self {
            database,
            url,
            cleanup,
        }
    }

    /// On PostgreSQL, has the server terminate every connection of this test database, as a
    /// database restart would; returns how many. Does nothing on SQLite.
    pub fn terminate_connections(&self) -> usize {
        let Cleanup::Postgres { server_url, schema } = &self.cleanup else {
            return 0;
        };
        #[derive(diesel::QueryableByName)]
        struct Terminated {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        let mut admin = PgConnection::establish(server_url).expect("reach the test server");
        let terminated: Terminated = diesel::sql_query(format!(
            "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
             WHERE application_name = '{schema}'"
        ))
        .get_result(&mut admin)
        .expect("terminate connections");
        terminated.count as usize
    }

    /// Waits until every committed event may be read: on PostgreSQL events wait for older
    /// transactions to end, and the cluster is shared with every other test running.
    pub fn wait_for_events_to_settle(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.events_wait_to_settle().expect("read the outbox") {
            assert!(std::time::Instant::now() < deadline, "events never settled");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// The URL of this database, for a server process started by the test.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Deref for TestDatabase {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.database
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { server_url, schema } = &self.cleanup
            && let Ok(mut admin) = PgConnection::establish(server_url)
        {
            // Best effort: a leftover schema only costs disk space on a test server.
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// Declares each listed test function (taking `&TestDatabase`) twice: in module `sqlite`, and in
/// module `postgres`, which skips when no PostgreSQL test server is configured.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::testing::TestDatabase::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(db) = $crate::testing::TestDatabase::postgres() {
                        super::$name(&db);
                    }
                }
            )*
        }
    };
}

/// A TCP proxy to a test's PostgreSQL server that a test can cut, as a network partition or
/// a database outage would: every connection through it dropped, new ones closed at once,
/// until it is mended. Other tests on the same server see nothing of it.
pub struct CutProxy {
    port: u16,
    open: tokio::sync::watch::Sender<bool>,
}

impl CutProxy {
    /// A proxy to the server of `database_url` (a `postgres://` URL), on a free local port.
    /// Call it within a Tokio runtime.
    pub async fn start(database_url: &str) -> Self {
        let upstream = {
            let after_scheme = database_url
                .split_once("://")
                .map_or(database_url, |(_, r)| r);
            let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            if host.contains(':') {
                host.to_owned()
            } else {
                format!("{host}:5432")
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let open = tokio::sync::watch::Sender::new(true);
        let watching = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut open = watching.subscribe();
                if !*open.borrow() {
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = open.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Self { port, open }
    }

    /// `database_url` with its host and port replaced by this proxy's.
    pub fn url_through(&self, database_url: &str) -> String {
        let (scheme, rest) = database_url
            .split_once("://")
            .unwrap_or(("postgres", database_url));
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let user = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"));
        format!(
            "{scheme}://{}127.0.0.1:{}{path}",
            user.unwrap_or_default(),
            self.port
        )
    }

    /// Drops every connection through the proxy, and closes new ones, until [`CutProxy::mend`].
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    /// Lets connections through again.
    pub fn mend(&self) {
        self.open.send_replace(true);
    }
}

/// An answer for a test to store: `response` to `prompt`, complete at `at`, and nothing more
/// (no reasoning, no cut, no first token, no usage, no cost, not from the cache). A test sets
/// what it is about with struct update syntax: `Answer { cut_off: …, ..answer(…) }`.
pub fn answer(prompt: &str, response: &str, at: evalboard_domain::Timestamp) -> crate::Answer {
    crate::Answer {
        prompt: prompt.to_owned(),
        response_text: response.to_owned(),
        reasoning_text: None,
        cut_off: None,
        request_key: None,
        cached: false,
        first_token_at: None,
        answered_at: at,
        usage: Default::default(),
        cost_usd: None,
    }
}
