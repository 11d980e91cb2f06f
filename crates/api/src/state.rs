//! What every handler can reach: the database, the provider registry, the engine, the event
//! stream and the Browser Harness keys.

use std::sync::Arc;

use evalboard_domain::Run;
use evalboard_harness::{KeyId, KeyRing, KeyStatus, PackSigner, TrustedKey, VerifyingKey};
use evalboard_persistence::{Database, StoreError};
use evalboard_runner::{EngineSignal, ProviderKind, ProviderRegistry};

use crate::{
    auth::{Access, SESSION_SECRET, Sessions},
    base_path::BasePath,
    error::ApiError,
    events::EventHub,
};

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
    /// The keys behind the Browser Harness endpoints, when this server serves them.
    pub harness: Option<Arc<HarnessKeys>>,
    /// Per-run concurrency of a run that sets none (`[engine] default_run_concurrency`): new
    /// runs store the settings in force.
    pub default_run_concurrency: u32,
    /// Who may call the API.
    access: Arc<Access>,
    /// What one client may take of the server.
    limits: Arc<crate::limits::Enforcer>,
    /// Page cursors, signed with the installation's key (read on first use).
    cursors: Arc<tokio::sync::OnceCell<crate::cursor::Cursors>>,
    /// Dashboard sessions, signed with the installation's key (read on first use).
    sessions: Arc<tokio::sync::OnceCell<Sessions>>,
    /// Renders the metrics recorded so far in Prometheus's text format, when this server keeps
    /// them.
    pub(crate) metrics: Option<MetricsRenderer>,
    /// The path browsers reach the server below (`http.base_path`).
    base_path: Arc<BasePath>,
}

/// Renders recorded metrics in Prometheus's text format.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// The Browser Harness's keys: the one that signs new packs, and every public key whose packs
/// still import (the signer's and retired ones).
#[derive(Debug)]
pub struct HarnessKeys {
    signer: PackSigner,
    ring: KeyRing,
    /// Keys revoked on purpose (leaked, say): their packs' captures are refused as such, and
    /// their packs are not what a start's warning of untrusted signers is about.
    revoked: Vec<KeyId>,
}

impl HarnessKeys {
    /// Signs with `signer`; trusts it and the `retired` public keys.
    pub fn new(signer: PackSigner, retired: impl IntoIterator<Item = VerifyingKey>) -> Self {
        let active = TrustedKey::new(signer.public_key(), KeyStatus::Active);
        let retired = retired
            .into_iter()
            .map(|key| TrustedKey::new(key, KeyStatus::Retired));
        Self {
            ring: KeyRing::new(std::iter::once(active).chain(retired)),
            signer,
            revoked: Vec::new(),
        }
    }

    /// The same keys, with `revoked` ones refused as revoked (`harness.revoked_public_keys`):
    /// trusted no more, even if listed as retired too (which the configuration refuses at
    /// start).
    pub fn with_revoked(mut self, revoked: impl IntoIterator<Item = VerifyingKey>) -> Self {
        self.revoked = revoked.into_iter().map(|key| KeyId::of(&key)).collect();
        self.ring = KeyRing::new(
            self.ring
                .keys()
                .filter(|key| !self.revoked.contains(&key.id))
                .cloned(),
        );
        self
    }

    /// Whether the key with this id was revoked.
    pub fn is_revoked(&self, id: &str) -> bool {
        self.revoked.iter().any(|key| key.as_str() == id)
    }

    /// The key new packs are signed with.
    pub fn signer(&self) -> &PackSigner {
        &self.signer
    }

    /// The public keys whose packs import.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The ids of the keys that signed packs still valid at `at` which this server does not
    /// trust, with how many each signed: another replica's own key, or a key rotated out and
    /// not listed as retired ([`FIX_UNTRUSTED_SIGNER`]). Their captures are refused here.
    pub fn untrusted_signers(
        &self,
        db: &Database,
        at: evalboard_domain::Timestamp,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(db
            .valid_pack_signers(at)?
            .into_iter()
            .filter(|(key, _)| self.ring.get(key).is_none() && !self.is_revoked(key))
            .collect())
    }
}

/// What to do about packs signed with a key this installation used but this server does not
/// trust.
pub const FIX_UNTRUSTED_SIGNER: &str = "replicas must share one signing key \
    (harness.signing_key_file), and a key rotated out belongs in harness.retired_public_keys";

impl AppState {
    /// State over a database and a provider registry, without an engine.
    pub fn new(db: Database, providers: impl Into<Arc<ProviderRegistry>>) -> Self {
        Self {
            db,
            providers: providers.into(),
            engine: None,
            events: None,
            harness: None,
            default_run_concurrency: evalboard_runner::EngineConfig::new("")
                .default_run_concurrency,
            access: Arc::default(),
            limits: Arc::new(crate::limits::Enforcer::new(crate::limits::Limits::none())),
            cursors: Arc::default(),
            sessions: Arc::default(),
            metrics: None,
            base_path: Arc::default(),
        }
    }

    /// The same state served below `base_path` (the root by default).
    pub fn with_base_path(mut self, base_path: BasePath) -> Self {
        self.base_path = Arc::new(base_path);
        self
    }

    /// The path browsers reach the server below.
    pub(crate) fn base_path(&self) -> &BasePath {
        &self.base_path
    }

    /// The same state serving `GET /metrics` with what `render` writes.
    pub fn with_metrics(mut self, render: MetricsRenderer) -> Self {
        self.metrics = Some(render);
        self
    }

    /// The same state letting only what `access` allows through (open by default).
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = Arc::new(access);
        self
    }

    /// The same state enforcing `limits` (none by default).
    pub fn with_limits(mut self, limits: crate::limits::Limits) -> Self {
        self.limits = Arc::new(crate::limits::Enforcer::new(limits));
        self
    }

    /// What one client may take of the server.
    pub(crate) fn limits(&self) -> &crate::limits::Enforcer {
        &self.limits
    }

    /// Who may call the API.
    pub(crate) fn access(&self) -> &Access {
        &self.access
    }

    /// The dashboard's session cookies: their key is read (or made) once.
    pub(crate) async fn sessions(&self) -> Result<&Sessions, ApiError> {
        self.sessions
            .get_or_try_init(|| async {
                let key = self
                    .with_db(|db| db.installation_secret(SESSION_SECRET))
                    .await?;
                Ok(Sessions::new(key))
            })
            .await
    }

    /// The page cursors of this installation: their key is read (or made) once.
    pub(crate) async fn cursors(&self) -> Result<&crate::cursor::Cursors, ApiError> {
        self.cursors
            .get_or_try_init(|| async {
                let key = self
                    .with_db(|db| db.installation_secret(crate::cursor::CURSOR_SECRET))
                    .await?;
                Ok(crate::cursor::Cursors::new(key))
            })
            .await
    }

    /// The same state giving new runs `concurrency` when they set none.
    pub fn with_default_run_concurrency(mut self, concurrency: u32) -> Self {
        self.default_run_concurrency = concurrency;
        self
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

    /// The same state serving the Browser Harness endpoints with `keys`.
    pub fn with_harness(mut self, keys: HarnessKeys) -> Self {
        self.harness = Some(Arc::new(keys));
        self
    }

    /// The Browser Harness keys, or a 503 on a server that has none.
    pub(crate) fn harness(&self) -> Result<Arc<HarnessKeys>, ApiError> {
        self.harness.clone().ok_or_else(|| {
            ApiError::Unavailable("this server has no Browser Harness signing key".into())
        })
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
