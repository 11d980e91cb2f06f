//! What every handler can reach: the database and the provider registry.

use std::sync::Arc;

use evalboard_domain::Run;
use evalboard_persistence::{Database, StoreError};
use evalboard_runner::{EngineSignal, ProviderKind, ProviderRegistry};

use crate::{error::ApiError, events::EventHub};

/// Shared application state, cheap to clone into each worker.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Database,
    /// The configured providers.
    pub providers: Arc<ProviderRegistry>,
    /// The engine running runs on this server, if any.
    pub engine: Option<EngineSignal>,
    /// The live event stream, when this server serves one.
    pub events: Option<EventHub>,
}

impl AppState {
    /// State over a database and a provider registry, without an engine.
    pub fn new(db: Database, providers: impl Into<Arc<ProviderRegistry>>) -> Self {
        Self {
            db,
            providers: providers.into(),
            engine: None,
            events: None,
        }
    }

    /// The same state with an engine to wake and read activity from.
    pub fn with_engine(mut self, engine: EngineSignal) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The same state serving `GET /runs/events` from `hub`.
    pub fn with_events(mut self, hub: EventHub) -> Self {
        self.events = Some(hub);
        self
    }

    /// Tells the engine to look for work now (after a create, cancel or retry).
    pub(crate) fn wake_engine(&self) {
        if let Some(engine) = &self.engine {
            engine.wake();
        }
    }

    /// Whether a run's provider is simulated.
    pub(crate) fn is_simulated(&self, run: &Run) -> bool {
        self.providers
            .get(&run.provider_name)
            .is_some_and(|p| p.kind == ProviderKind::Simulated)
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
