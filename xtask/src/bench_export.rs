//! `cargo xtask bench --export [--items N]`: the memory and time an export of a large run costs
//! the server. A Simulated run of N items (100,000 by default) is executed; the server is then
//! restarted on the same database, so that its peak resident memory starts from an idle
//! process, and the run's items are downloaded as JSON Lines and as CSV. Reported: the rise of
//! the server's peak RSS (`VmHWM`) over each download, the bytes and the time.

use std::{
    io::Read,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::bench::{
    PLAIN_CONFIG, Service, build_release, dataset_jsonl, fresh_database, serve_dataset,
};

pub(crate) fn run(root: &Path, postgres_url: Option<&str>, items: u64) -> anyhow::Result<()> {
    build_release(root, &["evalboard-server"])?;
    let evalboard = root.join("target/release/evalboard");
    let scratch = tempfile::tempdir()?;
    let dataset = scratch.path().join("export.jsonl");
    std::fs::write(&dataset, dataset_jsonl(items))?;
    println!(
        "| backend | items | format | bytes | seconds | peak RSS before (MiB) | after | rise |"
    );
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for backend in ["sqlite", "postgres"] {
        let data_dir = tempfile::tempdir()?;
        let Some((database_url, _schema)) = fresh_database(backend, postgres_url, data_dir.path())
        else {
            println!("(no PostgreSQL: skipped)");
            continue;
        };
        let config = data_dir.path().join("bench.toml");
        std::fs::write(&config, PLAIN_CONFIG)?;
        let run = {
            let server = serve_dataset(
                &evalboard,
                &config,
                data_dir.path(),
                &database_url,
                &dataset,
            )?;
            run_to_completion(&server.url, items)?
        };
        // A fresh process: its peak is the idle server's.
        let server = Service::start({
            let mut c = Command::new(&evalboard);
            c.arg("--config")
                .arg(&config)
                .arg("--data-dir")
                .arg(data_dir.path())
                .arg("--database-url")
                .arg(&database_url)
                .args(["--bind", "127.0.0.1:0"])
                .env("EVALBOARD_LOG", "info");
            c
        })?;
        for format in ["jsonl", "csv"] {
            let before = server.peak_rss_mib().context("no /proc")?;
            let started = Instant::now();
            let bytes = download(&format!("{}/runs/{run}/export?format={format}", server.url))?;
            let seconds = started.elapsed().as_secs_f64();
            let after = server.peak_rss_mib().context("no /proc")?;
            println!(
                "| {backend} | {items} | {format} | {bytes} | {seconds:.2} | {before:.1} | {after:.1} | {:.1} |",
                after - before
            );
        }
    }
    Ok(())
}

/// Creates a Simulated run over the whole dataset and waits for it; its id.
fn run_to_completion(url: &str, items: u64) -> anyhow::Result<String> {
    let client = reqwest::blocking::Client::new();
    let created: Value = client
        .post(format!("{url}/runs"))
        .json(
            &json!({"providerName": "Simulated", "datasetName": "bench", "modelName": "sim-1",
                      "settings": {"concurrency": 256}}),
        )
        .send()?
        .json()?;
    let id = created["run"]["id"]
        .as_str()
        .context("no run id")?
        .to_owned();
    loop {
        let detail: Value = client.get(format!("{url}/runs/{id}")).send()?.json()?;
        match detail["run"]["status"].as_str() {
            Some("completed") if detail["progress"]["completed"] == items => return Ok(id),
            Some("completed" | "failed" | "canceled") => bail!("the run ended: {detail}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Reads the whole body, keeping none of it; its length.
fn download(url: &str) -> anyhow::Result<u64> {
    let client = reqwest::blocking::Client::builder().timeout(None).build()?;
    let mut response = client.get(url).send()?.error_for_status()?;
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = response.read(&mut buffer)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}
