//! What every handler can reach: the database and the provider registry.

use std::sync::Arc;

use evalboard_persistence::{Database, StoreError};
use evalboard_runner::ProviderRegistry;

use crate::error::ApiError;

/// Shared application state, cheap to clone into each worker.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Database,
    /// The configured providers.
    pub providers: Arc<ProviderRegistry>,
}

impl AppState {
    /// State over a database and a provider registry.
    pub fn new(db: Database, providers: ProviderRegistry) -> Self {
        Self {
            db,
            providers: Arc::new(providers),
        }
    }

    /// Runs a blocking database call on actix's blocking pool, so request workers never wait
    /// on the database.
    pub(crate) async fn with_db<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let db = self.db.clone();
        actix_web::web::block(move || call(&db))
            .await
            .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?
            .map_err(ApiError::from)
    }
}
