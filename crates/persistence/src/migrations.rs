//! Embedded migrations for both backends, applied at server start and by `cargo xtask migrate`.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
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
        let conn = &mut managed.conn;
        let postgres = matches!(conn, DbConnection::Postgres(_));
        if postgres {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
        }
        let tables = if postgres {
            POSTGRES_TABLES
        } else {
            SQLITE_TABLES
        };
        let applied = refuse_foreign_tables(conn, tables)
            .and_then(|()| refuse_newer_schema(conn))
            .and_then(|()| {
                match conn {
                    DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE),
                    DbConnection::Postgres(conn) => conn.run_pending_migrations(POSTGRES),
                }
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(|e| StoreError::Migration(e.to_string()))
            });
        if postgres {
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
        }
        applied
    }
}

/// The tables of the database (of its current schema, on PostgreSQL), by name.
const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
/// On PostgreSQL, tables only (plain, partitioned, foreign; not views), and not those an
/// extension made (PostGIS's `spatial_ref_sys`): an extension in a fresh database is not
/// another application.
const POSTGRES_TABLES: &str = "SELECT c.relname::text AS name FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'f') \
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
     AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY c.relname";

/// diesel's record of the migrations applied: a database that has it is evalboard's.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

#[derive(diesel::QueryableByName)]
struct Table {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Refuses to migrate a database that holds tables and was never evalboard's (no record of
/// migrations): `DATABASE_URL` is a common name, and one set for another application would
/// otherwise have evalboard create its tables among that application's.
fn refuse_foreign_tables(conn: &mut DbConnection, tables: &str) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    let names: Vec<String> = diesel::sql_query(tables)
        .load::<Table>(conn)?
        .into_iter()
        .map(|table| table.name)
        .collect();
    if names.is_empty() || names.iter().any(|name| name == MIGRATIONS_TABLE) {
        return Ok(());
    }
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    Err(StoreError::Migration(format!(
        "the database already holds tables evalboard did not make ({}{}): give evalboard a \
         database (or a PostgreSQL schema) of its own; is DATABASE_URL set for another \
         application?",
        shown.join(", "),
        if names.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    )))
}

/// Refuses a database a newer evalboard migrated (it has applied migrations this build does not
/// know): this build would run on it, but would not keep what those migrations added — counters
/// a newer build keeps with every write (`unparsed`, `answersCutOff`, `judgeFallbacks`) would
/// silently fall behind, and come back wrong under the newer build. (A replica of the older
/// version already running when another migrates keeps running; it is refused only when it
/// starts again.)
fn refuse_newer_schema(conn: &mut DbConnection) -> Result<(), StoreError> {
    let (applied, known) = match conn {
        DbConnection::Sqlite(conn) => (
            conn.applied_migrations(),
            versions::<diesel::sqlite::Sqlite>(&SQLITE),
        ),
        DbConnection::Postgres(conn) => (
            conn.applied_migrations(),
            versions::<diesel::pg::Pg>(&POSTGRES),
        ),
    };
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let (applied, known) = (applied.map_err(failed)?, known.map_err(failed)?);
    let mut unknown: Vec<String> = applied
        .iter()
        .map(ToString::to_string)
        .filter(|version| !known.contains(version))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    Err(StoreError::Migration(format!(
        "this database was migrated by a newer evalboard: {} migration(s) applied to it are \
         unknown to this build ({}); run that version (or a later one) on it, or restore the \
         backup made before the upgrade — this build would run, but not keep what they added",
        unknown.len(),
        unknown.join(", ")
    )))
}

/// The versions of the migrations `source` holds for backend `DB`.
fn versions<DB: diesel::backend::Backend>(
    source: &impl MigrationSource<DB>,
) -> diesel::migration::Result<Vec<String>> {
    Ok(source
        .migrations()?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}
