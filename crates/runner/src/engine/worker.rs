//! One claimed item, from prompt to outcome: admission at the provider, the streamed answer,
//! retries with backoff, judging, and cancellation at any await point.

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use evalboard_domain::{
    JudgeSettings, RunId, RunSettings, extract_answer, judge_choice, truncate_to_micros,
};
use evalboard_persistence::{Answer, ClaimedItem, ItemError, Judgment, Outcome, OutcomeKind};
use tokio_util::sync::CancellationToken;

use super::{Shared, WriterMessage, gate::ProviderGate};
use crate::providers::{CompletionRequest, ModelClient, ProviderError};

/// What every item of one run shares.
pub(crate) struct RunContext {
    pub(crate) run_id: RunId,
    pub(crate) model: String,
    pub(crate) settings: RunSettings,
    pub(crate) client: Arc<dyn ModelClient>,
    pub(crate) gate: Arc<ProviderGate>,
    pub(crate) max_attempts: u32,
    pub(crate) cancel: CancellationToken,
}

/// Works one item until it has an outcome, the run is canceled, or the engine stops.
pub(crate) async fn work(shared: Arc<Shared>, run: Arc<RunContext>, item: ClaimedItem) {
    let sequence = item.sequence;
    // The dataset item's id, not the run's: the same seed gives the same answers in every run.
    let item_key = item.item.id.clone();
    let mut attempt = item.attempt;
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(shared.config.retry_base_delay)
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build();
    let estimated_tokens =
        (item.prompt.len() / 4) as u32 + run.settings.generation.max_tokens.unwrap_or(1024);
    loop {
        let Some(_slot) = cancellable(&run.cancel, run.gate.admit(estimated_tokens)).await else {
            break;
        };
        shared.activity.start(&run.run_id, sequence, attempt);
        let request = CompletionRequest {
            model: &run.model,
            prompt: &item.prompt,
            generation: &run.settings.generation,
            attempt,
            item_key: &item_key,
            expected: (item.item.answer, item.item.choices.len()),
            simulated: run.settings.simulated.as_ref(),
        };
        let activity = &shared.activity;
        let run_id = &run.run_id;
        let mut on_chunk = |text: &str| activity.chunk(run_id, sequence, text);
        let Some(result) =
            cancellable(&run.cancel, run.client.complete(request, &mut on_chunk)).await
        else {
            break;
        };
        drop(_slot);
        let outcome = |kind| Outcome {
            run_id: run.run_id.clone(),
            sequence,
            attempt,
            kind,
        };
        match result {
            Ok(completion) => {
                run.gate.succeeded();
                let answered_at = truncate_to_micros(Utc::now());
                let judgment = match &run.settings.judge {
                    None | Some(JudgeSettings::Choice) => {
                        let extraction = extract_answer(&completion.text);
                        Some(Judgment {
                            verdict: judge_choice(&extraction, item.item.answer),
                            extraction,
                            judge: "choice".into(),
                            rationale: None,
                            at: answered_at,
                        })
                    }
                    Some(JudgeSettings::Llm { .. }) => None,
                };
                let answer = Answer {
                    response_text: completion.text,
                    first_token_at: completion.first_token_at,
                    answered_at,
                    usage: completion.usage,
                };
                shared.send(WriterMessage::Outcome(outcome(OutcomeKind::Answered {
                    answer,
                    judgment,
                })));
                break;
            }
            Err(error) if error.is_fatal_for_run() => {
                shared.send(WriterMessage::FailRun {
                    run_id: run.run_id.clone(),
                    kind: error.kind().to_owned(),
                    message: error.to_string(),
                });
                break;
            }
            Err(error) => {
                if matches!(error, ProviderError::RateLimited { .. }) {
                    run.gate.rate_limited();
                }
                let item_error = ItemError {
                    kind: error.kind().to_owned(),
                    message: error.to_string(),
                };
                if !error.is_retryable() || attempt >= run.max_attempts {
                    shared.send(WriterMessage::Outcome(outcome(OutcomeKind::Failed(
                        item_error,
                    ))));
                    break;
                }
                let delay = error
                    .retry_after()
                    .unwrap_or_else(|| backoff.next().unwrap_or(Duration::from_secs(30)));
                shared.send(WriterMessage::Outcome(outcome(OutcomeKind::Retrying {
                    error: item_error,
                    delay_ms: delay.as_millis() as u64,
                })));
                attempt += 1;
                shared.activity.finish(&run.run_id, sequence);
                if cancellable(&run.cancel, tokio::time::sleep(delay))
                    .await
                    .is_none()
                {
                    break;
                }
            }
        }
    }
    shared.activity.finish(&run.run_id, sequence);
}

/// Runs `future` unless `cancel` fires first (then `None`, and the future is dropped, which
/// aborts an HTTP request in flight).
async fn cancellable<T>(cancel: &CancellationToken, future: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        value = future => Some(value),
    }
}
