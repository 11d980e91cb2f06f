//! Logging a failure that repeats while the database is down: when it starts, at most once a
//! minute while it lasts (with how many attempts failed), and when it ends — instead of at
//! every attempt, which buried a server's log under identical lines (the connection pool alone
//! tried eight connections every two seconds).

use std::{
    fmt::Display,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How often a failure that goes on is said again.
const SAID_AGAIN_EVERY: Duration = Duration::from_secs(60);

/// A failure this long after the previous one begins another outage: attempts come every few
/// seconds while one lasts, and one that ended while nothing was attempted (an idle engine
/// claims nothing) was never seen to end.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(300);

/// One kind of attempt that fails while the database is unreachable (opening a connection,
/// listening for other replicas' events), logged as an outage.
#[derive(Debug)]
pub struct Outage {
    /// What was attempted, as in "cannot {what}".
    what: &'static str,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the first failure of the current outage happened; `None` while attempts succeed.
    since: Option<Instant>,
    /// Failed attempts in the current outage.
    failures: u64,
    /// When the last of them failed.
    last_failed: Option<Instant>,
    /// When the outage was last logged.
    said_at: Option<Instant>,
}

impl Outage {
    /// An outage of attempts to `what` ("open a database connection"), not begun.
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            state: Mutex::new(State {
                since: None,
                failures: 0,
                last_failed: None,
                said_at: None,
            }),
        }
    }

    /// An attempt failed with `error`: logged (a warning) when it begins an outage or a minute
    /// has passed since the outage was last logged.
    pub fn failed(&self, error: &dyn Display) {
        if let Some(message) = self.failed_at(Instant::now(), error) {
            tracing::warn!("{message}");
        }
    }

    /// An attempt succeeded: logged when it ends an outage.
    pub fn succeeded(&self) {
        if let Some(message) = self.succeeded_at(Instant::now()) {
            tracing::info!("{message}");
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What to log of a failure at `now`, if anything.
    fn failed_at(&self, now: Instant, error: &dyn Display) -> Option<String> {
        let mut state = self.state();
        if state
            .last_failed
            .is_some_and(|last| now.duration_since(last) > FORGOTTEN_AFTER)
        {
            *state = State::default();
        }
        state.last_failed = Some(now);
        state.failures += 1;
        let since = *state.since.get_or_insert(now);
        if state
            .said_at
            .is_some_and(|said| now.duration_since(said) < SAID_AGAIN_EVERY)
        {
            return None;
        }
        state.said_at = Some(now);
        // Drivers' messages span lines ("...failed: Connection refused\n\tIs the server
        // running..."): one log line each.
        let error = crate::error::one_line(&error.to_string());
        Some(if state.failures == 1 {
            format!("cannot {}: {error}", self.what)
        } else {
            format!(
                "still cannot {} ({} failed in {} s): {error}",
                self.what,
                attempts(state.failures),
                now.duration_since(since).as_secs()
            )
        })
    }

    /// What to log of a success at `now`, if anything.
    fn succeeded_at(&self, now: Instant) -> Option<String> {
        let mut state = self.state();
        let since = state.since?;
        let message = format!(
            "can {} again ({} failed in {} s)",
            self.what,
            attempts(state.failures),
            now.duration_since(since).as_secs()
        );
        *state = State::default();
        Some(message)
    }
}

/// "1 attempt", "2 attempts".
fn attempts(n: u64) -> String {
    format!("{n} attempt{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_said_when_it_begins_once_a_minute_and_when_it_ends() {
        let outage = Outage::new("open a database connection");
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        assert_eq!(outage.succeeded_at(at(0)), None, "no outage, nothing said");
        let refused = "connection refused\n\tIs the server running?";
        assert_eq!(
            outage.failed_at(at(1), &refused).as_deref(),
            Some("cannot open a database connection: connection refused Is the server running?")
        );
        for second in 2..61 {
            assert_eq!(outage.failed_at(at(second), &refused), None);
        }
        assert_eq!(
            outage.failed_at(at(61), &"refused").as_deref(),
            Some("still cannot open a database connection (61 attempts failed in 60 s): refused")
        );
        assert_eq!(outage.failed_at(at(62), &"refused"), None);
        assert_eq!(
            outage.succeeded_at(at(65)).as_deref(),
            Some("can open a database connection again (62 attempts failed in 64 s)")
        );
        assert_eq!(outage.succeeded_at(at(66)), None);
        // The next outage is said from its beginning.
        assert_eq!(
            outage.failed_at(at(67), &"refused").as_deref(),
            Some("cannot open a database connection: refused")
        );
        assert_eq!(
            outage.succeeded_at(at(68)).as_deref(),
            Some("can open a database connection again (1 attempt failed in 1 s)")
        );
        // One that ended unseen (nothing was attempted): a failure a day later is another.
        assert!(outage.failed_at(at(100), &"refused").is_some());
        assert_eq!(
            outage.failed_at(at(100 + 86_400), &"refused").as_deref(),
            Some("cannot open a database connection: refused")
        );
    }
}
