//! Per-provider admission: an adaptive concurrency limit (halved on 429, grown back one step per
//! window of successes) and optional request and token rate limits.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

use crate::providers::ProviderLimitsConfig;

/// Admission to one provider.
pub(crate) struct ProviderGate {
    state: Mutex<GateState>,
    released: Notify,
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
}

struct GateState {
    limit: usize,
    max: usize,
    in_use: usize,
    successes: usize,
}

/// A slot at the provider; frees itself when dropped.
pub(crate) struct Slot {
    gate: Arc<ProviderGate>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.lock().in_use -= 1;
        self.gate.released.notify_one();
    }
}

impl ProviderGate {
    pub(crate) fn new(limits: &ProviderLimitsConfig) -> Arc<Self> {
        let per_minute = |n: u32| NonZeroU32::new(n).map(Quota::per_minute);
        Arc::new(Self {
            state: Mutex::new(GateState {
                limit: limits.max_concurrency as usize,
                max: limits.max_concurrency as usize,
                in_use: 0,
                successes: 0,
            }),
            released: Notify::new(),
            requests: limits
                .requests_per_minute
                .and_then(per_minute)
                .map(RateLimiter::direct),
            tokens: limits
                .tokens_per_minute
                .and_then(|n| Some((RateLimiter::direct(per_minute(n)?), NonZeroU32::new(n)?))),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a free slot under the current limit, then for the rate limits to allow a
    /// request of about `tokens` tokens.
    pub(crate) async fn admit(self: &Arc<Self>, tokens: u32) -> Slot {
        loop {
            let released = self.released.notified();
            {
                let mut state = self.lock();
                if state.in_use < state.limit {
                    state.in_use += 1;
                    break;
                }
            }
            released.await;
        }
        let slot = Slot {
            gate: Arc::clone(self),
        };
        if let Some(requests) = &self.requests {
            requests.until_ready().await;
        }
        if let Some((limiter, capacity)) = &self.tokens {
            // A request larger than a minute's budget waits for the whole budget.
            let n = NonZeroU32::new(tokens.max(1))
                .unwrap_or(NonZeroU32::MIN)
                .min(*capacity);
            let _ = limiter.until_n_ready(n).await;
        }
        slot
    }

    /// The provider said "too many requests": halve the concurrency limit.
    pub(crate) fn rate_limited(&self) {
        let mut state = self.lock();
        state.limit = (state.limit / 2).max(1);
        state.successes = 0;
    }

    /// A request succeeded: after as many successes as the current limit, allow one more.
    pub(crate) fn succeeded(&self) {
        let mut state = self.lock();
        state.successes += 1;
        if state.successes >= state.limit && state.limit < state.max {
            state.limit += 1;
            state.successes = 0;
            drop(state);
            self.released.notify_one();
        }
    }

    /// The current concurrency limit.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.lock().limit
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(max: u32) -> ProviderLimitsConfig {
        ProviderLimitsConfig {
            max_concurrency: max,
            requests_per_minute: None,
            tokens_per_minute: None,
            max_attempts: 4,
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn the_limit_halves_on_429_and_grows_back() {
        let gate = ProviderGate::new(&limits(8));
        gate.rate_limited();
        assert_eq!(gate.limit(), 4);
        gate.rate_limited();
        gate.rate_limited();
        gate.rate_limited();
        assert_eq!(gate.limit(), 1, "never below one");
        gate.succeeded();
        assert_eq!(gate.limit(), 2);
        for _ in 0..2 {
            gate.succeeded();
        }
        assert_eq!(gate.limit(), 3);
    }

    #[tokio::test]
    async fn slots_wait_for_a_release() {
        let gate = ProviderGate::new(&limits(1));
        let first = gate.admit(1).await;
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.admit(1).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "the second request waits for the first"
        );
        drop(first);
        let _second = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .unwrap()
            .unwrap();
    }
}
