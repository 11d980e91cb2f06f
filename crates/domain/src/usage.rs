//! What a run spends and how fast it is answered: token totals, cost from per-model prices,
//! the budget that caps them, and latency percentiles.

use serde::{Deserialize, Serialize};

/// Tokens one answer used, as the provider reported them (`None`: not reported).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt (input) tokens.
    pub prompt_tokens: Option<u32>,
    /// Generated (output) tokens, reasoning included.
    pub completion_tokens: Option<u32>,
    /// Of the generated tokens, those spent reasoning, where the provider says.
    pub reasoning_tokens: Option<u32>,
}

impl TokenUsage {
    /// Prompt plus generated tokens (what a token budget counts); 0 when nothing was reported.
    pub fn total(&self) -> u64 {
        u64::from(self.prompt_tokens.unwrap_or(0)) + u64::from(self.completion_tokens.unwrap_or(0))
    }

    /// What two requests used together: each count summed where either reported it.
    pub fn plus(&self, other: &TokenUsage) -> TokenUsage {
        let sum = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
        TokenUsage {
            prompt_tokens: sum(self.prompt_tokens, other.prompt_tokens),
            completion_tokens: sum(self.completion_tokens, other.completion_tokens),
            reasoning_tokens: sum(self.reasoning_tokens, other.reasoning_tokens),
        }
    }
}

/// A model's prices, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Per million prompt (input) tokens.
    pub input_per_mtok: f64,
    /// Per million generated (output) tokens, reasoning included.
    pub output_per_mtok: f64,
}

impl ModelPrice {
    /// What `usage` costs, when the provider reported both token counts.
    pub fn cost(&self, usage: &TokenUsage) -> Option<f64> {
        let (prompt, completion) = (usage.prompt_tokens?, usage.completion_tokens?);
        Some(
            (f64::from(prompt) * self.input_per_mtok
                + f64::from(completion) * self.output_per_mtok)
                / 1_000_000.0,
        )
    }
}

/// Two costs together: unknown only when both are.
fn add_cost(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// What a run has spent so far, over every answered attempt (retried ones included), and what
/// its LLM judge spent apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reasoning tokens, where reported.
    pub reasoning_tokens: u64,
    /// Cost in US dollars of the answers whose model has a price; `None` when none had.
    pub cost_usd: Option<f64>,
    /// Answers served from the response cache: not sent, not paid, their tokens not counted.
    pub cached_answers: u64,
    /// Answers whose provider did not report both token counts (a server that sends usage only
    /// sometimes, a Browser Harness capture): their tokens are in the figures above only as far
    /// as reported, and their cost not at all, which are then a part of what the run used.
    pub answers_without_usage: u64,
    /// What the run's LLM judge spent on its requests (nothing under the rule judges). Kept
    /// apart from the answers' figures, so that those compare models whatever judged them;
    /// a budget caps both together.
    #[serde(skip_serializing_if = "JudgeUsage::is_nothing")]
    pub judge: JudgeUsage,
}

impl RunUsage {
    /// Adds one answer's usage and cost (an answer the provider gave: one from the cache spent
    /// nothing, and is counted as such apart).
    pub fn add(&mut self, usage: &TokenUsage, cost_usd: Option<f64>) {
        if usage.prompt_tokens.is_none() || usage.completion_tokens.is_none() {
            self.answers_without_usage += 1;
        }
        self.prompt_tokens += u64::from(usage.prompt_tokens.unwrap_or(0));
        self.completion_tokens += u64::from(usage.completion_tokens.unwrap_or(0));
        self.reasoning_tokens += u64::from(usage.reasoning_tokens.unwrap_or(0));
        self.cost_usd = add_cost(self.cost_usd, cost_usd);
    }

    /// Adds one answer served from the response cache: not sent, no tokens, and `cost_usd`
    /// (`Some(0.0)` where the model has a price, so that a wholly cached run costs $0).
    pub fn add_cached(&mut self, cost_usd: Option<f64>) {
        self.cached_answers += 1;
        self.cost_usd = add_cost(self.cost_usd, cost_usd);
    }

    /// Adds what `other` spent.
    pub fn absorb(&mut self, other: &RunUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cached_answers += other.cached_answers;
        self.answers_without_usage += other.answers_without_usage;
        self.cost_usd = add_cost(self.cost_usd, other.cost_usd);
        self.judge.absorb(&other.judge);
    }

    /// Prompt plus generated tokens of the answers.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Every token the run spent, its judge's included (what a token budget counts).
    pub fn tokens_spent(&self) -> u64 {
        self.total_tokens() + self.judge.total_tokens()
    }

    /// Every dollar the run spent at the configured prices, its judge's included (what a cost
    /// budget counts); `None` when nothing it used has a price.
    pub fn cost_spent(&self) -> Option<f64> {
        add_cost(self.cost_usd, self.judge.cost_usd)
    }

    /// The larger of each figure: what is known of a run's spending from two partial views
    /// (the database's totals and what this server added since it read them).
    pub fn max(&self, other: &RunUsage) -> RunUsage {
        RunUsage {
            prompt_tokens: self.prompt_tokens.max(other.prompt_tokens),
            completion_tokens: self.completion_tokens.max(other.completion_tokens),
            reasoning_tokens: self.reasoning_tokens.max(other.reasoning_tokens),
            cached_answers: self.cached_answers.max(other.cached_answers),
            answers_without_usage: self.answers_without_usage.max(other.answers_without_usage),
            cost_usd: max_cost(self.cost_usd, other.cost_usd),
            judge: self.judge.max(&other.judge),
        }
    }
}

/// The larger of two costs, unknown only when both are.
fn max_cost(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// What an LLM judge's requests for one judgment used (replies without a verdict included:
/// they were paid for) and cost at the judge model's configured price.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JudgeSpend {
    /// Tokens, summed over the requests, as the provider reported them.
    pub usage: TokenUsage,
    /// US dollars; `None` without a price or reported usage.
    pub cost_usd: Option<f64>,
}

impl JudgeSpend {
    /// Adds one more request's usage and cost.
    pub fn add(&mut self, usage: &TokenUsage, cost_usd: Option<f64>) {
        self.usage = self.usage.plus(usage);
        self.cost_usd = add_cost(self.cost_usd, cost_usd);
    }
}

/// What an LLM judge spent judging a run's answers, over all of its requests (replies without
/// a verdict included: they were paid for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JudgeUsage {
    /// Prompt tokens (the judge's prompt holds the question and the answer judged).
    pub prompt_tokens: u64,
    /// Generated tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reasoning tokens, where reported.
    pub reasoning_tokens: u64,
    /// Cost in US dollars at the judge model's configured price; `None` without one.
    pub cost_usd: Option<f64>,
}

impl JudgeUsage {
    /// Adds one judgment's usage and cost.
    pub fn add(&mut self, usage: &TokenUsage, cost_usd: Option<f64>) {
        self.prompt_tokens += u64::from(usage.prompt_tokens.unwrap_or(0));
        self.completion_tokens += u64::from(usage.completion_tokens.unwrap_or(0));
        self.reasoning_tokens += u64::from(usage.reasoning_tokens.unwrap_or(0));
        self.cost_usd = add_cost(self.cost_usd, cost_usd);
    }

    /// Adds what `other` spent.
    pub fn absorb(&mut self, other: &JudgeUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cost_usd = add_cost(self.cost_usd, other.cost_usd);
    }

    /// Prompt plus generated tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// The larger of each figure (see [`RunUsage::max`]).
    pub fn max(&self, other: &JudgeUsage) -> JudgeUsage {
        JudgeUsage {
            prompt_tokens: self.prompt_tokens.max(other.prompt_tokens),
            completion_tokens: self.completion_tokens.max(other.completion_tokens),
            reasoning_tokens: self.reasoning_tokens.max(other.reasoning_tokens),
            cost_usd: max_cost(self.cost_usd, other.cost_usd),
        }
    }

    /// Whether the judge spent nothing that was reported (the rule judges never do).
    pub fn is_nothing(&self) -> bool {
        self.total_tokens() == 0 && self.cost_usd.is_none()
    }
}

/// Caps on what a run may spend, its LLM judge's requests included. When one is reached no new
/// item is sent: items in flight finish, their answers judged (and may take the run past the
/// cap by their own usage), and the run ends `canceled` with the reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// Most US dollars, at the provider configuration's prices (answers without a price cost
    /// nothing here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// Most tokens, prompt plus generated, as the provider reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

impl Budget {
    /// Whether the budget sets no cap.
    pub fn is_unlimited(&self) -> bool {
        self.max_cost_usd.is_none() && self.max_tokens.is_none()
    }

    /// Why `spent` leaves nothing of this budget, or `None` while some is left.
    pub fn exhausted_by(&self, spent: &RunUsage) -> Option<String> {
        // Said so when the judge's share is part of what was used up.
        let judge = if spent.judge.is_nothing() {
            ""
        } else {
            ", the LLM judge's included"
        };
        if let Some(max) = self.max_tokens
            && spent.tokens_spent() >= max
        {
            return Some(format!(
                "the budget of {max} tokens is spent ({} used{judge})",
                spent.tokens_spent()
            ));
        }
        if let (Some(max), Some(cost)) = (self.max_cost_usd, spent.cost_spent())
            && cost >= max
        {
            return Some(format!(
                "the budget of ${max} is spent (${cost:.6} used{judge})"
            ));
        }
        None
    }
}

/// Time to first token and to the whole answer over a run's answered items: the median and
/// the 95th percentile (nearest rank), in microseconds; `None` without samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LatencySummary {
    /// Median time from sending to the first streamed token.
    pub ttft_p50_us: Option<i64>,
    /// 95th percentile of the time to the first token.
    pub ttft_p95_us: Option<i64>,
    /// Median time from sending to the complete answer.
    pub total_p50_us: Option<i64>,
    /// 95th percentile of the time to the complete answer.
    pub total_p95_us: Option<i64>,
}

impl LatencySummary {
    /// The summary of samples of time to first token and of total time (any order).
    pub fn from_samples(mut ttft_us: Vec<i64>, mut total_us: Vec<i64>) -> Self {
        ttft_us.sort_unstable();
        total_us.sort_unstable();
        Self {
            ttft_p50_us: nearest_rank(&ttft_us, 50),
            ttft_p95_us: nearest_rank(&ttft_us, 95),
            total_p50_us: nearest_rank(&total_us, 50),
            total_p95_us: nearest_rank(&total_us, 95),
        }
    }
}

/// The `percent`-th percentile of sorted samples by the nearest-rank method: the smallest
/// sample with at least `percent` % of the samples at or below it.
pub fn nearest_rank(sorted: &[i64], percent: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() as u64 * u64::from(percent))
        .div_ceil(100)
        .max(1);
    Some(sorted[rank as usize - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[7], 95), Some(7));
        let hundred: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&hundred, 50), Some(50));
        assert_eq!(nearest_rank(&hundred, 95), Some(95));
        // 20 samples: the 95th percentile is the 19th, the median the 10th.
        let twenty: Vec<i64> = (1..=20).map(|x| x * 10).collect();
        assert_eq!(nearest_rank(&twenty, 95), Some(190));
        assert_eq!(nearest_rank(&twenty, 50), Some(100));
        let summary = LatencySummary::from_samples(vec![3, 1, 2], vec![]);
        assert_eq!(summary.ttft_p50_us, Some(2));
        assert_eq!(summary.ttft_p95_us, Some(3));
        assert_eq!(summary.total_p50_us, None);
    }

    #[test]
    fn cost_needs_both_counts() {
        let price = ModelPrice {
            input_per_mtok: 2.5,
            output_per_mtok: 10.0,
        };
        let usage = TokenUsage {
            prompt_tokens: Some(1_000),
            completion_tokens: Some(200),
            reasoning_tokens: None,
        };
        assert!((price.cost(&usage).unwrap() - 0.0045).abs() < 1e-12);
        let partial = TokenUsage {
            completion_tokens: None,
            ..usage
        };
        assert_eq!(price.cost(&partial), None);
    }

    #[test]
    fn budgets_end_at_their_cap() {
        let mut spent = RunUsage::default();
        let budget = Budget {
            max_tokens: Some(100),
            max_cost_usd: Some(0.01),
        };
        assert_eq!(budget.exhausted_by(&spent), None);
        let usage = TokenUsage {
            prompt_tokens: Some(60),
            completion_tokens: Some(39),
            reasoning_tokens: Some(10),
        };
        spent.add(&usage, Some(0.004));
        assert_eq!(budget.exhausted_by(&spent), None);
        assert_eq!(spent.reasoning_tokens, 10);
        spent.add(
            &TokenUsage {
                prompt_tokens: Some(1),
                ..TokenUsage::default()
            },
            None,
        );
        assert_eq!(
            budget.exhausted_by(&spent).unwrap(),
            "the budget of 100 tokens is spent (100 used)"
        );
        let dollars = Budget {
            max_cost_usd: Some(0.008),
            max_tokens: None,
        };
        assert_eq!(dollars.exhausted_by(&spent), None);
        spent.add(&TokenUsage::default(), Some(0.004));
        assert!(
            dollars
                .exhausted_by(&spent)
                .unwrap()
                .starts_with("the budget of $0.008")
        );
        assert!(Budget::default().is_unlimited());
    }

    #[test]
    fn answers_without_counts_and_from_the_cache_are_counted_apart() {
        let mut spent = RunUsage::default();
        let counted = TokenUsage {
            prompt_tokens: Some(40),
            completion_tokens: Some(9),
            reasoning_tokens: None,
        };
        spent.add(&counted, Some(0.001));
        spent.add(&TokenUsage::default(), None);
        spent.add(
            &TokenUsage {
                prompt_tokens: Some(40),
                ..TokenUsage::default()
            },
            None,
        );
        spent.add_cached(Some(0.0));
        assert_eq!(
            (
                spent.total_tokens(),
                spent.answers_without_usage,
                spent.cached_answers,
                spent.cost_usd
            ),
            (89, 2, 1, Some(0.001))
        );
        let mut other = RunUsage::default();
        other.absorb(&spent);
        other.absorb(&spent);
        assert_eq!((other.answers_without_usage, other.cached_answers), (4, 2));
        // Kept in the run's JSON; a run stored before the count reads 0.
        let read: RunUsage = serde_json::from_str(r#"{"promptTokens": 5}"#).unwrap();
        assert_eq!(read.answers_without_usage, 0);
    }

    #[test]
    fn max_of_two_views() {
        let a = RunUsage {
            prompt_tokens: 5,
            completion_tokens: 1,
            reasoning_tokens: 0,
            cost_usd: None,
            cached_answers: 0,
            answers_without_usage: 0,
            judge: JudgeUsage::default(),
        };
        let b = RunUsage {
            prompt_tokens: 3,
            completion_tokens: 4,
            reasoning_tokens: 2,
            cost_usd: Some(0.5),
            cached_answers: 0,
            answers_without_usage: 0,
            judge: JudgeUsage {
                prompt_tokens: 9,
                cost_usd: Some(0.1),
                ..JudgeUsage::default()
            },
        };
        let m = a.max(&b);
        assert_eq!(
            (
                m.prompt_tokens,
                m.completion_tokens,
                m.reasoning_tokens,
                m.cost_usd
            ),
            (5, 4, 2, Some(0.5))
        );
        assert_eq!((m.judge.prompt_tokens, m.judge.cost_usd), (9, Some(0.1)));
    }

    #[test]
    fn budgets_count_the_judge() {
        let mut spent = RunUsage::default();
        let answer = TokenUsage {
            prompt_tokens: Some(50),
            completion_tokens: Some(10),
            reasoning_tokens: None,
        };
        spent.add(&answer, None);
        let tokens = Budget {
            max_tokens: Some(100),
            max_cost_usd: None,
        };
        assert_eq!(tokens.exhausted_by(&spent), None);
        spent.judge.add(&answer, Some(0.002));
        // The answers' own figures stay the model's.
        assert_eq!((spent.total_tokens(), spent.cost_usd), (60, None));
        assert_eq!(
            tokens.exhausted_by(&spent).unwrap(),
            "the budget of 100 tokens is spent (120 used, the LLM judge's included)"
        );
        let dollars = Budget {
            max_tokens: None,
            max_cost_usd: Some(0.002),
        };
        assert!(
            dollars
                .exhausted_by(&spent)
                .unwrap()
                .starts_with("the budget of $0.002 is spent ($0.002000 used")
        );
        // Stored runs from before the judge was counted read as having spent nothing on it,
        // and a run whose judge spent nothing stores nothing for it.
        let old: RunUsage = serde_json::from_str(r#"{"promptTokens":3,"costUsd":0.5}"#).unwrap();
        assert!(old.judge.is_nothing());
        assert!(!serde_json::to_string(&old).unwrap().contains("judge"));
        let back: RunUsage = serde_json::from_str(&serde_json::to_string(&spent).unwrap()).unwrap();
        assert_eq!(back, spent);
    }

    #[test]
    fn usages_add_up_where_reported() {
        let a = TokenUsage {
            prompt_tokens: Some(5),
            completion_tokens: None,
            reasoning_tokens: None,
        };
        let b = TokenUsage {
            prompt_tokens: Some(u32::MAX),
            completion_tokens: Some(2),
            reasoning_tokens: None,
        };
        assert_eq!(
            a.plus(&b),
            TokenUsage {
                prompt_tokens: Some(u32::MAX),
                completion_tokens: Some(2),
                reasoning_tokens: None,
            }
        );
    }
}
