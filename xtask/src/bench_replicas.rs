//! `cargo xtask bench --replicas N [--items I] [--latency-ms MS]`: throughput of several
//! replicas on one PostgreSQL database against the same stub provider, beside one replica alone.
//! Each replica has a global concurrency of 128 (and its provider a limit of 128), the run a
//! concurrency of 128 per replica, so the engine's limit is `N × 128 / latency`. Reported:
//! items/s, the servers' CPU per item (all replicas together), PostgreSQL's, and whether every
//! item was answered once (the run's counters, which equal its items).

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::bench::{Service, build_release, dataset_jsonl, postgres_cpu_seconds, serve_dataset};

const CONCURRENCY: u64 = 128;

pub(crate) fn run(
    root: &Path,
    postgres_url: Option<&str>,
    replicas: usize,
    items: u64,
    latency_ms: u64,
) -> anyhow::Result<()> {
    let Some(postgres_url) = postgres_url else {
        bail!("replicas share a PostgreSQL database: none answers");
    };
    build_release(root, &["evalboard-server", "evalboard-bench"])?;
    let release = root.join("target/release");
    let stub = Service::start({
        let mut c = Command::new(release.join("evalboard-bench"));
        c.args(["stub", "--bind", "127.0.0.1:0"])
            .args(["--latency-ms", &latency_ms.to_string()]);
        c
    })?;
    let scratch = tempfile::tempdir()?;
    let dataset = scratch.path().join("replicas.jsonl");
    std::fs::write(&dataset, dataset_jsonl(items))?;
    println!(
        "| replicas | items | seconds | items/s | limit | % of limit | servers' CPU per item (µs) | PostgreSQL CPU per item (µs) | every item once |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for count in [1, replicas] {
        let db = evalboard_persistence::testing::TestDatabase::postgres_at(postgres_url);
        let dirs: Vec<_> = (0..count)
            .map(|_| tempfile::tempdir())
            .collect::<Result<_, _>>()?;
        let config = scratch.path().join("replicas.toml");
        std::fs::write(
            &config,
            format!(
                r#"
load_demo_dataset = false
[engine]
global_concurrency = {CONCURRENCY}
default_run_concurrency = {CONCURRENCY}
lease_secs = 30
[database]
max_connections = 16
acquire_timeout_secs = 10
[providers.bench]
name = "Bench"
kind = "openai-compatible"
base_url = "{}/v1"
models = ["stub"]
max_concurrency = {CONCURRENCY}
"#,
                stub.url
            ),
        )?;
        // The first imports the dataset; each has a data directory, so a worker name, of its own.
        let mut servers = vec![serve_dataset(
            &release.join("evalboard"),
            &config,
            dirs[0].path(),
            db.url(),
            &dataset,
        )?];
        for dir in &dirs[1..] {
            servers.push(Service::start({
                let mut c = Command::new(release.join("evalboard"));
                c.arg("--config")
                    .arg(&config)
                    .arg("--data-dir")
                    .arg(dir.path())
                    .arg("--database-url")
                    .arg(db.url())
                    .args(["--bind", "127.0.0.1:0"])
                    .env("EVALBOARD_LOG", "info");
                crate::bench::unlimited(&mut c);
                c
            })?);
        }
        let cpu =
            |servers: &[Service]| -> Option<f64> { servers.iter().map(Service::cpu_seconds).sum() };
        let client = reqwest::blocking::Client::new();
        let (cpu_before, database_before) = (cpu(&servers), postgres_cpu_seconds());
        let started = Instant::now();
        let created: Value = client
            .post(format!("{}/runs", servers[0].url))
            .json(
                &json!({"providerName": "Bench", "datasetName": "bench", "modelName": "stub",
                "settings": {"concurrency": CONCURRENCY}}),
            )
            .send()?
            .error_for_status()?
            .json()?;
        let id = created["run"]["id"]
            .as_str()
            .context("no run id")?
            .to_owned();
        let detail = crate::bench::wait_until_finished(&client, &servers[0].url, &id)?;
        let progress = &detail["progress"];
        let seconds = started.elapsed().as_secs_f64();
        let per_item = |before: Option<f64>, after: Option<f64>| {
            after.zip(before).map_or("?".into(), |(a, b)| {
                format!("{:.0}", (a - b) / items as f64 * 1e6)
            })
        };
        let limit = count as f64 * CONCURRENCY as f64 * 1000.0 / latency_ms.max(1) as f64;
        let once = progress["completed"] == items && progress["correct"] == items;
        println!(
            "| {count} | {items} | {seconds:.2} | {:.0} | {limit:.0} | {:.0} % | {} | {} | {} |",
            items as f64 / seconds,
            100.0 * items as f64 / seconds / limit,
            per_item(cpu_before, cpu(&servers)),
            per_item(database_before, postgres_cpu_seconds()),
            if once { "yes" } else { "NO" },
        );
        if !once {
            bail!("not every item was answered once: {progress}");
        }
    }
    Ok(())
}
