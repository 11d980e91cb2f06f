//! Per-provider admission: an adaptive concurrency limit (halved on 429, at most once a second,
//! grown back one step per window of successes), a pause while the provider's `Retry-After`
//! runs, and optional request and token rate limits. The limit in force and the slots in use
//! are gauges of the provider (docs/operations.md): a run that slows after 429s shows why.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

use crate::providers::ProviderLimitsConfig;

/// Admission to one provider.
pub(crate) struct ProviderGate {
    /// The provider's name, for the server's log.
    provider: String,
    state: Mutex<GateState>,
    released: Notify,
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<TokenRate>,
    gauges: GateGauges,
}

/// The provider's gauges, set under the gate's lock as what they show changes.
struct GateGauges {
    /// The concurrency limit in force.
    limit: metrics::Gauge,
    /// Slots held: requests sent, and requests about to be (waiting out a `Retry-After`
    /// pause or the rate limits).
    in_use: metrics::Gauge,
}

/// The gauge of a provider's concurrency limit in force.
pub(crate) const CONCURRENCY_LIMIT: &str = "evalboard_provider_concurrency_limit";

/// The gauge of a provider's slots in use.
pub(crate) const SLOTS_IN_USE: &str = "evalboard_provider_slots_in_use";

/// A provider's tokens per minute. Requests wait for their tokens in turn: the rate limiter
/// alone lets any request whose tokens are there go first, and a large one (a run asking for
/// many `maxTokens`) waiting for a fuller bucket would wait for ever while smaller ones kept
/// draining it.
struct TokenRate {
    limiter: DefaultDirectRateLimiter,
    /// A minute's tokens: the most one request waits for.
    capacity: NonZeroU32,
    /// Held, first come first served, while a request waits for its tokens.
    turn: tokio::sync::Mutex<()>,
}

struct GateState {
    limit: usize,
    max: usize,
    in_use: usize,
    successes: usize,
    /// No request goes out before this (the provider's `Retry-After`).
    paused_until: Option<Instant>,
    /// When the limit was last cut: a burst of 429s from one overload cuts it once.
    last_cut: Option<Instant>,
}

/// A provider's requests a minute, evenly spread: at most a second's worth at once (one, at
/// 60 or fewer a minute). Providers enforce a per-minute limit over shorter spans too, so a
/// whole minute's quota sent at the start of a run (`Quota::per_minute` allows that burst)
/// drew 429s: 26 requests in 1.2 s at 30 a minute.
fn requests_per_minute(n: u32) -> Option<Quota> {
    let burst = NonZeroU32::new((n / 60).max(1))?;
    Some(Quota::per_minute(NonZeroU32::new(n)?).allow_burst(burst))
}

/// A slot at the provider; frees itself when dropped.
pub(crate) struct Slot {
    gate: Arc<ProviderGate>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut state = self.gate.lock();
            state.in_use -= 1;
            self.gate.gauges.in_use.set(state.in_use as f64);
        }
        self.gate.released.notify_one();
    }
}

impl ProviderGate {
    /// The gate of provider `provider` (its name: the gauges' label).
    pub(crate) fn new(provider: &str, limits: &ProviderLimitsConfig) -> Arc<Self> {
        let per_minute = |n: u32| NonZeroU32::new(n).map(Quota::per_minute);
        let gauges = GateGauges {
            limit: metrics::gauge!(CONCURRENCY_LIMIT, "provider" => provider.to_owned()),
            in_use: metrics::gauge!(SLOTS_IN_USE, "provider" => provider.to_owned()),
        };
        gauges.limit.set(f64::from(limits.max_concurrency));
        gauges.in_use.set(0.0);
        Arc::new(Self {
            provider: provider.to_owned(),
            gauges,
            state: Mutex::new(GateState {
                limit: limits.max_concurrency as usize,
                max: limits.max_concurrency as usize,
                in_use: 0,
                successes: 0,
                paused_until: None,
                last_cut: None,
            }),
            released: Notify::new(),
            requests: limits
                .requests_per_minute
                .and_then(requests_per_minute)
                .map(RateLimiter::direct),
            tokens: limits.tokens_per_minute.and_then(|n| {
                Some(TokenRate {
                    limiter: RateLimiter::direct(per_minute(n)?),
                    capacity: NonZeroU32::new(n)?,
                    turn: tokio::sync::Mutex::new(()),
                })
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a free slot under the current limit, for any pause the provider asked for to
    /// end, then for the rate limits to allow a request of about `tokens` tokens.
    pub(crate) async fn admit(self: &Arc<Self>, tokens: u32) -> Slot {
        loop {
            let released = self.released.notified();
            {
                let mut state = self.lock();
                if state.in_use < state.limit {
                    state.in_use += 1;
                    self.gauges.in_use.set(state.in_use as f64);
                    break;
                }
            }
            released.await;
        }
        let slot = Slot {
            gate: Arc::clone(self),
        };
        loop {
            let paused_until = self.lock().paused_until;
            match paused_until {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until.into()).await;
                }
                _ => break,
            }
        }
        if let Some(requests) = &self.requests {
            requests.until_ready().await;
        }
        if let Some(rate) = &self.tokens {
            // A request larger than a minute's budget waits for the whole budget.
            let n = NonZeroU32::new(tokens.max(1))
                .unwrap_or(NonZeroU32::MIN)
                .min(rate.capacity);
            // (tokio's mutex is fair: waiters take their turn in the order they came.)
            let _turn = rate.turn.lock().await;
            let _ = rate.limiter.until_n_ready(n).await;
        }
        slot
    }

    /// The provider said "too many requests": halve the concurrency limit (at most once a
    /// second), and hold every request back until `retry_after` has passed.
    pub(crate) fn rate_limited(&self, retry_after: Option<Duration>) {
        let mut state = self.lock();
        let now = Instant::now();
        let cut_recently = state
            .last_cut
            .is_some_and(|cut| now.duration_since(cut) < Duration::from_secs(1));
        if !cut_recently {
            let before = state.limit;
            state.limit = (state.limit / 2).max(1);
            state.last_cut = Some(now);
            self.gauges.limit.set(state.limit as f64);
            // The server's log says why runs slow down, once per halving that lowers the limit (at
            // most once a second; not at 1 again and again): the runs' own logs say it per item,
            // where an operator does not look.
            if state.limit < before {
                tracing::warn!(
                    provider = %self.provider,
                    limit = state.limit,
                    max = state.max,
                    retry_after_secs = retry_after.map(|wait| wait.as_secs()),
                    "the provider answers 429 (too many requests): its requests in flight are \
                     limited to {} of {}, one more after each {} answers in a row",
                    state.limit,
                    state.max,
                    state.limit
                );
            }
        }
        state.successes = 0;
        if let Some(wait) = retry_after {
            let until = now + wait;
            state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        }
    }

    /// A request succeeded: after as many successes as the current limit, allow one more.
    pub(crate) fn succeeded(&self) {
        let mut state = self.lock();
        state.successes += 1;
        if state.successes >= state.limit && state.limit < state.max {
            state.limit += 1;
            state.successes = 0;
            self.gauges.limit.set(state.limit as f64);
            if state.limit == state.max {
                tracing::info!(
                    provider = %self.provider,
                    limit = state.limit,
                    "the provider is back to its whole concurrency limit"
                );
            }
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
    use super::*;

    fn limits(max: u32) -> ProviderLimitsConfig {
        ProviderLimitsConfig {
            max_concurrency: max,
            requests_per_minute: None,
            tokens_per_minute: None,
            max_attempts: 4,
            max_throttled_attempts: 20,
            max_throttled: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(1),
            max_response_bytes: 1024,
        }
    }

    /// What is logged while `f` runs, as the server's log would print it.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn the_servers_log_says_when_a_provider_is_throttled_and_when_it_is_whole_again() {
        let gate = ProviderGate::new("Slow AI", &limits(4));
        let said = logged(|| gate.rate_limited(Some(Duration::from_secs(7))));
        assert!(
            said.contains("WARN")
                && said.contains(
                    "the provider answers 429 (too many requests): its requests in \
                                  flight are limited to 2 of 4, one more after each 2 answers"
                )
                && said.contains("provider=Slow AI")
                && said.contains("retry_after_secs=7"),
            "{said}"
        );
        // Grown back one step per window of successes; said once it is whole.
        let said = logged(|| {
            for _ in 0..5 {
                gate.succeeded();
            }
        });
        assert!(
            said.contains("is back to its whole concurrency limit"),
            "{said}"
        );
        assert_eq!(gate.limit(), 4);
        // At its least, a 429 more lowers nothing: nothing is said.
        let single = ProviderGate::new("One AI", &limits(1));
        assert_eq!(logged(|| single.rate_limited(None)), "");
    }

    #[tokio::test]
    async fn the_limit_halves_once_per_burst_of_429s_and_grows_back() {
        let gate = ProviderGate::new("test", &limits(8));
        gate.rate_limited(None);
        gate.rate_limited(None);
        gate.rate_limited(None);
        assert_eq!(gate.limit(), 4, "one burst, one cut");
        for _ in 0..3 {
            gate.lock().last_cut = Some(Instant::now() - Duration::from_secs(2));
            gate.rate_limited(None);
        }
        assert_eq!(gate.limit(), 1, "never below one");
        gate.succeeded();
        assert_eq!(gate.limit(), 2);
        for _ in 0..2 {
            gate.succeeded();
        }
        assert_eq!(gate.limit(), 3);
    }

    #[tokio::test]
    async fn the_limit_in_force_and_the_slots_in_use_are_gauges() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let rendered = recorder.handle();
        // The gauges are registered with the gate, so they stay this recorder's.
        let gate = metrics::with_local_recorder(&recorder, || ProviderGate::new("p", &limits(8)));
        let gauge = |name: &str| {
            let series = format!("{name}{{provider=\"p\"}} ");
            rendered
                .render()
                .lines()
                .find_map(|line| line.strip_prefix(&series)?.parse::<f64>().ok())
        };
        let read = || (gauge(CONCURRENCY_LIMIT), gauge(SLOTS_IN_USE));
        assert_eq!(read(), (Some(8.0), Some(0.0)), "there from the start");
        let first = gate.admit(1).await;
        let second = gate.admit(1).await;
        assert_eq!(read(), (Some(8.0), Some(2.0)));
        gate.rate_limited(None);
        assert_eq!(read(), (Some(4.0), Some(2.0)));
        drop(first);
        assert_eq!(read(), (Some(4.0), Some(1.0)));
        for _ in 0..4 {
            gate.succeeded();
        }
        drop(second);
        assert_eq!(read(), (Some(5.0), Some(0.0)));
    }

    #[tokio::test]
    async fn retry_after_holds_every_request_back() {
        let gate = ProviderGate::new("test", &limits(4));
        gate.rate_limited(Some(Duration::from_millis(200)));
        let started = Instant::now();
        let _slot = gate.admit(1).await;
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_large_request_is_not_starved_by_smaller_ones_behind_it() {
        // 600,000 tokens a minute: 10,000 a second.
        let gate = ProviderGate::new(
            "test",
            &ProviderLimitsConfig {
                tokens_per_minute: Some(600_000),
                ..limits(64)
            },
        );
        let _drained = gate.admit(600_000).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let admit = |name: &'static str, tokens: u32| {
            let (gate, order) = (Arc::clone(&gate), Arc::clone(&order));
            tokio::spawn(async move {
                let _slot = gate.admit(tokens).await;
                order.lock().unwrap().push(name);
            })
        };
        // 3,000 tokens: a third of a second of refill, which the small ones behind it (100
        // tokens, 10 ms each) would keep taking first.
        let large = admit("large", 3_000);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let small: Vec<_> = (0..20).map(|_| admit("small", 100)).collect();
        large.await.unwrap();
        for task in small {
            task.await.unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order.first(), Some(&"large"), "{order:?}");
        assert_eq!(order.len(), 21);
    }

    #[test]
    fn requests_a_minute_go_out_at_most_a_seconds_worth_at_once() {
        let sent_at_once = |per_minute: u32| {
            let limiter = RateLimiter::direct(requests_per_minute(per_minute).unwrap());
            (0..per_minute)
                .take_while(|_| limiter.check().is_ok())
                .count()
        };
        assert_eq!(sent_at_once(30), 1);
        assert_eq!(sent_at_once(60), 1);
        assert_eq!(sent_at_once(600), 10);
        assert_eq!(requests_per_minute(0), None);
    }

    #[tokio::test]
    async fn slots_wait_for_a_release() {
        let gate = ProviderGate::new("test", &limits(1));
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
