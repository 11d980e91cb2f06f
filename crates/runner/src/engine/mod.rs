//! The execution engine: claims items of active runs, works them concurrently within the
//! per-run, global and per-provider limits, and stores what came of them.
//!
//! - The **dispatcher** (this module) polls for runs to schedule and runs being canceled, claims
//!   items (leases in the database) and spawns a worker per item.
//! - **Workers** (`worker.rs`) ask the model, retry with backoff, judge, and report outcomes.
//! - The **writer** (`writer.rs`) stores outcomes in batches.
//! - The **renewer** keeps this engine's claims alive; a crashed engine's claims expire and
//!   another claim takes the items over (a resume).
//! - A **drain** ([`EngineHandle::drain`]) stops an engine on purpose: nothing new is claimed or
//!   sent, items in flight get [`EngineConfig::drain`] to finish, and every claim left is given
//!   back (no lease to wait for, no resume).

mod activity;
mod gate;
mod held;
mod worker;
mod writer;

use std::{
    collections::{HashMap, VecDeque},
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use evalboard_domain::{
    BUDGET_EXHAUSTED, JudgeSettings, Run, RunId, RunStatus, Timestamp, truncate_to_micros,
};
use evalboard_persistence::{
    Backend, ClaimRequest, ClaimedItem, Database, LogLevel, Outage, RunGeneration, StoreError,
};
use futures_util::FutureExt;
use tokio::{
    sync::{Notify, mpsc},
    task::{JoinHandle, JoinSet},
};
use tokio_util::sync::CancellationToken;

pub use activity::{Activity, ActivityBoard, LivePosition, LiveText};
use gate::ProviderGate;
use worker::{Answering, LlmJudge, RunContext, Throttling};
use writer::WriterMessage;

use crate::{
    providers::{ClientSet, ProviderRegistry},
    reproducibility::{CONFIGURATION_CHANGED, configuration_changes},
};

/// How the engine works; the defaults suit one server.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Names this engine's claims. Stable across restarts of one server, so that a restarted
    /// server takes its previous claims back at once; distinct between replicas.
    pub worker: String,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How often claims are renewed (well under `lease`).
    pub renew_every: Duration,
    /// How often the dispatcher looks for new work and cancels without being woken.
    pub poll_every: Duration,
    /// Most items in flight on this engine, across runs.
    pub global_concurrency: usize,
    /// Per-run concurrency when the run does not set one.
    pub default_run_concurrency: u32,
    /// Most outcomes stored in one transaction.
    pub batch_size: usize,
    /// How long an outcome may wait for others to join its batch: at moderate rates each
    /// commit would otherwise carry one or two outcomes, and a commit's fixed cost (on SQLite,
    /// every page it touched written to the WAL again) would dominate the cost per item. It
    /// delays what the event stream shows by as much; at high rates batches fill meanwhile
    /// anyway and nothing waits.
    pub commit_window: Duration,
    /// First retry delay; later ones grow exponentially, with jitter.
    pub retry_base_delay: Duration,
    /// How long a drain lets the requests already sent finish before it aborts them and gives
    /// their items back (zero: at once).
    pub drain: Duration,
    /// How long [`worker::FAILED_IN_A_ROW`] items in a row must have failed the way a provider
    /// that is down fails them before the run fails: an outage shorter than this (a restart)
    /// fails only the items it met.
    pub provider_down: Duration,
}

impl EngineConfig {
    /// Defaults for a worker name.
    pub fn new(worker: impl Into<String>) -> Self {
        Self {
            worker: worker.into(),
            lease: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            poll_every: Duration::from_millis(250),
            global_concurrency: 256,
            default_run_concurrency: 8,
            batch_size: 512,
            commit_window: Duration::from_millis(20),
            retry_base_delay: Duration::from_millis(500),
            drain: Duration::from_secs(10),
            provider_down: Duration::from_secs(120),
        }
    }
}

/// What the dispatcher, workers and writer share.
pub(crate) struct Shared {
    db: Database,
    registry: Arc<ProviderRegistry>,
    clients: ClientSet,
    gates: HashMap<String, Arc<ProviderGate>>,
    activity: ActivityBoard,
    config: EngineConfig,
    writer: mpsc::UnboundedSender<(Instant, WriterMessage)>,
    wake: Arc<Notify>,
    /// Cancelled when the engine stops: items still in flight are aborted.
    shutdown: CancellationToken,
    /// Cancelled when a drain begins: nothing more is claimed, started or sent.
    draining: CancellationToken,
    /// Items being worked on here, by run: the claims the renewer keeps alive.
    working: Mutex<held::HeldClaims>,
    /// Items whose worker is running here.
    in_flight: AtomicUsize,
    /// Items given back during a drain.
    released: AtomicUsize,
    /// Whether this engine's claims are known to be kept: false from a renewal that could not
    /// reach the database until one that could. Meanwhile nothing is claimed or sent (see
    /// [`Shared::claims_kept`]).
    claims_kept: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// Waits until this engine's claims are known to be kept. While renewals fail (the
    /// database out of reach), a claim may run out under a request: another server then takes
    /// the item over and the answer, paid for, is thrown away (a 75 s outage sent 118 requests
    /// for 100 items). So a send waits for the next renewal that works, and the dispatcher
    /// claims nothing — which also lets the renewal, not a claim of this engine's own, be
    /// the first to find its expired claims: renewed, not taken over from itself.
    async fn claims_kept(&self) {
        let mut kept = self.claims_kept.subscribe();
        // The sender lives as long as `self`: the wait cannot end for want of it.
        let _ = kept.wait_for(|kept| *kept).await;
    }

    /// Whether this engine's claims are known to be kept now.
    fn claims_known_kept(&self) -> bool {
        *self.claims_kept.borrow()
    }

    fn send(&self, message: WriterMessage) {
        // The writer outlives every worker; a send can only fail during shutdown.
        let _ = self.writer.send((Instant::now(), message));
    }

    fn stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    fn draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    fn working(&self) -> std::sync::MutexGuard<'_, held::HeldClaims> {
        self.working
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running engine. Dropping it does not stop it; call [`EngineHandle::drain`] (or
/// [`EngineHandle::shutdown`]).
pub struct EngineHandle {
    signal: EngineSignal,
    shared: Arc<Shared>,
    dispatcher: JoinHandle<()>,
    /// Says whether, stopping, it gave up storing answers.
    writer: JoinHandle<bool>,
    renewer: JoinHandle<()>,
}

/// Starts or hurries a drain from elsewhere (a signal handler) while the [`EngineHandle`] waits
/// for something else (the HTTP server to stop).
#[derive(Clone)]
pub struct EngineStopper {
    shared: Arc<Shared>,
}

impl EngineStopper {
    /// Begins a drain (see [`EngineHandle::drain`]), if none has begun: from now on nothing is
    /// claimed or sent, and the items in flight have [`EngineConfig::drain`] to finish. Returns
    /// whether this began it.
    pub fn begin_drain(&self) -> bool {
        let began = !self.shared.draining.is_cancelled();
        self.shared.draining.cancel();
        began
    }

    /// Ends a drain's wait now: the items still in flight are aborted and given back.
    pub fn hurry(&self) {
        self.shared.draining.cancel();
        self.shared.shutdown.cancel();
    }

    /// How many items are being worked on here.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// How long a drain waits for them.
    pub fn drain_window(&self) -> Duration {
        self.shared.config.drain
    }
}

/// What the API needs of the engine: a way to say "look now" and the streaming activity.
#[derive(Clone)]
pub struct EngineSignal {
    wake: Arc<Notify>,
    activity: ActivityBoard,
}

impl EngineSignal {
    /// Makes the dispatcher look for work and cancels now instead of at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Streaming activity of items in flight on this server.
    pub fn activity(&self) -> &ActivityBoard {
        &self.activity
    }
}

impl EngineHandle {
    /// Starts an engine on `db` for the providers of `registry`, talking to them through
    /// `clients`. Claims this worker held before a restart are taken back at once.
    pub fn start(
        db: Database,
        registry: Arc<ProviderRegistry>,
        clients: ClientSet,
        config: EngineConfig,
    ) -> Self {
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        let gates = registry
            .providers()
            .iter()
            .map(|p| (p.name.clone(), ProviderGate::new(&p.name, &p.limits)))
            .collect();
        let shared = Arc::new(Shared {
            db,
            registry,
            clients,
            gates,
            activity: ActivityBoard::default(),
            config,
            writer: writer_tx,
            wake: Arc::clone(&wake),
            shutdown: CancellationToken::new(),
            draining: CancellationToken::new(),
            working: Mutex::new(held::HeldClaims::default()),
            in_flight: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            claims_kept: tokio::sync::watch::Sender::new(true),
        });
        Self {
            signal: EngineSignal {
                wake,
                activity: shared.activity.clone(),
            },
            writer: tokio::spawn(writer::run(Arc::clone(&shared), writer_rx)),
            renewer: tokio::spawn(renew(Arc::clone(&shared))),
            dispatcher: tokio::spawn(Dispatcher::new(Arc::clone(&shared)).run()),
            shared,
        }
    }

    /// The handle the API keeps.
    pub fn signal(&self) -> EngineSignal {
        self.signal.clone()
    }

    /// What begins or hurries a drain from another task.
    pub fn stopper(&self) -> EngineStopper {
        EngineStopper {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops claiming, aborts items in flight (their claims stay, so a restart takes them
    /// back, as after a crash), stores the outcomes already reported, and waits for all of it.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.join().await;
    }

    /// Stops the engine on purpose, giving its work back for another worker to take at once:
    ///
    /// 1. Nothing more is claimed, started or sent (no first attempt, no retry, no LLM judge);
    ///    the items claimed ahead and never sent are given back at once.
    /// 2. Requests already sent complete and their outcomes are stored, for up to
    ///    [`EngineConfig::drain`] since the drain began (or until [`EngineStopper::hurry`]);
    ///    each item whose worker stops without finishing it is given back as it stops.
    /// 3. Then what is still in flight is aborted, every outcome reported is stored, and every
    ///    claim this worker still holds is given back, one transaction per run
    ///    ([`Database::release_claims`]).
    ///
    /// Items given back are claimable at once, and count no resume. Returns how many items were
    /// given back, and what the database's absence left undone. A drain that began earlier
    /// ([`EngineStopper::begin_drain`]) keeps its start.
    pub async fn drain(self) -> Drained {
        self.shared.draining.cancel();
        let (shared, answers_lost) = self.join().await;
        let worker = shared.config.worker.clone();
        let released = shared
            .db
            .blocking(move |db| db.release_claims(&worker, now()))
            .await;
        let before = shared.released.load(Ordering::Relaxed);
        match released {
            Ok(n) => Drained {
                released: before + n,
                answers_lost,
                claims_kept: false,
            },
            Err(error) => {
                // Their leases will run out: another worker takes them then, as after a crash.
                tracing::warn!(%error, "cannot release this worker's claims");
                Drained {
                    released: before,
                    answers_lost,
                    claims_kept: true,
                }
            }
        }
    }

    /// Waits for the dispatcher (which stops at the shutdown, or once drained), then for the
    /// writer to store everything and the renewer to stop. Returns the shared state, and
    /// whether the writer gave up storing answers.
    async fn join(self) -> (Arc<Shared>, bool) {
        let Self {
            shared,
            dispatcher,
            writer,
            renewer,
            ..
        } = self;
        if dispatcher.await.is_err() {
            // It panicked before telling the writer to stop: the writer stores what it has.
            shared.send(WriterMessage::Stop);
        }
        // The writer stores what it was given, retrying through a database hiccup (it stops
        // retrying once the shutdown is cancelled) for a while: answers that came in during a
        // drain are not dropped for a moment's unavailability, nor is a stop held up for ever.
        let mut writer = writer;
        let stored = match tokio::time::timeout(FINAL_FLUSH, &mut writer).await {
            Ok(stored) => stored,
            Err(_) => {
                shared.shutdown.cancel();
                writer.await
            }
        };
        // The leases were kept alive meanwhile; now the renewer stops too.
        shared.shutdown.cancel();
        let _ = renewer.await;
        // (A writer that panicked said so in the log.)
        (shared, stored.unwrap_or(false))
    }
}

/// What a drain gave back, and what the database's absence left undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Items given back, claimable at once.
    pub released: usize,
    /// Whether answers that came back could not be stored: their items are answered again.
    pub answers_lost: bool,
    /// Whether the claims still held could not be given back: their items are taken up once
    /// the claims expire (at this worker's next start, or after the lease by another).
    pub claims_kept: bool,
}

/// How long a stopping engine's writer may retry storing what it still holds.
const FINAL_FLUSH: Duration = Duration::from_secs(10);

fn now() -> Timestamp {
    truncate_to_micros(Utc::now())
}

/// Why a run cannot be worked on here.
#[derive(Debug)]
enum Unworkable {
    /// This server lacks something of its own setup: a provider, model or judge not configured
    /// on it, or a key variable not set on it. On PostgreSQL a server set up for the run
    /// (another replica, or this one mended and restarted) can work on it: the run is left to
    /// it, not failed — one misconfigured replica would otherwise fail every run of the
    /// others. On SQLite there is no other server: the run fails.
    Here { kind: String, message: String },
    /// The run cannot go on as it is (its configuration changed since it was made): it fails,
    /// and a retry with `force` says to go on all the same.
    Run { kind: String, message: String },
}

impl Unworkable {
    fn here(kind: &str, message: String) -> Self {
        Self::Here {
            kind: kind.to_owned(),
            message,
        }
    }

    /// The failure's kind and message.
    fn into_reason(self) -> (String, String) {
        match self {
            Self::Here { kind, message } | Self::Run { kind, message } => (kind, message),
        }
    }
}

/// Why a provider cannot be used, when its API key variable is not set.
fn missing_key(provider: &crate::providers::Provider) -> Result<(), Unworkable> {
    match provider.missing_key() {
        Some(var) => Err(Unworkable::here(
            "not_configured",
            format!(
                "provider `{}` has no API key: the environment variable {var} is not set on this server",
                provider.name
            ),
        )),
        None => Ok(()),
    }
}

/// How soon a renewal is tried again after one could not reach the database.
const RENEW_AGAIN: Duration = Duration::from_secs(1);

/// Keeps this engine's claims alive.
async fn renew(shared: Arc<Shared>) {
    // Every renewal fails alike while the database is down: logged as an outage.
    let outage = Outage::new("renew claims");
    loop {
        // While renewals fail, the next is tried sooner: sends and claims wait for it.
        let pause = if shared.claims_known_kept() {
            shared.config.renew_every
        } else {
            shared.config.renew_every.min(RENEW_AGAIN)
        };
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        let worker = shared.config.worker.clone();
        let lease = shared.config.lease;
        let until = now() + chrono::Duration::from_std(lease).unwrap_or_default();
        // In run id and sequence order, as the writer locks them.
        let items = shared.working().items();
        if items.is_empty() {
            // No claim to keep: nothing waits on one.
            shared.claims_kept.send_replace(true);
            continue;
        }
        let renewal = shared
            .db
            .blocking(move |db| db.renew_leases(&worker, &items, until));
        match renewal.await {
            Ok(_) => {
                outage.succeeded();
                if !shared.claims_kept.send_replace(true) {
                    tracing::info!("claims renewed again: sending and claiming resume");
                }
            }
            Err(error @ StoreError::Unavailable(_)) => {
                outage.failed(&error);
                if shared.claims_kept.send_replace(false) {
                    tracing::warn!(
                        "claims cannot be renewed: nothing is sent or claimed until they are"
                    );
                }
            }
            Err(error) => {
                // The database answered: not an outage, nothing to hold back for.
                shared.claims_kept.send_replace(true);
                tracing::warn!(%error, "cannot renew claims");
            }
        }
    }
}

/// A run being worked on here: its items running, and claimed items waiting to start.
struct InFlight {
    context: Arc<RunContext>,
    concurrency: usize,
    running: usize,
    /// Claimed ahead, so that a claim's round trips overlap with work instead of stalling it.
    queue: VecDeque<ClaimedItem>,
    claiming: bool,
    /// The last claim found nothing: the run has no more items for this server.
    exhausted: bool,
}

/// What the dispatcher waits for besides wake-ups.
enum Event {
    /// An item's worker returned.
    /// An item's worker stopped; whether it settled the item.
    ItemDone(RunId, u32, bool),
    /// A claim came back.
    Claimed(RunId, Result<Vec<ClaimedItem>, StoreError>),
}

struct Dispatcher {
    shared: Arc<Shared>,
    runs: HashMap<RunId, InFlight>,
    /// Active runs this server does not take up again, by the generation it saw, while they
    /// stay schedulable at it:
    /// - runs it leaves to others (see `Unworkable::Here`): its setup does not change while it
    ///   runs, so each is looked at, and said, once — again after a retry or a re-judging;
    /// - runs whose budget it found spent, until the database says so (the writer stores the
    ///   stop a moment later): a context made anew in between would start unstopped, from
    ///   totals still missing what was spent meanwhile, and send items past the budget.
    set_aside: HashMap<RunId, RunGeneration>,
    tasks: JoinSet<Event>,
    /// Claims failing while the database is down (every run's alike): logged as an outage.
    claim_outage: Outage,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            runs: HashMap::new(),
            set_aside: HashMap::new(),
            tasks: JoinSet::new(),
            claim_outage: Outage::new("claim items"),
        }
    }

    /// Items running here, across runs (the global limit).
    fn running(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    async fn run(mut self) {
        let worker = self.shared.config.worker.clone();
        match self
            .shared
            .db
            .blocking(move |db| db.expire_leases(&worker, now()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                items = n,
                "taking back the claims of a previous run of this worker"
            ),
            Err(error) => tracing::warn!(%error, "cannot release previous claims"),
        }
        // Once a drain began: when its window closes.
        let mut drain_until: Option<tokio::time::Instant> = None;
        // Every pass fails alike while the database is down: logged as an outage.
        let scheduling = Outage::new("schedule runs");
        loop {
            if drain_until.is_some() && self.tasks.is_empty() {
                // Drained: every item here finished or was given back.
                break;
            }
            let window = async move {
                match drain_until {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.shared.shutdown.cancelled() => break,
                () = self.shared.draining.cancelled(), if drain_until.is_none() => {
                    drain_until = Some(tokio::time::Instant::now() + self.shared.config.drain);
                    // Nothing more starts; what was claimed ahead is given back.
                    let runs: Vec<RunId> = self.runs.keys().cloned().collect();
                    for run_id in runs {
                        self.advance(&run_id);
                    }
                    continue;
                }
                () = window => {
                    // What is still in flight is aborted (and given back once its outcomes
                    // are stored).
                    self.shared.shutdown.cancel();
                    break;
                }
                Some(event) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    match event {
                        Ok(Event::ItemDone(run_id, sequence, settled)) => {
                            self.item_done(&run_id, sequence, settled)
                        }
                        Ok(Event::Claimed(run_id, claimed)) => self.claimed(&run_id, claimed),
                        Err(error) => tracing::error!(%error, "an engine task failed"),
                    }
                    continue;
                }
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep(self.shared.config.poll_every) => {}
            }
            match self.poll().await {
                Ok(()) => scheduling.succeeded(),
                Err(error) => scheduling.failed(&error),
            }
        }
        for flight in self.runs.values() {
            flight.context.cancel.cancel();
        }
        while self.tasks.join_next().await.is_some() {}
        // Every worker has reported what it will: the writer stores it and stops.
        self.shared.send(WriterMessage::Stop);
    }

    /// An item finished here: start the next queued one, and claim more when the queue runs low.
    fn item_done(&mut self, run_id: &RunId, sequence: u32, settled: bool) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.shared.draining() && !settled {
            // A worker stopped during a drain and left its item as it was (an answer not judged,
            // a retry not sent). Once what it reported is stored (the writer keeps the order), it
            // is given back.
            self.shared.send(WriterMessage::Release {
                run_id: run_id.clone(),
                sequences: vec![sequence],
            });
        }
        // Its claim is renewed until what it reported is stored (see `WriterMessage::Settled`).
        self.shared.send(WriterMessage::Settled {
            run_id: run_id.clone(),
            sequence,
        });
        if let Some(flight) = self.runs.get_mut(run_id) {
            flight.running -= 1;
        }
        self.advance(run_id);
        // A slot under the global limit may have freed for other runs' queued items.
        let global = self.shared.config.global_concurrency;
        if self.running() < global {
            let waiting: Vec<RunId> = self
                .runs
                .iter()
                .filter(|(id, f)| *id != run_id && !f.queue.is_empty() && f.running < f.concurrency)
                .map(|(id, _)| id.clone())
                .collect();
            for other in waiting {
                self.advance(&other);
            }
        }
    }

    fn claimed(&mut self, run_id: &RunId, claimed: Result<Vec<ClaimedItem>, StoreError>) {
        let Some(flight) = self.runs.get_mut(run_id) else {
            return;
        };
        flight.claiming = false;
        match claimed {
            Ok(items) => {
                self.claim_outage.succeeded();
                flight.exhausted = items.is_empty();
                self.shared
                    .working()
                    .hold(run_id, items.iter().map(|item| item.sequence));
                flight.queue.extend(items);
            }
            Err(error) => {
                if matches!(error, StoreError::Unavailable(_)) {
                    self.claim_outage.failed(&error);
                } else {
                    tracing::warn!(%error, run = %run_id, "cannot claim items");
                }
                flight.exhausted = true;
            }
        }
        self.advance(run_id);
    }

    /// Starts queued items up to the run's and the engine's limits, claims more when the queue
    /// is low, and forgets a run with nothing left here.
    fn advance(&mut self, run_id: &RunId) {
        let global = self.shared.config.global_concurrency;
        let Some(flight) = self.runs.get_mut(run_id) else {
            return;
        };
        // Canceled, or stopped by its budget (items in flight finish): nothing more starts.
        let canceled = flight.context.cancel.is_cancelled() || flight.context.stopped();
        // Draining: nothing more starts either, and nothing more is claimed.
        let draining = self.shared.draining();
        if (canceled || draining) && !flight.queue.is_empty() {
            // Never started: nothing to renew.
            let unsent: Vec<u32> = flight.queue.drain(..).map(|item| item.sequence).collect();
            {
                let mut working = self.shared.working();
                for &sequence in &unsent {
                    working.let_go(run_id, sequence);
                }
            }
            if !canceled {
                // Given back at once, for another worker to take. (A cancel ends them with
                // the rest.)
                self.shared.send(WriterMessage::Release {
                    run_id: run_id.clone(),
                    sequences: unsent,
                });
            }
        }
        while !draining
            && flight.running < flight.concurrency
            && self.shared.in_flight.load(Ordering::Relaxed) < global
        {
            let Some(item) = flight.queue.pop_front() else {
                break;
            };
            flight.running += 1;
            self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
            let shared = Arc::clone(&self.shared);
            let context = Arc::clone(&flight.context);
            let id = run_id.clone();
            self.tasks.spawn(async move {
                let sequence = item.sequence;
                // A panicking worker must still report back: otherwise its item would stay in
                // `working`, its claim renewed forever. Without renewal the claim runs out and
                // the item is taken over.
                let worked = AssertUnwindSafe(worker::work(shared, context, item)).catch_unwind();
                let settled = worked.await.unwrap_or_else(|_| {
                    tracing::error!(run = %id, sequence, "the worker of an item panicked");
                    false
                });
                Event::ItemDone(id, sequence, settled)
            });
        }
        // A claim is made while a run's concurrency of items is still queued, for enough to
        // fill its slots and keep twice its concurrency waiting: a claim's round trip includes
        // waiting for the run's row, which the writer holds while it stores a batch, and a
        // smaller lead ran the queue dry on PostgreSQL (docs/performance.md, 2026-12-04). The
        // price: a server holds up to three times a run's concurrency of its items.
        let low = flight.queue.len() < flight.concurrency;
        let claims_kept = self.shared.claims_known_kept();
        if !canceled && !draining && !flight.claiming && !flight.exhausted && low && claims_kept {
            let wanted = 3 * flight.concurrency - flight.running - flight.queue.len();
            flight.claiming = true;
            self.spawn_claim(run_id.clone(), wanted as u32);
            return;
        }
        if flight.running == 0 && flight.queue.is_empty() && !flight.claiming {
            let finished = self.runs.remove(run_id);
            if let Some(finished) = &finished
                && finished.context.stopped()
            {
                self.set_aside
                    .insert(run_id.clone(), finished.context.generation);
            }
            if canceled && finished.is_some() {
                self.shared
                    .send(WriterMessage::CancelInFlight(run_id.clone()));
            }
        }
    }

    fn spawn_claim(&mut self, run_id: RunId, max: u32) {
        let Some(generation) = self.runs.get(&run_id).map(|f| f.context.generation) else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        self.tasks.spawn(async move {
            let worker = shared.config.worker.clone();
            let lease = chrono::Duration::from_std(shared.config.lease).unwrap_or_default();
            let id = run_id.clone();
            let claim = shared
                .db
                .blocking(move |db| {
                    let at = now();
                    db.claim_items(
                        &id,
                        ClaimRequest {
                            worker: &worker,
                            lease_until: at + lease,
                            max,
                            at,
                            generation: Some(generation),
                        },
                    )
                })
                .await;
            Event::Claimed(run_id, claim.map(|c| c.items))
        });
    }

    /// Looks at every active run: stops what is being canceled, starts work on the rest.
    async fn poll(&mut self) -> Result<(), StoreError> {
        let (schedulable, canceling) = self
            .shared
            .db
            .blocking(|db| Ok((db.runs_to_schedule()?, db.runs_being_canceled()?)))
            .await?;
        for run in &canceling {
            match self.runs.get(&run.id) {
                Some(flight) => {
                    if run
                        .failure
                        .as_ref()
                        .is_some_and(|f| f.kind == BUDGET_EXHAUSTED)
                    {
                        // Items in flight finish; nothing more is sent.
                        flight.context.stop();
                    } else {
                        flight.context.cancel.cancel();
                    }
                    let id = run.id.clone();
                    self.advance(&id);
                }
                None => self
                    .shared
                    .send(WriterMessage::CancelInFlight(run.id.clone())),
            }
        }
        // Runs worked on here that are neither schedulable nor being stopped (above: a budget
        // stop lets items in flight finish) have ended: failed, or canceled by another server.
        let stale: Vec<RunId> = self
            .runs
            .keys()
            .filter(|id| !schedulable.iter().chain(&canceling).any(|r| &r.id == *id))
            .cloned()
            .collect();
        for run_id in stale {
            if let Some(flight) = self.runs.get(&run_id) {
                flight.context.cancel.cancel();
            }
            self.advance(&run_id);
        }
        // A run set aside that ended, is being stopped, or was retried or re-judged is looked at
        // anew should it come back.
        self.set_aside.retain(|id, generation| {
            schedulable
                .iter()
                .any(|run| &run.id == id && RunGeneration::of(run) == *generation)
        });
        if self.shared.draining() {
            // No new work, and no more of the runs worked on.
            return Ok(());
        }
        for run in schedulable {
            if self.set_aside.contains_key(&run.id) {
                continue;
            }
            if let Some(flight) = self.runs.get_mut(&run.id)
                && flight.context.generation != RunGeneration::of(&run)
            {
                // Retried or re-judged since this context was made (with another judge, or
                // stopped): it takes no new work (its claims say which generation they are
                // for), and once nothing of it is left here, a new one replaces it.
                flight.exhausted = true;
                if flight.running == 0 && flight.queue.is_empty() && !flight.claiming {
                    self.runs.remove(&run.id);
                } else {
                    continue;
                }
            }
            match self.runs.get_mut(&run.id) {
                // New items may have appeared (a retry): look again.
                Some(flight) => {
                    flight.exhausted = false;
                    flight.context.observe_spent(&run.usage);
                }
                None => match self.context_for(&run) {
                    Ok(context) => {
                        let concurrency = run
                            .settings
                            .concurrency
                            .unwrap_or(self.shared.config.default_run_concurrency)
                            as usize;
                        self.runs.insert(
                            run.id.clone(),
                            InFlight {
                                context,
                                concurrency,
                                running: 0,
                                queue: VecDeque::new(),
                                claiming: false,
                                exhausted: false,
                            },
                        );
                    }
                    // On SQLite this server is the only one (its data directory is locked):
                    // there is no other to leave a run it lacks something for, and failing it
                    // says at once what to mend (a retry then goes on).
                    Err(Unworkable::Here { message, .. })
                        if self.shared.db.backend() != Backend::Sqlite =>
                    {
                        self.leave_to_others(&run, message).await;
                        continue;
                    }
                    Err(unworkable) => {
                        let (kind, message) = unworkable.into_reason();
                        self.shared.send(WriterMessage::FailRun {
                            run_id: run.id.clone(),
                            generation: RunGeneration::of(&run),
                            kind,
                            message,
                        });
                        continue;
                    }
                },
            }
            self.advance(&run.id);
        }
        Ok(())
    }

    /// Says once, in the server's log and the run's, that this server leaves a run to servers
    /// set up for it (`why`: what it lacks). It claims none of the run's items meanwhile.
    async fn leave_to_others(&mut self, run: &Run, why: String) {
        let run_id = &run.id;
        self.set_aside
            .insert(run_id.clone(), RunGeneration::of(run));
        let worker = self.shared.config.worker.clone();
        tracing::warn!(
            run = %run_id,
            worker = %worker,
            "leaving the run to servers set up for it: {why}"
        );
        let (id, at) = (run_id.clone(), now());
        let message = format!(
            "server `{worker}` leaves this run to servers set up for it: {why}; it waits until \
             one works on it (or this one is restarted with its configuration mended)"
        );
        let noted = self
            .shared
            .db
            .blocking(move |db| db.note_run(&id, LogLevel::Warn, &message, at))
            .await;
        if let Err(error) = noted {
            // Said in the server's log above; the run's log misses it until the next start.
            tracing::debug!(run = %run_id, %error, "could not note it in the run's log");
        }
    }

    /// What the workers of a run need, or why the run cannot be worked on here.
    fn context_for(&self, run: &Run) -> Result<Arc<RunContext>, Unworkable> {
        let shared = &self.shared;
        // A re-judging only judges stored answers: the provider that gave them may be gone
        // (or be the Browser Harness). Otherwise the run fails once, before any item is claimed.
        let (answering, failing) = match self.answering(run) {
            Ok(answering) => (Some(answering), None),
            Err(reason) if run.rejudging => (None, Some(reason.into_reason())),
            Err(reason) => return Err(reason),
        };
        debug_assert!(matches!(
            run.status,
            RunStatus::Pending | RunStatus::Running
        ));
        let judge = match &run.settings.judge {
            None | Some(JudgeSettings::Choice) => None,
            Some(
                judge @ JudgeSettings::Llm {
                    provider_name,
                    model_name,
                },
            ) => {
                let unusable = || {
                    Unworkable::here(
                        "judge_not_configured",
                        format!(
                            "the judge model `{model_name}` of provider `{provider_name}` is not configured on this server"
                        ),
                    )
                };
                let judge_provider = shared.registry.get(provider_name).ok_or_else(unusable)?;
                if !judge_provider.has_model(model_name) {
                    return Err(unusable());
                }
                missing_key(judge_provider)?;
                Some(LlmJudge {
                    label: judge.label(),
                    model: model_name.clone(),
                    client: shared.clients.get(provider_name).ok_or_else(unusable)?,
                    gate: Arc::clone(shared.gates.get(provider_name).ok_or_else(unusable)?),
                    price: judge_provider.price(model_name),
                    max_attempts: judge_provider.limits.max_attempts,
                    throttling: Throttling::of(&judge_provider.limits),
                    without_temperature: AtomicBool::new(false),
                })
            }
        };
        Ok(Arc::new(RunContext {
            run_id: run.id.clone(),
            model: run.model_name.clone(),
            metrics: worker::RunMetrics::new(&run.provider_name, &run.model_name),
            settings: run.settings.clone(),
            answering,
            generation: RunGeneration::of(run),
            cancel: shared.shutdown.child_token(),
            judge,
            failing: Mutex::new(failing),
            spent: Mutex::new(run.usage),
            stopped: AtomicBool::new(false),
            failed_in_a_row: Mutex::new(None),
        }))
    }

    /// How the run's items are answered here, or why they cannot be.
    fn answering(&self, run: &Run) -> Result<Answering, Unworkable> {
        let shared = &self.shared;
        let provider = shared.registry.get(&run.provider_name).ok_or_else(|| {
            Unworkable::here(
                "provider_not_configured",
                format!(
                    "provider `{}` is not configured on this server",
                    run.provider_name
                ),
            )
        })?;
        // Without its key nothing can be sent.
        missing_key(provider)?;
        if !provider.has_model(&run.model_name) {
            return Err(Unworkable::here(
                "model_not_configured",
                format!(
                    "provider `{}` has no model `{}` on this server",
                    provider.name, run.model_name
                ),
            ));
        }
        let (Some(client), Some(gate)) = (
            shared.clients.get(&provider.name),
            shared.gates.get(&provider.name),
        ) else {
            return Err(Unworkable::here(
                "provider_not_configured",
                format!("provider `{}` has no client on this server", provider.name),
            ));
        };
        // A run resumed under another configuration would mix results of two setups.
        if let Some((_, changes)) = configuration_changes(run, provider) {
            return Err(Unworkable::Run {
                kind: CONFIGURATION_CHANGED.to_owned(),
                message: format!(
                    "the configuration changed since the run was made: {changes}; a forced \
                     retry continues it anyway (`runs retry ID --force`, `{{\"force\": true}}` in \
                     the API, Retry anyway in the dashboard)"
                ),
            });
        }
        Ok(Answering {
            client,
            gate: Arc::clone(gate),
            price: provider.price(&run.model_name),
            max_attempts: run
                .settings
                .max_attempts
                .unwrap_or(provider.limits.max_attempts),
            throttling: Throttling::of(&provider.limits),
        })
    }
}
