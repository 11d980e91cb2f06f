//! `cargo xtask bench --queries`: how fast the board and the archive answer a crowd of
//! dashboards. On each backend, 30 Simulated runs of 2,000 items each (60,000 stored items) work
//! until each has finished at least 200 items; 6 of them are then canceled (their pending items
//! canceled in bulk) and the server is stopped. A second server on the same database, with its
//! engine disabled, answers the queries: the 24 runs left stay active, each with finished items
//! (the board's recent items) and items in flight, and nothing moves while they are measured.
//! `GET /runs/active?limit=24` is requested 200 times a second and `GET /runs?limit=50` 500 times
//! a second, 10 seconds each, by `evalboard-bench rate` (an open loop), and the latency
//! percentiles are reported with the server's CPU time.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::bench::{
    PLAIN_CONFIG, build_release, dataset_jsonl, fresh_database, serve, serve_dataset,
};

const RUNS: usize = 30;
const CANCELED: usize = 6;
const ITEMS_PER_RUN: u64 = 2_000;
/// Items each run finishes before the queries are measured.
const FINISHED_PER_RUN: u64 = 200;

pub(crate) fn run(root: &Path, postgres_url: Option<&str>) -> anyhow::Result<()> {
    build_release(root, &["evalboard-server", "evalboard-bench"])?;
    let release = root.join("target/release");
    let scratch = tempfile::tempdir()?;
    let dataset = scratch.path().join("queries.jsonl");
    std::fs::write(&dataset, dataset_jsonl(ITEMS_PER_RUN))?;
    println!(
        "| backend | request | rate (/s) | answered | failed | p50 | p99 | max | server CPU (s) |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for backend in ["sqlite", "postgres"] {
        let data_dir = tempfile::tempdir()?;
        let Some((database_url, _schema)) = fresh_database(backend, postgres_url, data_dir.path())
        else {
            println!("(no PostgreSQL: skipped)");
            continue;
        };
        let config = data_dir.path().join("bench.toml");
        std::fs::write(&config, PLAIN_CONFIG)?;
        let working = serve_dataset(
            &release.join("evalboard"),
            &config,
            data_dir.path(),
            &database_url,
            &dataset,
        )?;
        let client = reqwest::blocking::Client::new();
        let mut runs = Vec::new();
        for seed in 0..RUNS {
            let created: Value = client
                .post(format!("{}/runs", working.url))
                .json(&json!({"providerName": "Simulated", "datasetName": "bench", "modelName": "sim-1",
                    "settings": {"concurrency": 2, "simulated": {"latencyMs": 20, "seed": seed}}}))
                .send()?
                .error_for_status()?
                .json()?;
            runs.push(
                created["run"]["id"]
                    .as_str()
                    .context("no run id")?
                    .to_owned(),
            );
        }
        // Until every run has finished its share (~100 items/s each).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let page: Value = client
                .get(format!("{}/runs?limit=50", working.url))
                .send()?
                .json()?;
            let behind = page["runs"]
                .as_array()
                .context("a page of runs")?
                .iter()
                .filter(|r| r["progress"]["completed"].as_u64().unwrap_or(0) < FINISHED_PER_RUN)
                .count();
            if behind == 0 {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("{behind} runs did not finish {FINISHED_PER_RUN} items");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        for run in &runs[..CANCELED] {
            client
                .post(format!("{}/runs/{run}/cancel", working.url))
                .json(&json!({}))
                .send()?
                .error_for_status()?;
        }
        drop(working);
        // The same database served without an engine: the board stays as it was left.
        std::fs::write(
            &config,
            format!("{PLAIN_CONFIG}[engine]\nenabled = false\n"),
        )?;
        let server = serve(
            &release.join("evalboard"),
            &config,
            data_dir.path(),
            &database_url,
        )?;
        let board: Value = client
            .get(format!("{}/runs/active?limit=24", server.url))
            .send()?
            .json()?;
        let board = board.as_array().context("a board")?;
        let running = board
            .iter()
            .filter(|s| s["run"]["status"] == "running")
            .count();
        let recent: usize = board
            .iter()
            .map(|s| s["recentItems"].as_array().map_or(0, Vec::len))
            .sum();
        if running != RUNS - CANCELED || recent == 0 {
            bail!("the board is not as set up: {running} running runs, {recent} recent items");
        }
        for (path, rate) in [("/runs/active?limit=24", 200), ("/runs?limit=50", 500)] {
            let before = server.cpu_seconds();
            let output = Command::new(release.join("evalboard-bench"))
                .args(["rate", "--url", &format!("{}{path}", server.url)])
                .args(["--rate", &rate.to_string(), "--seconds", "10"])
                .stderr(Stdio::inherit())
                .output()?;
            let cpu = server
                .cpu_seconds()
                .zip(before)
                .map_or("?".into(), |(after, before)| {
                    format!("{:.1}", after - before)
                });
            let stdout = String::from_utf8(output.stdout)?;
            let result = stdout
                .lines()
                .find(|l| l.starts_with("result"))
                .context("the rate tool reported nothing")?;
            let field = |name: &str| {
                result
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or("?")
                    .to_owned()
            };
            println!(
                "| {backend} | `GET {path}` | {rate} | {} | {} | {} ms | {} ms | {} ms | {cpu} |",
                field("requests="),
                field("failed="),
                field("p50_ms="),
                field("p99_ms="),
                field("max_ms="),
            );
        }
    }
    Ok(())
}
