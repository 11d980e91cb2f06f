//! `cargo xtask bench --queries`: how fast the board and the archive answer a crowd of
//! dashboards. On each backend, 30 Simulated runs of 2,000 items each (60,000 stored items) are
//! created with a latency so long that they stay active, each with items in flight; 6 of them are
//! canceled (their pending items canceled in bulk). Then `GET /runs/active?limit=24` is requested
//! 200 times a second and `GET /runs?limit=50` 500 times a second, 10 seconds each, by
//! `evalboard-bench rate` (an open loop), and the latency percentiles are reported with the
//! server's CPU time.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::bench::{PLAIN_CONFIG, build_release, dataset_jsonl, fresh_database, serve_dataset};

const RUNS: usize = 30;
const CANCELED: usize = 6;
const ITEMS_PER_RUN: u64 = 2_000;

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
        let server = serve_dataset(
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
                .post(format!("{}/runs", server.url))
                .json(&json!({"providerName": "Simulated", "datasetName": "bench", "modelName": "sim-1",
                    "settings": {"concurrency": 2, "simulated": {"latencyMs": 600_000, "seed": seed}}}))
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
        for run in &runs[..CANCELED] {
            client
                .post(format!("{}/runs/{run}/cancel", server.url))
                .json(&json!({}))
                .send()?
                .error_for_status()?;
        }
        // Until the board shows 24 running runs.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let board: Value = client
                .get(format!("{}/runs/active?limit=24", server.url))
                .send()?
                .json()?;
            let running = board
                .as_array()
                .context("a board")?
                .iter()
                .filter(|s| s["run"]["status"] == "running")
                .count();
            if running == 24 {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("the runs did not start: {running} running");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
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
