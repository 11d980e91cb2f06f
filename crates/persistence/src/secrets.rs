//! Secrets of the installation: random keys made on first use and kept in the database, so that
//! every replica of one database (and every restart) uses the same ones.

use chrono::Utc;
use diesel::prelude::*;

use crate::{
    connection::on_backend, database::Database, error::StoreError, schema::installation_secrets,
};

impl Database {
    /// The 32-byte secret called `name`: read, or made (random) and stored if there is none yet.
    /// Concurrent first calls agree: the first stored wins and everyone reads it back.
    pub fn installation_secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        self.write(|conn| {
            let mut fresh = [0u8; 32];
            fresh[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            fresh[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            let row = (
                installation_secrets::name.eq(name),
                installation_secrets::secret.eq(hex::encode(fresh)),
                installation_secrets::created_at.eq(Utc::now().naive_utc()),
            );
            on_backend!(conn, |c| diesel::insert_into(installation_secrets::table)
                .values(row.clone())
                .on_conflict_do_nothing()
                .execute(c))?;
            let stored: String = installation_secrets::table
                .find(name)
                .select(installation_secrets::secret)
                .first(conn)?;
            hex::decode(&stored)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| StoreError::corrupt(format!("installation secret `{name}`")))
        })
    }
}
