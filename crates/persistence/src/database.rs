//! The `Database` handle: a connection pool plus the rules for reading and writing through it.

use std::sync::{Arc, Mutex};

use diesel::{
    Connection,
    connection::{AnsiTransactionManager, SimpleConnection, TransactionManager},
};

use crate::{
    connection::{
        Backend, ConnectionManager, DatabaseUrl, DbConnection, PoolOptions, prepare_sqlite_file,
    },
    error::StoreError,
    events,
};

type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// evalboard's database: cheap to clone, safe to share between threads.
///
/// Calls block; async callers run them on a blocking thread. Repository methods live in
/// `impl Database` blocks, one module per kind of data.
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<ConnectionManager>,
    url: DatabaseUrl,
    /// SQLite allows one writer at a time; taking turns here, in-process, keeps writers from
    /// failing each other's lock upgrades with `SQLITE_BUSY`. `None` on PostgreSQL.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// Counts this process's commits that wrote events, so the live stream reads them at once.
    event_commits: Arc<tokio::sync::watch::Sender<u64>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A SQLite transaction that takes the write lock at `BEGIN IMMEDIATE`, waiting on the busy
/// timeout if another process holds it. A deferred `BEGIN` would take it at the first write
/// instead, and a read-then-write transaction that loses that race fails at once with
/// `SQLITE_BUSY` (the busy handler does not retry a lock upgrade in WAL mode).
///
/// Same steps as diesel's `Connection::transaction`, with another `BEGIN`: the transaction
/// state lives in the inner connection, so the multi-connection's commit and rollback apply.
fn immediate_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    type Manager = <DbConnection as Connection>::TransactionManager;
    if let DbConnection::Sqlite(sqlite) = conn {
        AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    }
    match f(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(commit_error) => {
                let _ = Manager::rollback_transaction(conn);
                Err(commit_error.into())
            }
        },
        Err(error) => {
            Manager::rollback_transaction(conn)?;
            Err(error)
        }
    }
}

impl Database {
    /// Runs `call` on tokio's blocking pool, so that async tasks never wait on the database
    /// (the engine, the event stream). A call that panicked reads as unavailable.
    pub async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || call(&db))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Unavailable(format!(
                    "database task failed: {e}"
                )))
            })
    }
}

/// Makes a SQLite database file that does not exist yet readable and writable by its owner
/// only (SQLite gives its WAL and shared-memory files the same mode): it holds the session
/// cookies' signing key, with which anyone who reads it could sign in as any token's holder,
/// and SQLite would otherwise create it as the umask allows (0644, readable by every user of
/// the machine). A file that exists is left as it is, with a warning when others may read it.
fn keep_private(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = match std::fs::metadata(path) {
                    Ok(metadata) => metadata.permissions().mode(),
                    // A link to nothing: SQLite makes what it points to, as before.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(error) => return Err(error),
                };
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "the database file may be read by other users of this machine, and it \
                         holds the key session cookies are signed with: `chmod 600` it (and its \
                         -wal and -shm files)"
                    );
                }
            }
            Err(error) => return Err(error),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Database {
    /// Opens a pool on `url` (see [`DatabaseUrl::parse`]) and checks that a connection can be
    /// made. For SQLite, the file's directory is created when missing.
    pub fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let url = DatabaseUrl::parse(url)?;
        if let Some(path) = url.sqlite_path()
            && let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        if url.backend() == Backend::Sqlite {
            // (A `file:` URI says how to open the file, `mode=ro` say: left to SQLite.)
            if let Some(path) = url
                .sqlite_path()
                .filter(|_| !url.target().starts_with("file:"))
            {
                keep_private(std::path::Path::new(path))
                    .map_err(|e| StoreError::Unavailable(format!("cannot create {path}: {e}")))?;
            }
            prepare_sqlite_file(&url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .connection_timeout(options.acquire_timeout)
            .test_on_check_out(false)
            .event_handler(Box::new(PoolMetrics))
            // Failures to connect are logged by the manager, as one outage.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(ConnectionManager::new(url.clone()))?;
        let sqlite_writer = (url.backend() == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Self {
            pool,
            url,
            sqlite_writer,
            event_commits: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// Which backend this database is.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// The connection target: the PostgreSQL URL or the SQLite path.
    pub(crate) fn url_target(&self) -> &str {
        self.url.target()
    }

    /// Where the database is, with any password hidden.
    pub fn redacted_url(&self) -> String {
        self.url.redacted()
    }

    /// A connection from the pool; waits at most the pool's acquire timeout.
    pub(crate) fn connection(&self) -> Result<PooledConnection, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Checks that the database answers a query.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| Ok(conn.batch_execute("SELECT 1")?))
    }

    /// Checks that the database answers a query, waiting at most `wait` for a connection
    /// (not the pool's acquire timeout): a readiness probe gives up after a second or so, and
    /// should get its answer, not a timeout of its own.
    pub fn ping_within(&self, wait: std::time::Duration) -> Result<(), StoreError> {
        self.read_within(wait, |conn| Ok(conn.batch_execute("SELECT 1")?))
    }

    /// Checks that the database takes writes, by writing a row and rolling it back. A SQLite
    /// file the server may read but not write (a backup restored by another user) passes every
    /// other check at start, and then fails the first request that writes.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        use diesel::{Connection, result::Error};
        self.on_connection(|conn| {
            let probe = conn.transaction::<(), Error, _>(|conn| {
                conn.batch_execute(
                    "INSERT INTO __diesel_schema_migrations (version) VALUES ('write-probe')",
                )?;
                Err(Error::RollbackTransaction)
            });
            match probe {
                Err(Error::RollbackTransaction) | Ok(()) => Ok(()),
                Err(error) => Err(error.into()),
            }
        })
    }

    /// Runs `f` on a pooled connection, outside any transaction. On PostgreSQL, a read that
    /// finds its pooled connection dead (the server restarted) retires it and tries the next
    /// one, up to the pool's size: reads are safe to repeat, and the client should not see a
    /// restart the pool can absorb. SQLite's "unavailable" means busy past the timeout, which
    /// waiting again would not cure.
    pub(crate) fn read<T>(
        &self,
        f: impl Fn(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let retries = match self.backend() {
            Backend::Postgres => self.pool.max_size(),
            Backend::Sqlite => 0,
        };
        let mut attempt = 0;
        loop {
            // A connection the pool cannot give (the database is down: each try waits the
            // acquire timeout) is not tried again: only one that broke in use is replaced.
            let managed = self.connection()?;
            match self.on_pooled(managed, &f) {
                Err(StoreError::Unavailable(_)) if attempt < retries => attempt += 1,
                other => return other,
            }
        }
    }

    /// Runs `f` as [`Database::read`] does, but waits at most `wait` for a connection (not
    /// the pool's acquire timeout) and tries no other: for a caller with a deadline of its own
    /// (a readiness probe, a metrics scrape), which should get an answer in time rather than
    /// time out itself while the database is out of reach.
    pub(crate) fn read_within<T>(
        &self,
        wait: std::time::Duration,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.on_pooled(self.pool.get_timeout(wait)?, f)
    }

    /// Runs `f` in one transaction: everything it writes is committed together or not at all.
    /// Writes are never repeated here: after a lost connection the outcome is the caller's to
    /// find out.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _turn = self
            .sqlite_writer
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let (value, wrote_events) = self.on_connection(|conn| {
            let body = |conn: &mut DbConnection| events::gathering(conn, f);
            match conn {
                DbConnection::Postgres(_) => conn.transaction(body),
                DbConnection::Sqlite(_) => immediate_transaction(conn, body),
            }
        })?;
        if wrote_events {
            self.event_commits.send_modify(|commits| *commits += 1);
        }
        Ok(value)
    }

    /// Changes each time this process commits a transaction that wrote events: the live stream
    /// waits on it rather than polling. Commits of other processes are announced by
    /// [`Database::event_listener`].
    pub fn event_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.event_commits.subscribe()
    }

    /// Runs `f` on a pooled connection; a PostgreSQL connection that turned out to be lost is
    /// retired instead of going back to the pool.
    fn on_connection<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.on_pooled(self.connection()?, f)
    }

    /// Runs `f` on `managed`, marking it lost (not returned to the pool) when `f` found the
    /// database gone.
    fn on_pooled<T>(
        &self,
        mut managed: PooledConnection,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = f(&mut managed.conn);
        if matches!(result, Err(StoreError::Unavailable(_))) && self.backend() == Backend::Postgres
        {
            managed.lost = true;
        }
        result
    }
}

/// Requests that gave up waiting for a pooled connection.
pub(crate) const POOL_TIMEOUTS: &str = "evalboard_db_pool_timeouts_total";

/// Reports how long requests wait for a pooled connection, and how many give up.
#[derive(Debug)]
struct PoolMetrics;

impl r2d2::HandleEvent for PoolMetrics {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        metrics::histogram!("evalboard_db_pool_wait_seconds")
            .record(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, _: r2d2::event::TimeoutEvent) {
        metrics::counter!(POOL_TIMEOUTS).increment(1);
    }
}
