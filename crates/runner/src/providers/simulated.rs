//! The Simulated provider: offline, deterministic, and as slow or unreliable as a run asks.
//!
//! Every choice comes from SHA-256 of (seed, item, attempt, purpose), so the same run settings
//! give the same answers, faults and timings on any machine. The answer streams in chunks
//! spread over the configured latency.

use std::time::Duration;

use chrono::Utc;
use evalboard_domain::{CutOff, TokenUsage};
use evalboard_domain::{
    ItemAnswer, SimulatedSettings, Verdict, judge_by_rules, truncate_to_micros,
};
use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::client::{Completion, CompletionRequest, ModelClient, ProviderError};

/// Defaults when a run sets nothing.
const DEFAULT_ACCURACY: f64 = evalboard_domain::SimulatedSettings::DEFAULT_ACCURACY;
/// Chunks an answer streams in.
const CHUNKS: usize = 8;
/// Characters of the simulated answer counted as one token (its usage, and where `maxTokens`
/// cuts it).
const CHARS_PER_TOKEN: usize = 4;

pub(super) struct SimulatedClient;

/// A uniform number in [0, 1) for one purpose of one attempt of one item.
fn draw(seed: u64, item_key: &str, attempt: u32, purpose: &str) -> f64 {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(item_key.as_bytes());
    hasher.update(attempt.to_le_bytes());
    hasher.update(purpose.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// What the simulated model does for one attempt.
pub(super) struct Script {
    pub(super) fault: bool,
    pub(super) text: String,
    pub(super) latency: Duration,
}

pub(super) fn script(request: &CompletionRequest<'_>) -> Script {
    let settings = request.simulated.cloned().unwrap_or_default();
    let SimulatedSettings {
        accuracy,
        latency_ms,
        fault_rate,
        unparsed_rate,
        seed,
    } = settings;
    let seed = seed.unwrap_or(0);
    let roll = |purpose| draw(seed, request.item_key, request.attempt, purpose);
    let latency = Duration::from_millis(u64::from(latency_ms.unwrap_or(0)));
    if roll("fault") < fault_rate.unwrap_or(0.0) {
        return Script {
            fault: true,
            text: String::new(),
            latency: latency / 2,
        };
    }
    // Whether the answer is unparsed or wrong depends on the item, not on the attempt: a retry
    // of a faulted attempt gives the answer the first one would have.
    let item_roll = |purpose| draw(seed, request.item_key, 0, purpose);
    let text = if let Some(response) = request.judging {
        judge_reply(request.expected.0, response)
    } else if item_roll("unparsed") < unparsed_rate.unwrap_or(0.0) {
        "Let me think about this one... it is hard to say, sorry.".to_owned()
    } else {
        let right = item_roll("accuracy") < accuracy.unwrap_or(DEFAULT_ACCURACY);
        match request.expected {
            (ItemAnswer::Choice(key), options) => {
                let options = options.max(1);
                let letter = if right || options == 1 {
                    key.index()
                } else {
                    // A wrong option, chosen uniformly among the others.
                    let offset = 1 + (item_roll("wrong") * (options - 1) as f64) as usize;
                    (key.index() + offset.min(options - 1)) % options
                };
                let letter = char::from(b'A' + letter as u8);
                format!(
                    "Let's think step by step. Weighing each option against the question, \
                     option {letter} fits best. The answer is ({letter})."
                )
            }
            (ItemAnswer::Number(number), _) => {
                let answer = if right {
                    number.to_string()
                } else {
                    // A wrong number: off by 1 to 9 for an integer, a digit more otherwise.
                    let off = 1 + (item_roll("wrong") * 9.0) as i64;
                    match number.as_str().parse::<i64>() {
                        Ok(n) => n.saturating_add(off).to_string(),
                        Err(_) => format!("{number}{off}"),
                    }
                };
                format!(
                    "Let's think step by step. Working through the quantities in order, the \
                     result is {answer}. The answer is {answer}."
                )
            }
        }
    };
    Script {
        fault: false,
        text,
        latency,
    }
}

/// A simulated judge's reply: the extraction rules' verdict on `response`, in the format judges
/// are asked for (a rationale, then the `VERDICT` line).
fn judge_reply(answer: &ItemAnswer, response: &str) -> String {
    let (rationale, verdict) = match judge_by_rules(answer, response).1 {
        Verdict::Correct => ("The response's final answer is the correct one.", "correct"),
        Verdict::Incorrect => (
            "The response's final answer is not the correct one, or it gives none.",
            "incorrect",
        ),
    };
    format!("{rationale}\nVERDICT: {verdict}")
}

impl ModelClient for SimulatedClient {
    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
        on_chunk: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let script = script(&request);
            if script.fault {
                tokio::time::sleep(script.latency).await;
                return Err(ProviderError::Server {
                    status: 503,
                    message: "simulated transient fault".into(),
                });
            }
            // Like a real model's, an answer longer than the run's `maxTokens` is cut there.
            let limit = request
                .generation
                .max_tokens
                .map(|tokens| tokens as usize * CHARS_PER_TOKEN);
            let cut_off = limit
                .filter(|&limit| script.text.chars().count() > limit)
                .map(|_| CutOff::MaxTokens);
            let text: String = match limit {
                Some(limit) => script.text.chars().take(limit).collect(),
                None => script.text,
            };
            let chars: Vec<char> = text.chars().collect();
            let per_chunk = chars.len().div_ceil(CHUNKS);
            let pause = script.latency / CHUNKS as u32;
            let mut first_token_at = None;
            for piece in chars.chunks(per_chunk.max(1)) {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                first_token_at.get_or_insert_with(|| truncate_to_micros(Utc::now()));
                on_chunk(&piece.iter().collect::<String>());
            }
            Ok(Completion {
                reasoning: String::new(),
                usage: TokenUsage {
                    prompt_tokens: Some(request.prompt.len().div_ceil(CHARS_PER_TOKEN) as u32),
                    // Counted as it was cut: in characters.
                    completion_tokens: Some(text.chars().count().div_ceil(CHARS_PER_TOKEN) as u32),
                    reasoning_tokens: None,
                },
                text,
                first_token_at,
                cut_off,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use evalboard_domain::{AnswerKey, GenerationSettings, extract_answer};

    use super::*;

    fn request<'a>(
        key: &'a str,
        attempt: u32,
        simulated: &'a SimulatedSettings,
    ) -> CompletionRequest<'a> {
        CompletionRequest {
            model: "sim-1",
            prompt: "Question?",
            generation: Box::leak(Box::new(GenerationSettings::default())),
            attempt,
            item_key: key,
            expected: (
                Box::leak(Box::new(AnswerKey::from_letter("C").unwrap().into())),
                4,
            ),
            simulated: Some(simulated),
            judging: None,
        }
    }

    #[test]
    fn behaviour_follows_the_settings_and_is_reproducible() {
        let settings = SimulatedSettings {
            accuracy: Some(0.6),
            fault_rate: Some(0.2),
            unparsed_rate: Some(0.1),
            seed: Some(42),
            latency_ms: None,
        };
        let keys: Vec<String> = (0..4000).map(|i| format!("run/{i}")).collect();
        let (mut right, mut faults, mut unparsed, mut answered) = (0, 0, 0, 0);
        for key in &keys {
            let script = script(&request(key, 1, &settings));
            if script.fault {
                faults += 1;
                continue;
            }
            answered += 1;
            match extract_answer(&script.text).letter {
                Some('C') => right += 1,
                Some(_) => {}
                None => unparsed += 1,
            }
            assert_eq!(script.text, super::script(&request(key, 1, &settings)).text);
        }
        let share = |n: i32, of: i32| f64::from(n) / f64::from(of);
        assert!((share(faults, 4000) - 0.2).abs() < 0.03, "faults {faults}");
        assert!(
            (share(unparsed, answered) - 0.1).abs() < 0.03,
            "unparsed {unparsed}"
        );
        assert!(
            (share(right, answered) - 0.6 * 0.9).abs() < 0.04,
            "right {right} of {answered}"
        );
    }

    #[test]
    fn wrong_answers_are_other_valid_letters() {
        let settings = SimulatedSettings {
            accuracy: Some(0.0),
            seed: Some(1),
            ..Default::default()
        };
        for i in 0..200 {
            let key = format!("r/{i}");
            let letter = extract_answer(&script(&request(&key, 1, &settings)).text)
                .letter
                .unwrap();
            assert!(('A'..='D').contains(&letter) && letter != 'C', "{letter}");
        }
    }

    #[test]
    fn numeric_items_are_answered_with_a_number_right_as_often_as_configured() {
        use evalboard_domain::numeric::{Number, extract_number, judge_numeric};
        let settings = SimulatedSettings {
            accuracy: Some(0.5),
            seed: Some(3),
            ..SimulatedSettings::default()
        };
        let expected = ItemAnswer::Number(Number::parse("1600").unwrap());
        let mut right = 0;
        for i in 0..200 {
            let key = format!("item-{i}");
            let mut asked = request(&key, 1, &settings);
            asked.expected = (&expected, 0);
            let extraction = extract_number(&script(&asked).text);
            assert!(extraction.number.is_some(), "always a number");
            let ItemAnswer::Number(number) = &expected else {
                unreachable!()
            };
            if judge_numeric(&extraction, number) == evalboard_domain::Verdict::Correct {
                right += 1;
            }
        }
        assert!((70..=130).contains(&right), "{right} of 200 right at 0.5");
    }

    #[tokio::test]
    async fn an_answer_longer_than_max_tokens_is_cut_there() {
        let settings = SimulatedSettings::default();
        let whole = script(&request("q/1", 1, &settings)).text;
        let complete = |max_tokens: Option<u32>| {
            let mut asked = request("q/1", 1, &settings);
            asked.generation = Box::leak(Box::new(GenerationSettings {
                max_tokens,
                ..GenerationSettings::default()
            }));
            async move { SimulatedClient.complete(asked, &mut |_| {}).await.unwrap() }
        };
        let cut = complete(Some(5)).await;
        assert_eq!(cut.text, whole.chars().take(20).collect::<String>());
        assert_eq!(cut.cut_off, Some(CutOff::MaxTokens));
        assert_eq!(cut.usage.completion_tokens, Some(5));
        // Room for the whole answer, or no limit: the model ends it.
        let room = u32::try_from(whole.len().div_ceil(CHARS_PER_TOKEN)).unwrap();
        for max_tokens in [Some(room), None] {
            let answer = complete(max_tokens).await;
            assert_eq!(
                (answer.text.as_str(), answer.cut_off),
                (whole.as_str(), None)
            );
        }
    }
}
