//! One server per worker name on a database. Claims on items are made in a worker's name, and
//! a server resumes the claims held in its name when it starts: two live servers sharing a name
//! (one `EVALBOARD_WORKER_ID` given to every replica, say) would each take the other's items in
//! flight as its own and send them again. On PostgreSQL a server holds its name with a session
//! advisory lock on a connection of its own, which PostgreSQL releases the moment the server's
//! process or connection is gone — a crashed server's restart is not held up. On SQLite the data
//! directory's lock already keeps a second server off the worker name it holds.

use std::sync::Mutex;

use diesel::{
    connection::SimpleConnection,
    pg::PgConnection,
    prelude::*,
    sql_types::{Bool, Integer, Text},
};

use crate::{connection::Backend, database::Database, error::StoreError};

/// The first key of the advisory locks on worker names (the second is the name's hash): the
/// two-key lock space, apart from the migration lock's single key.
const WORKER_NAME_LOCK_SPACE: i32 = 0x6577_6b72; // "ewkr"

/// A worker name this server holds on the database until it is dropped.
pub struct WorkerNameHold {
    worker: String,
    /// PostgreSQL: the connection whose session holds the lock (`None` on SQLite).
    session: Option<Mutex<Option<PgConnection>>>,
    target: String,
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    taken: bool,
}

impl Database {
    /// Holds `worker` for this server alone; a conflict when another live server holds it.
    pub fn hold_worker_name(&self, worker: &str) -> Result<WorkerNameHold, StoreError> {
        let mut hold = WorkerNameHold {
            worker: worker.to_owned(),
            session: None,
            target: self.url_target().to_owned(),
        };
        if self.backend() == Backend::Postgres {
            let session = hold.lock_on_new_session()?;
            hold.session = Some(Mutex::new(Some(session)));
        }
        Ok(hold)
    }
}

impl WorkerNameHold {
    /// The worker name held.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Checks that the name is still held, and takes it again when the session holding it was
    /// lost (PostgreSQL restarted, the connection cut): a conflict when another server took
    /// the name meanwhile; unavailable while the database cannot be reached (then it is tried
    /// again at the next check).
    pub fn keep(&self) -> Result<(), StoreError> {
        let Some(session) = &self.session else {
            return Ok(());
        };
        let mut session = session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(conn) = session.as_mut()
            && diesel::sql_query("SELECT 1").execute(conn).is_ok()
        {
            return Ok(());
        }
        *session = None;
        *session = Some(self.lock_on_new_session()?);
        Ok(())
    }

    /// A new session holding the name's lock.
    fn lock_on_new_session(&self) -> Result<PgConnection, StoreError> {
        let mut conn = PgConnection::establish(&self.target)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // A server whose host died, or whose network was cut, sends no goodbye: PostgreSQL
        // keeps its session, and the name, until TCP says it is gone — about two hours with
        // the system's defaults. Probed every 10 s after 30 s of silence, the session (and the
        // name) is freed within a minute.
        conn.batch_execute(
            "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; \
             SET tcp_keepalives_count = 3",
        )?;
        let taken: Taken =
            // Advisory locks are the database's; an installation is its schema (several can
            // share a database, each with its own search path), so the schema is in the key.
            diesel::sql_query(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema() || '/' || $2)) AS taken",
            )
                .bind::<Integer, _>(WORKER_NAME_LOCK_SPACE)
                .bind::<Text, _>(&self.worker)
                .get_result(&mut conn)?;
        if taken.taken {
            Ok(conn)
        } else {
            Err(StoreError::Conflict(format!(
                "another server on this database is running under the worker name `{}`: give \
                 each server a name of its own (EVALBOARD_WORKER_ID, or leave it unset for a \
                 random one kept in the data directory); a server that is gone frees its name \
                 within a minute",
                self.worker
            )))
        }
    }
}
