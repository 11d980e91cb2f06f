//! `--follow`: a run watched through the event stream, with a live progress bar on standard
//! error (indicatif: done/total, correct/incorrect/faulted, items per second, time left).

use std::{
    io::{BufRead, BufReader, Write},
    process::ExitCode,
};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::{Client, runs::print_run};

/// The statuses a run ends in.
const TERMINAL: [&str; 3] = ["completed", "failed", "canceled"];

/// Follows run `id` to its end; exit status 0 when it completes, 1 otherwise.
pub(super) fn follow(
    client: &Client,
    id: &str,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    // The stream's position before the run is read: nothing after it is missed.
    let active = client.get("/runs/active")?;
    let mut last_event_id = active
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_owned();
    drop(active);
    let mut run = client.get_json(&format!("/runs/{id}"))?;
    let bar = ProgressBar::new(run["progress"]["total"].as_u64().unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} · {per_sec} · ETA {eta}")
            .context("the progress bar's template")?,
    );
    show(&bar, &run["progress"]);
    // A stream the server ends (it drops a client that falls behind) is opened again where it
    // stopped.
    while !is_terminal(&run) {
        let path = format!("/runs/events?runId={id}&lastEventId={last_event_id}");
        let stream = BufReader::new(client.get(&path)?);
        let mut event = String::new();
        let mut ended = false;
        for line in stream.lines() {
            let line = line.context("reading the event stream")?;
            if let Some(id) = line.strip_prefix("id: ") {
                last_event_id = id.to_owned();
            } else if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_owned();
            } else if let Some(data) = line.strip_prefix("data: ") {
                let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                match event.as_str() {
                    "run_progress" => show(&bar, &data["progress"]),
                    "run_status" if TERMINAL.contains(&data["status"].as_str().unwrap_or("")) => {
                        ended = true;
                        break;
                    }
                    _ => {}
                }
            }
        }
        // The whole run, as it ended (or as it stands, to decide whether to go on).
        run = client.get_json(&format!("/runs/{id}"))?;
        if ended && !is_terminal(&run) {
            // The stream said so first: read it again until the run agrees.
            continue;
        }
    }
    show(&bar, &run["progress"]);
    bar.finish();
    print_run(out, &run, json)?;
    Ok(if run["run"]["status"] == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn is_terminal(run: &Value) -> bool {
    TERMINAL.contains(&run["run"]["status"].as_str().unwrap_or(""))
}

fn show(bar: &ProgressBar, progress: &Value) {
    let count = |field: &str| progress[field].as_u64().unwrap_or(0);
    bar.set_length(count("total"));
    bar.set_position(count("completed"));
    bar.set_message(format!(
        "✓ {} ✗ {} ! {}",
        count("correct"),
        count("incorrect"),
        count("faulted")
    ));
}
