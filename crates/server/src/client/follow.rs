//! `--follow`: a run watched through the event stream, with a live progress bar on standard
//! error (indicatif: done/total, correct/incorrect/faulted, items per second, time left).

use std::{
    io::{BufRead, BufReader, IsTerminal, Write},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context;
use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde_json::Value;

use super::{Client, Refused, is_transient, runs::print_run};

/// The statuses a run ends in.
const TERMINAL: [&str; 3] = ["completed", "failed", "canceled"];

/// How long a follower keeps trying to reach a server that went away (restarted, draining,
/// the network down) before it gives up; the run itself goes on there regardless.
const PATIENCE: Duration = Duration::from_secs(60);

/// How often a follower looks for new warnings in the run's log.
const WARNINGS_EVERY: Duration = Duration::from_secs(10);

/// The run's own warnings (its log's `warn` and `error` entries about the run, not about one
/// item), said once each on standard error: a run no server here can work ("leaves this run to
/// servers set up for it: … is not set"), a resume, a budget stop — which the event stream
/// does not carry, and without which a parked run is a silent bar.
pub(super) struct RunWarnings {
    /// Where the next look continues (the log's cursor); `None` before the first.
    cursor: Option<String>,
    last_look: Option<Instant>,
}

impl RunWarnings {
    /// From the log's start: a run followed says what it met so far.
    pub(super) fn new() -> Self {
        Self {
            cursor: None,
            last_look: None,
        }
    }

    /// From the log's end as it is now: a run about to be retried says only what its retry
    /// meets, not the failures that made it retried (`retry --follow` began by repeating them,
    /// as if the retry had failed at once). A log that cannot be read now is read whole later.
    pub(super) fn from_now(client: &Client, id: &str) -> Self {
        let mut warnings = Self::new();
        warnings.read(client, id, |_| {});
        warnings.last_look = None;
        warnings
    }

    /// Says the warnings logged since the last look, if it was long enough ago (or `now`).
    /// A log that cannot be read is not the follow's failure: tried again at the next look.
    fn look(&mut self, client: &Client, id: &str, bar: &ProgressBar, now: bool) {
        if !now
            && self
                .last_look
                .is_some_and(|at| at.elapsed() < WARNINGS_EVERY)
        {
            return;
        }
        self.last_look = Some(Instant::now());
        self.read(client, id, |entry| {
            let message = entry["message"].as_str().unwrap_or_default();
            let level = entry["level"].as_str().unwrap_or("warn");
            bar.suspend(|| say!("{level}: {message}"));
        });
    }

    /// Passes the run's warnings past the cursor to `each`, moving the cursor past them.
    fn read(&mut self, client: &Client, id: &str, mut each: impl FnMut(&Value)) {
        loop {
            let mut query = vec![("level", "warn".to_owned()), ("limit", "500".to_owned())];
            query.extend(self.cursor.clone().map(|cursor| ("cursor", cursor)));
            let Ok(page) = client.get_json_with(&format!("/runs/{id}/logs"), &query) else {
                return;
            };
            let entries = page["logs"].as_array().map_or(&[][..], Vec::as_slice);
            entries
                .iter()
                .filter(|entry| entry["sequence"].is_null())
                .for_each(&mut each);
            if let Some(next) = page["nextCursor"].as_str() {
                self.cursor = Some(next.to_owned());
            }
            if entries.len() < 500 {
                return;
            }
        }
    }
}

/// Follows run `id` to its end, saying its warnings from `warnings`' place in its log; exit
/// status 0 when it completes with an item answered, 1 otherwise.
pub(super) fn follow(
    client: &Client,
    id: &str,
    json: bool,
    out: &mut impl Write,
    mut warnings: RunWarnings,
) -> anyhow::Result<ExitCode> {
    let bar = progress_bar()?;
    // A server restarting as the follower starts (right after `create --follow` made the run,
    // say) is waited for as during the run.
    let mut outage = Outage::default();
    let (mut last_event_id, mut run) = loop {
        match where_it_stands(client, id) {
            Ok(start) => break start,
            Err(error) => outage.wait(&bar, client, id, error)?,
        }
    };
    outage.over(&bar);
    show(&bar, &run);
    // What was done before following began was not done at the rate the bar measures; the bar
    // is drawn from here on.
    bar.reset_eta();
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.tick();
    warnings.look(client, id, &bar, true);
    while !is_terminal(&run) {
        // A stream the server ends (it drops a client that falls behind, it restarts) is
        // opened again where it stopped.
        let read = match read_stream(
            client,
            id,
            &mut last_event_id,
            &bar,
            &mut outage,
            &mut warnings,
        ) {
            Ok(read) => read,
            Err(error) => {
                outage.wait(&bar, client, id, error)?;
                continue;
            }
        };
        if read.lines == 0 {
            // Ended before a single line (a proxy closing streams at once): not a busy loop.
            std::thread::sleep(Duration::from_secs(1));
        }
        let ended = read.ended;
        // The whole run, as it ended (or as it stands, to decide whether to go on).
        match client.get_json(&format!("/runs/{id}")) {
            Ok(now) => {
                run = now;
                outage.over(&bar);
            }
            Err(error) => {
                outage.wait(&bar, client, id, error)?;
                continue;
            }
        }
        if ended && !is_terminal(&run) {
            // The stream said so first: read it again until the run agrees.
            continue;
        }
    }
    // What the run said as it ended (why it failed, a budget stop).
    warnings.look(client, id, &bar, true);
    show(&bar, &run);
    // indicatif's rate after the end counts from the bar's start, items done before following
    // began included: the last frame says the counts only.
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {msg}").context("the progress bar's template")?,
    );
    bar.finish();
    if !bar.is_hidden() {
        // The bar's last frame keeps its line: what follows starts on the next.
        say!();
    }
    print_run(out, &run, json)?;
    // A completed run may hold failed or canceled items (the run goes on past them): the exit
    // status says it completed, standard error what a script would otherwise miss — unless no
    // item was answered at all (a provider unreachable throughout a run too short to be failed
    // for it, engine.md), which is no evaluation.
    let faulted = run["progress"]["faulted"].as_u64().unwrap_or(0);
    let total = run["progress"]["total"].as_u64().unwrap_or(0);
    let completed = run["run"]["status"] == "completed";
    if completed && faulted > 0 {
        let canceled = run["canceled"].as_u64().unwrap_or(0);
        // A run made of Browser Harness captures is never sent again by the server (a retry
        // is refused): its items are tried again by playing a new pack.
        let again = if run["run"]["providerName"] == evalboard_domain::BROWSER_HARNESS_PROVIDER {
            "a new pack of them, played and its captures imported, tries them again".to_owned()
        } else {
            format!(
                "`{}` tries them again",
                client.command(&format!("retry {id}"))
            )
        };
        say!(
            "warning: {faulted} of {total} items faulted ({} failed, {canceled} canceled); their \
             errors are in `{}`; {again}",
            faulted.saturating_sub(canceled),
            client.command(&format!("export {id} --state failed,canceled")),
        );
    }
    // So are verdicts an LLM judge did not give: the run's accuracy is partly the rules'.
    if let Some(fallbacks) = run["judgeFallbacks"].as_u64().filter(|&n| n > 0) {
        let judged = run["progress"]["correct"].as_u64().unwrap_or(0)
            + run["progress"]["incorrect"].as_u64().unwrap_or(0);
        say!(
            "warning: {fallbacks} of {judged} verdicts are the extraction rules', not the judge's \
             ({}): it failed or answered without a verdict; each such item's judgeRationale says why",
            run["judge"].as_str().unwrap_or_default()
        );
    }
    Ok(if completed && (faulted < total || total == 0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How a read of the stream ended.
struct Read {
    /// The run's terminal `run_status` came.
    ended: bool,
    /// Lines read before the stream ended.
    lines: usize,
}

/// Reads the run's events from `last_event_id` until the stream ends, the run ends or the
/// stream says it skipped events (`reset`: what it skipped may be the run's end, so the caller
/// reads the run again before going on from the position the reset gives).
fn read_stream(
    client: &Client,
    id: &str,
    last_event_id: &mut String,
    bar: &ProgressBar,
    outage: &mut Outage,
    warnings: &mut RunWarnings,
) -> anyhow::Result<Read> {
    let path = format!("/runs/events?runId={id}&lastEventId={last_event_id}");
    let stream = BufReader::new(client.get(&path)?);
    // Reached again: an outage later in this follow gets its own patience.
    outage.over(bar);
    let mut event = String::new();
    let mut read = Read {
        ended: false,
        lines: 0,
    };
    for line in stream.lines() {
        let line = line.context("reading the event stream")?;
        read.lines += 1;
        // Every line, keep-alives included (every 15 s on a quiet stream), is a moment to look.
        warnings.look(client, id, bar, false);
        if let Some(id) = line.strip_prefix("id: ") {
            *last_event_id = id.to_owned();
        } else if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
            match event.as_str() {
                "run_progress" => show(bar, &data),
                "run_status" if TERMINAL.contains(&data["status"].as_str().unwrap_or("")) => {
                    read.ended = true;
                    return Ok(read);
                }
                "reset" => return Ok(read),
                _ => {}
            }
        }
    }
    Ok(read)
}

/// Since when the server has been out of reach, and how long to wait before asking again.
#[derive(Default)]
struct Outage {
    since: Option<Instant>,
    pause: Duration,
}

impl Outage {
    /// Waits before the next try after `error`, or gives `error` back when it will not pass:
    /// a refusal, or a server out of reach for longer than [`PATIENCE`].
    fn wait(
        &mut self,
        bar: &ProgressBar,
        client: &Client,
        id: &str,
        error: anyhow::Error,
    ) -> anyhow::Result<()> {
        if !is_transient(&error) {
            return Err(error);
        }
        let since = *self.since.get_or_insert_with(|| {
            bar.suspend(|| {
                say!(
                    "lost the server ({error:#}); trying again for up to {} s (the run goes on there)",
                    PATIENCE.as_secs()
                );
            });
            Instant::now()
        });
        if since.elapsed() >= PATIENCE {
            return Err(error.context(format!(
                "the server at {} was out of reach for {} s; the run goes on there \
                 (`{}` watches it again)",
                client.base,
                PATIENCE.as_secs(),
                client.command(&format!("follow {id}"))
            )));
        }
        self.pause = (self.pause * 2).clamp(Duration::from_millis(250), Duration::from_secs(5));
        // A server that says when to come back (429, 503) is taken at its word.
        let asked = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<Refused>())
            .and_then(|refused| refused.retry_after)
            .unwrap_or_default();
        std::thread::sleep(self.pause.max(asked));
        Ok(())
    }

    /// The server answered again.
    fn over(&mut self, bar: &ProgressBar) {
        if self.since.take().is_some() {
            bar.suspend(|| say!("the server is back"));
        }
        self.pause = Duration::ZERO;
    }
}

/// The stream's position, then the run: read in that order, nothing after the position is
/// missed.
fn where_it_stands(client: &Client, id: &str) -> anyhow::Result<(String, Value)> {
    let active = client.get("/runs/active")?;
    let last_event_id = active
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_owned();
    drop(active);
    Ok((last_event_id, client.get_json(&format!("/runs/{id}"))?))
}

fn is_terminal(run: &Value) -> bool {
    TERMINAL.contains(&run["run"]["status"].as_str().unwrap_or(""))
}

/// The bar: `[████    ] 8/504 ✓ 6 ✗ 2 ! 0 · 2.0/s · ETA 4m` (`… ! 0 ⊘ 3` once items are canceled). The rate and the time left say
/// `–` until items have finished while following (indicatif would say `0/s`, `0s`).
fn progress_bar() -> anyhow::Result<ProgressBar> {
    let style = ProgressStyle::with_template("{bar:30} {msg} · {rate} · ETA {left}")
        .context("the progress bar's template")?
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = match state.per_sec() {
                    rate if !rate.is_finite() || rate <= 0.0 => write!(w, "–/s"),
                    rate if rate < 10.0 => write!(w, "{rate:.1}/s"),
                    rate => write!(w, "{rate:.0}/s"),
                };
            },
        )
        .with_key(
            "left",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let rate = state.per_sec();
                let _ = if rate.is_finite() && rate > 0.0 {
                    write!(w, "{}", HumanDuration(state.eta()))
                } else {
                    write!(w, "–")
                };
            },
        );
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    bar.set_style(style);
    Ok(bar)
}

/// Shows the `progress` of `run` (a run's detail, or a `run_progress` event's data). The counts
/// and the done/total beside them are one message, set before the bar moves, so a frame drawn
/// in between never shows a done count its counts do not add up to. Canceled items are counted
/// apart from failed ones (`⊘`) once there are any: a canceled run's items never sent read as
/// failures when only the faulted count was shown.
fn show(bar: &ProgressBar, run: &Value) {
    let progress = &run["progress"];
    let count = |field: &str| progress[field].as_u64().unwrap_or(0);
    let (done, total) = (count("completed"), count("total"));
    let canceled = run["canceled"].as_u64().unwrap_or(0).min(count("faulted"));
    let message = format!(
        "{done}/{total} ✓ {} ✗ {} ! {}{}",
        count("correct"),
        count("incorrect"),
        count("faulted") - canceled,
        if canceled > 0 {
            format!(" ⊘ {canceled}")
        } else {
            String::new()
        }
    );
    // Where standard error is no terminal (a CI job's log) the bar is not drawn: a line says
    // the counts at each tenth of the run done, so that a long run is not silent until its end.
    let before = bar.position();
    if !std::io::stderr().is_terminal() && tenth(done, total) > tenth(before, total) {
        say!("{message}");
    }
    bar.set_length(total);
    bar.set_message(message);
    bar.set_position(done);
}

/// How many tenths of `total` `done` is (`done` ≤ `total`; an empty run is done).
fn tenth(done: u64, total: u64) -> u64 {
    (done.min(total) * 10).checked_div(total).unwrap_or(10)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_bar_counts_canceled_items_apart_from_failed_ones() {
        let bar = indicatif::ProgressBar::hidden();
        let progress = json!({"total": 400, "completed": 400, "correct": 127, "incorrect": 85,
                              "faulted": 188});
        super::show(&bar, &json!({"progress": progress, "canceled": 180}));
        assert_eq!(bar.message(), "400/400 ✓ 127 ✗ 85 ! 8 ⊘ 180");
        super::show(&bar, &json!({"progress": progress, "canceled": 0}));
        assert_eq!(bar.message(), "400/400 ✓ 127 ✗ 85 ! 188");
    }
}
