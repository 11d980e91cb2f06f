//! `cargo xtask bench --harness`: the Browser Harness round trip over HTTP against a release
//! server — build and sign a pack of N items, then import a bundle capturing every one of them
//! (verification, judging and storage: the run is complete when the import answers). See
//! `docs/performance.md`.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{SecondsFormat, Utc};
use evalboard_persistence::testing::{POSTGRES_URL_ENV, TestDatabase};
use serde_json::{Value, json};

use crate::bench::{build_release, dataset_jsonl, serve_dataset};

/// What one backend measured.
struct Measured {
    backend: &'static str,
    pack_ms: f64,
    pack_bytes: usize,
    bundle_bytes: usize,
    import_ms: f64,
}

pub(crate) fn run(root: &Path, postgres_url: Option<&str>, items: u64) -> anyhow::Result<()> {
    build_release(root, &["evalboard-server"])?;
    let evalboard = root.join("target/release/evalboard");
    let scratch = tempfile::tempdir()?;
    let dataset = scratch.path().join("bench.jsonl");
    std::fs::write(&dataset, dataset_jsonl(items))?;

    let mut results = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let data_dir = tempfile::tempdir()?;
        let postgres = match (backend, postgres_url) {
            ("postgres", Some(server)) => Some(TestDatabase::postgres_at(server)),
            ("postgres", None) => {
                println!("skipping PostgreSQL: none answers (set {POSTGRES_URL_ENV})");
                continue;
            }
            _ => None,
        };
        let url = match &postgres {
            Some(db) => db.url().to_owned(),
            None => format!("sqlite://{}/evalboard.db", data_dir.path().display()),
        };
        let measured = measure(&evalboard, data_dir.path(), &url, &dataset, items)?;
        println!(
            "{backend}: pack of {items} items built, signed and recorded in {:.0} ms ({} bytes); \
             bundle of {items} captures ({} bytes) imported and judged in {:.0} ms",
            measured.pack_ms, measured.pack_bytes, measured.bundle_bytes, measured.import_ms
        );
        results.push(Measured {
            backend,
            ..measured
        });
    }
    println!(
        "\n| backend | items | pack: build + sign + record (ms) | pack size (MB) | bundle size (MB) | import + judge (ms) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for m in &results {
        println!(
            "| {} | {items} | {:.0} | {:.1} | {:.1} | {:.0} |",
            m.backend,
            m.pack_ms,
            m.pack_bytes as f64 / 1e6,
            m.bundle_bytes as f64 / 1e6,
            m.import_ms
        );
    }
    Ok(())
}

fn measure(
    evalboard: &Path,
    data_dir: &Path,
    database_url: &str,
    dataset: &Path,
    items: u64,
) -> anyhow::Result<Measured> {
    let config = data_dir.join("bench.toml");
    std::fs::write(&config, "load_demo_dataset = false\n")?;
    let server = serve_dataset(evalboard, &config, data_dir, database_url, dataset)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;

    let started = Instant::now();
    let reply = client
        .post(format!("{}/browser-harness/packs", server.url))
        .json(&json!({"datasetName": "bench", "target": "bench-web",
                      "selection": {"sampleSize": items}}))
        .send()?;
    let status = reply.status();
    let pack_text = reply.text()?;
    let pack_ms = started.elapsed().as_secs_f64() * 1e3;
    if status.as_u16() != 201 {
        bail!("the pack was refused ({status}): {pack_text}");
    }
    let envelope: Value = serde_json::from_str(&pack_text)?;
    let payload: Value = serde_json::from_slice(
        &BASE64.decode(envelope["payload"].as_str().context("no payload")?)?,
    )?;

    // Every item answered right (the bench dataset's key is B), streamed in four chunks.
    let at = |ms: i64| {
        (Utc::now() + chrono::Duration::milliseconds(ms))
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    };
    let response = "Let me think step by step. Each option was weighed. The answer is (B).";
    let captures: Vec<Value> = payload["items"]
        .as_array()
        .context("no items")?
        .iter()
        .map(|item| {
            json!({
                "sequence": item["sequence"],
                "promptSha256": item["promptSha256"],
                "responseText": response,
                "startedAt": at(-5_000),
                "finishedAt": at(-1_000),
                "chunks": [
                    {"offset": 0, "text": "Let me think step by step.", "at": at(-4_000)},
                    {"offset": 26, "text": " Each option was weighed.", "at": at(-3_000)},
                    {"offset": 51, "text": " The answer is", "at": at(-2_000)},
                    {"offset": 65, "text": " (B).", "at": at(-1_500)},
                ],
                "page": {"url": "https://chat.example/c/bench", "title": "Bench"},
            })
        })
        .collect();
    let bundle = serde_json::to_vec(&json!({
        "envelope": envelope,
        "harness": {"name": "evalboard-bench", "version": "1", "userAgent": "bench"},
        "captures": captures,
    }))?;
    let bundle_bytes = bundle.len();

    let started = Instant::now();
    let reply = client
        .post(format!("{}/browser-harness/imports", server.url))
        .header("content-type", "application/json")
        .body(bundle)
        .send()?;
    let status = reply.status();
    let run: Value = reply.json()?;
    let import_ms = started.elapsed().as_secs_f64() * 1e3;
    if status.as_u16() != 201 {
        bail!("the import was refused ({status}): {run}");
    }
    if run["run"]["status"] != "completed" || run["progress"]["correct"] != items {
        bail!(
            "the import did not judge every item right: {}",
            run["progress"]
        );
    }
    Ok(Measured {
        backend: "",
        pack_ms,
        pack_bytes: pack_text.len(),
        bundle_bytes,
        import_ms,
    })
}
