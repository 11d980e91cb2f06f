//! The single writer: collects outcomes from every worker and stores them in batches, one
//! transaction each ("group commit": whatever queued up while the previous batch was being
//! written goes into the next, and an outcome waits up to the commit window for company), so
//! that the database is not the bottleneck.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use evalboard_domain::{JudgeSpend, RunId, truncate_to_micros};
use evalboard_persistence::{Outage, Outcome, RunGeneration, StoreError};
use tokio::sync::mpsc;

use super::{Shared, worker};

/// What workers and the dispatcher ask the writer to store, in order.
// Nearly every message is an outcome, moved once into the channel: boxing it would cost an
// allocation per item on the hot path to shrink the rare others.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum WriterMessage {
    /// An item's outcome.
    Outcome(Outcome),
    /// A run cannot proceed at all.
    FailRun {
        run_id: RunId,
        /// The run's generation the failure was seen in.
        generation: RunGeneration,
        kind: String,
        message: String,
    },
    /// A run's budget is spent: it sends nothing more and ends `canceled` for this reason.
    StopForBudget { run_id: RunId, reason: String },
    /// A run being canceled has nothing in flight here any more.
    CancelInFlight(RunId),
    /// During a drain: give back the claims this worker still holds on these items.
    Release { run_id: RunId, sequences: Vec<u32> },
    /// What an LLM judge's replies used for a judgment that never came (the run canceled, the
    /// server stopping): the run's spending all the same.
    JudgeSpent { run_id: RunId, spend: JudgeSpend },
    /// An outcome that finishes its item, and the counter of `evalboard_items_finished_total`
    /// it adds to once stored: an outcome that no longer holds when stored (its claim taken
    /// over meanwhile, a cancel) finished nothing, and is not counted.
    Finishing {
        outcome: Outcome,
        counted: metrics::Counter,
    },
    /// An item's worker is done with it. Once what it reported is stored, its claim needs no
    /// more renewal: until then it is renewed, so that an outcome waiting here for the
    /// database (an outage) is not taken over by this engine's next claim and thrown away.
    Settled { run_id: RunId, sequence: u32 },
    /// Every worker has stopped: store what is queued, then stop.
    Stop,
}

/// Messages after which a batch stops waiting for more within the commit window.
const GATHERED_ENOUGH: usize = 32;

/// The writer task's own state: the engine's, and what its writes met.
struct Writer {
    shared: Arc<Shared>,
    /// Its transactions failing while the database is down, logged once per outage.
    outage: Outage,
    /// Whether, stopping, it gave up storing answers (their items keep their claims).
    answers_lost: AtomicBool,
}

/// Stores what it is sent until told to stop; returns whether, stopping, it gave up storing
/// answers for want of the database (see `Drained`).
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut inbox: mpsc::UnboundedReceiver<(Instant, WriterMessage)>,
) -> bool {
    let writer = Writer {
        shared,
        outage: Outage::new("store the engine's results"),
        answers_lost: AtomicBool::new(false),
    };
    let shared = &writer.shared;
    let mut batch = Vec::new();
    let mut stopping = false;
    while !stopping && let Some((sent, first)) = inbox.recv().await {
        // What counts towards a batch's size: outcomes and control messages, not the
        // bookkeeping of items settled (one per item, which would shrink every batch).
        let weighs = |message: &WriterMessage| !matches!(message, WriterMessage::Settled { .. });
        let mut gathered = usize::from(weighs(&first));
        batch.push(first);
        // Whatever arrives before the first message has waited `commit_window` joins it (see
        // `EngineConfig::commit_window`); a first message that queued while the previous batch
        // was written has waited already.
        let window = tokio::time::sleep_until((sent + shared.config.commit_window).into());
        tokio::pin!(window);
        // A control message is stored at once, with what came before it.
        while gathered < shared.config.batch_size
            && matches!(
                batch.last(),
                Some(
                    WriterMessage::Outcome(_)
                        | WriterMessage::Finishing { .. }
                        | WriterMessage::Settled { .. }
                )
            )
        {
            let message = match inbox.try_recv() {
                Ok((_, message)) => message,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                // Enough to make the commit's fixed cost small: store now. Waiting longer would
                // only hold the run's row (locked by the write) away from claims for longer.
                Err(mpsc::error::TryRecvError::Empty) if gathered >= GATHERED_ENOUGH => break,
                Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                    biased;
                    message = inbox.recv() => match message {
                        Some((_, message)) => message,
                        None => break,
                    },
                    () = &mut window => break,
                },
            };
            gathered += usize::from(weighs(&message));
            batch.push(message);
        }
        if let Some(stop) = batch.iter().position(|m| matches!(m, WriterMessage::Stop)) {
            batch.truncate(stop);
            stopping = true;
        }
        if store(&writer, std::mem::take(&mut batch)).await {
            // A run ended or changed course: the dispatcher should look now.
            shared.wake.notify_one();
        }
    }
    writer.answers_lost.load(Ordering::Relaxed)
}

/// Stores a batch in order: runs of outcomes together, control messages between them. Returns
/// whether a run ended or a control message was stored.
async fn store(writer: &Writer, batch: Vec<WriterMessage>) -> bool {
    let mut outcomes = Vec::new();
    let mut settled = Vec::new();
    let mut changed = false;
    for message in batch {
        match message {
            WriterMessage::Outcome(outcome) => outcomes.push((outcome, None)),
            WriterMessage::Finishing { outcome, counted } => {
                outcomes.push((outcome, Some(counted)));
            }
            WriterMessage::Settled { run_id, sequence } => settled.push((run_id, sequence)),
            control => {
                apply_outcomes(writer, std::mem::take(&mut outcomes)).await;
                apply_control(writer, control).await;
                changed = true;
            }
        }
    }
    changed |= apply_outcomes(writer, outcomes).await;
    // What these items' workers reported is stored (or never will be): no claim to keep.
    let mut working = writer.shared.working();
    for (run_id, sequence) in settled {
        working.let_go(&run_id, sequence);
    }
    changed
}

/// Returns whether a run finished.
/// Stores outcomes, each with the finished-items counter it adds to once stored. Returns
/// whether a run finished.
async fn apply_outcomes(
    writer: &Writer,
    outcomes: Vec<(Outcome, Option<metrics::Counter>)>,
) -> bool {
    if outcomes.is_empty() {
        return false;
    }
    let shared = &writer.shared;
    let (outcomes, counters): (Vec<Outcome>, Vec<Option<metrics::Counter>>) =
        outcomes.into_iter().unzip();
    let outcomes = Arc::new(outcomes);
    let worker = shared.config.worker.clone();
    let mut result = persist(writer, "store outcomes", {
        let (outcomes, worker) = (Arc::clone(&outcomes), worker.clone());
        move |db| db.apply_outcomes(&worker, &outcomes, now())
    })
    .await;
    if result.is_none() && shared.stopping() {
        // Their items keep their claims: they are answered again (see `Drained`).
        writer.answers_lost.store(true, Ordering::Relaxed);
    }
    if result.is_none() && outcomes.len() > 1 && !shared.stopping() {
        // One bad outcome must not take the whole batch with it: store them one by one.
        let mut one_by_one = evalboard_persistence::AppliedOutcomes {
            applied: Vec::with_capacity(outcomes.len()),
            finished: Vec::new(),
        };
        for outcome in outcomes.iter() {
            let (outcome, worker) = (outcome.clone(), worker.clone());
            let single = persist(writer, "store an outcome", move |db| {
                db.apply_outcomes(&worker, std::slice::from_ref(&outcome), now())
            })
            .await;
            let (applied, finished) = single.map_or((false, Vec::new()), |single| {
                (
                    single.applied.first().copied().unwrap_or(false),
                    single.finished,
                )
            });
            one_by_one.applied.push(applied);
            one_by_one.finished.extend(finished);
        }
        result = Some(one_by_one);
    }
    let Some(applied) = result else {
        return false;
    };
    for (counter, _) in counters
        .iter()
        .zip(&applied.applied)
        .filter(|(_, applied)| **applied)
    {
        if let Some(counter) = counter {
            counter.increment(1);
        }
    }
    for run in &applied.finished {
        let counts = &run.counts;
        if counts.correct + counts.incorrect == 0 && counts.failed > 0 {
            // Completed, in that the engine went through every item; but no item was answered
            // (a provider unreachable throughout a run too short to be failed for it, say): no
            // evaluation, said as a warning.
            tracing::warn!(
                run = %run.id,
                status = %run.status,
                failed = counts.failed,
                "run finished without a single answer: every item failed"
            );
        } else {
            tracing::info!(run = %run.id, status = %run.status, "run finished");
        }
    }
    !applied.finished.is_empty()
}

async fn apply_control(writer: &Writer, message: WriterMessage) {
    let shared = &writer.shared;
    let worker = shared.config.worker.clone();
    match message {
        WriterMessage::Outcome(_)
        | WriterMessage::Finishing { .. }
        | WriterMessage::Settled { .. }
        | WriterMessage::Stop => {}
        WriterMessage::FailRun {
            run_id,
            generation,
            kind,
            message,
        } => {
            let failed = persist(writer, "fail a run", {
                let (run_id, kind, message) = (run_id.clone(), kind.clone(), message.clone());
                move |db| db.fail_run(&run_id, generation, &kind, &message, now())
            })
            .await;
            // Every item that finds out reports it; the run fails, and says so, once.
            if let Some(Some(failed)) = failed {
                tracing::warn!(run = %run_id, %kind, "run cannot proceed: {message}");
                // Its items failed with it, not one by one: counted as the workers count theirs.
                worker::items_finished(&failed.run.provider_name, &failed.run.model_name, "failed")
                    .increment(failed.items_failed);
            }
        }
        WriterMessage::StopForBudget { run_id, reason } => {
            let stopped = persist(writer, "stop a run", {
                let (run_id, reason) = (run_id.clone(), reason.clone());
                move |db| db.stop_for_budget(&run_id, &reason, now())
            })
            .await;
            if let Some(Some(_)) = stopped {
                tracing::info!(run = %run_id, "run stops sending: {reason}");
            }
        }
        WriterMessage::CancelInFlight(run_id) => {
            persist(writer, "cancel items", move |db| {
                db.cancel_in_flight(&run_id, &worker, now())
            })
            .await;
        }
        WriterMessage::JudgeSpent { run_id, spend } => {
            persist(writer, "store a judge's spending", move |db| {
                db.add_judge_spend(&run_id, &spend)
            })
            .await;
        }
        WriterMessage::Release { run_id, sequences } => {
            let released = persist(writer, "release claims", move |db| {
                db.release_items(&worker, &run_id, &sequences, now())
            })
            .await;
            shared
                .released
                .fetch_add(released.unwrap_or(0), Ordering::Relaxed);
        }
    }
}

/// Runs a write, retrying while the database is unavailable (outcomes must not be lost to a
/// database restart). Other errors are logged; the affected items keep their claim and are
/// picked up again when it expires.
async fn persist<T: Send + 'static>(
    writer: &Writer,
    what: &'static str,
    write: impl Fn(&evalboard_persistence::Database) -> Result<T, StoreError> + Send + Sync + 'static,
) -> Option<T> {
    let shared = &writer.shared;
    let write = Arc::new(write);
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = Arc::clone(&write);
        match shared.db.blocking(move |db| attempt(db)).await {
            Ok(value) => {
                writer.outage.succeeded();
                return Some(value);
            }
            Err(error @ StoreError::Unavailable(_)) if !shared.stopping() => {
                writer.outage.failed(&error);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                tracing::error!(%error, "cannot {what}");
                return None;
            }
        }
    }
}

fn now() -> evalboard_domain::Timestamp {
    truncate_to_micros(Utc::now())
}
