//! Embedded migrations for both backends, applied at server start and by `cargo xtask migrate`.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{connection::DbConnection, database::Database, error::StoreError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Any fixed number works; every replica must use the same one so that only one of them
/// migrates at a time.
const MIGRATION_LOCK_KEY: i64 = 0x6576_616c_626f_6172; // "evalboar"

impl Database {
    /// Applies every pending migration and returns the versions applied. On PostgreSQL this
    /// holds an advisory lock, so replicas starting together migrate one after another.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut managed = self.connection()?;
        let applied = match &mut managed.conn {
            DbConnection::Sqlite(conn) => conn
                .run_pending_migrations(SQLITE)
                .map(|versions| versions.iter().map(ToString::to_string).collect()),
            DbConnection::Postgres(conn) => {
                conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
                let result = conn
                    .run_pending_migrations(POSTGRES)
                    .map(|versions| versions.iter().map(ToString::to_string).collect());
                conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
                result
            }
        };
        applied.map_err(|e| StoreError::Migration(e.to_string()))
    }
}
