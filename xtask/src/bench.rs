//! `cargo xtask bench`: the engine against an OpenAI-compatible stub (answering at once, or
//! after `--latency-ms` as real providers do), on SQLite and on PostgreSQL, beside the stub's
//! own ceiling measured in the same run; with the CPU per item of the server and of
//! PostgreSQL's processes. See `docs/performance.md` for what it measures and the figures.

use std::{
    io::{BufRead, BufReader},
    num::NonZeroUsize,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use evalboard_persistence::testing::{POSTGRES_URL_ENV, TestDatabase};
use serde_json::{Value, json};

/// A child process that prints `listening on http://ADDR` when ready; killed when dropped.
pub(crate) struct Service {
    child: Child,
    pub(crate) url: String,
}

impl Service {
    pub(crate) fn start(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting a service")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .context("the service exited before listening")??;
            if let Some(at) = line.find("http://") {
                break line[at..].trim().to_owned();
            }
        };
        // Keep draining the output so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, url })
    }

    /// CPU time (user + system) the process has used so far, in seconds (Linux).
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        process_cpu_seconds(&stat).map(|(_, seconds)| seconds)
    }

    /// The process's system calls and task switches so far (Linux): counts that depend far less
    /// than CPU time on the machine's speed and load (task switches still depend on its cores
    /// and on what else runs; the switches of threads that ended are not counted).
    pub(crate) fn os_counts(&self) -> Option<OsCounts> {
        let pid = self.child.id();
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
        let field = |text: &str, name: &str| -> Option<u64> {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?
                .trim()
                .parse()
                .ok()
        };
        let mut switches = 0;
        // Per thread: the process's own `status` counts its main thread only.
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
                switches += field(&status, "voluntary_ctxt_switches").unwrap_or(0)
                    + field(&status, "nonvoluntary_ctxt_switches").unwrap_or(0);
            }
        }
        Some(OsCounts {
            reads: field(&io, "syscr")?,
            writes: field(&io, "syscw")?,
            switches,
        })
    }

    /// Peak resident memory of the process so far, in MiB (Linux).
    pub(crate) fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

/// What [`Service::os_counts`] reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OsCounts {
    /// Read-type system calls (`read`, `pread64`, `readv`; not `recvfrom`).
    reads: u64,
    /// Write-type system calls (`write`, `pwrite64`, `writev`; SQLite's WAL frames are two
    /// `pwrite64` each).
    writes: u64,
    /// Task switches of all its threads, voluntary or not.
    switches: u64,
}

impl OsCounts {
    /// What happened between `before` and `self`, per item of `items`: reads, writes, switches.
    fn per_item(self, before: Self, items: u64) -> String {
        // (Saturating: a thread that ended during the run took its switches with it.)
        let each = |after: u64, before: u64| after.saturating_sub(before) as f64 / items as f64;
        format!(
            "{:.1} / {:.1} / {:.1}",
            each(self.reads, before.reads),
            each(self.writes, before.writes),
            each(self.switches, before.switches)
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// What one engine run measured.
struct Measured {
    backend: String,
    items: u64,
    seconds: f64,
    peak_rss_mib: Option<f64>,
    /// CPU seconds the server used during the run.
    server_cpu_seconds: Option<f64>,
    /// CPU seconds PostgreSQL's processes used during the run (on PostgreSQL).
    database_cpu_seconds: Option<f64>,
    /// The server's read and write system calls and task switches per item.
    server_os_per_item: Option<String>,
    /// On PostgreSQL: transactions committed and rows written (inserted, updated or deleted)
    /// per item.
    database_writes_per_item: Option<String>,
    /// With subscribers: the subscriber tool's `result` line.
    subscribers: Option<String>,
    /// How long `POST /runs` took: no item is sent before the run exists.
    creation_seconds: f64,
    /// The server's provider requests over the run (`evalboard_provider_request_seconds`):
    /// their summed duration in seconds, and how many.
    requests: Option<(f64, u64)>,
}

/// Items in a benchmark's dataset unless `--items` says otherwise.
const DEFAULT_ITEMS: u64 = 10_000;
/// Items in the export benchmark's run unless `--items` says otherwise.
const DEFAULT_EXPORT_ITEMS: u64 = 100_000;

/// `cargo xtask bench`'s arguments. Without a mode flag (`--harness`, `--export`, `--queries`,
/// `--replicas`), the engine against the stub; the modes exclude each other, and a flag a mode
/// does not use is refused with it.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").args(["harness", "export", "queries", "replicas"])))]
pub(crate) struct BenchArgs {
    /// Items in the dataset [default: 10000; with --export 100000]. The engine also runs a
    /// tenth of them (the memory check), unless --subscribers is given.
    #[arg(long, value_name = "N", conflicts_with = "queries")]
    pub(crate) items: Option<u64>,
    /// The run's concurrency and the stub provider's limit.
    #[arg(long, value_name = "C", default_value_t = 64, conflicts_with = "mode")]
    pub(crate) concurrency: u64,
    /// How long the stub takes to answer, in milliseconds, as real providers do (with
    /// --replicas at least 1).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        conflicts_with_all = ["harness", "export", "queries"]
    )]
    pub(crate) latency_ms: u64,
    /// SSE subscribers following the run (`evalboard-bench subscribe`), measured beside a run
    /// without them.
    #[arg(long, value_name = "S", default_value_t = 0, conflicts_with = "mode")]
    pub(crate) subscribers: u64,
    /// The event stream the subscribers follow.
    #[arg(
        long,
        value_enum,
        default_value_t = View::Exact,
        requires = "subscribers",
        conflicts_with = "mode"
    )]
    pub(crate) view: View,
    /// The Browser Harness pack and import round trip instead.
    #[arg(long)]
    pub(crate) harness: bool,
    /// The memory an export costs the server instead.
    #[arg(long)]
    pub(crate) export: bool,
    /// How fast `GET /runs/active` and `GET /runs` answer at a fixed rate instead.
    #[arg(long)]
    pub(crate) queries: bool,
    /// N replicas of the server on one PostgreSQL instead.
    #[arg(long, value_name = "N")]
    pub(crate) replicas: Option<NonZeroUsize>,
}

/// Which event stream `evalboard-bench subscribe` follows (its `--view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum View {
    /// Every stored event, each once, in id order.
    Exact,
    /// What the dashboard's board needs, in batches.
    Board,
}

impl View {
    /// The value of `evalboard-bench subscribe --view`.
    fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Board => "board",
        }
    }
}

/// Runs the benchmark `args` selects.
pub(crate) fn run(root: &Path, postgres_url: Option<&str>, args: &BenchArgs) -> anyhow::Result<()> {
    let items = args.items.unwrap_or(DEFAULT_ITEMS);
    if let Some(replicas) = args.replicas {
        return crate::bench_replicas::run(
            root,
            postgres_url,
            replicas.get(),
            items,
            args.latency_ms.max(1),
        );
    }
    if args.queries {
        return crate::bench_queries::run(root, postgres_url);
    }
    if args.harness {
        return crate::bench_harness::run(root, postgres_url, items);
    }
    if args.export {
        let items = args.items.unwrap_or(DEFAULT_EXPORT_ITEMS);
        return crate::bench_export::run(root, postgres_url, items);
    }
    let BenchArgs {
        concurrency,
        latency_ms,
        subscribers,
        view,
        ..
    } = *args;

    build_release(root, &["evalboard-server", "evalboard-bench"])?;
    let release = root.join("target/release");
    let stub = Service::start({
        let mut c = Command::new(release.join("evalboard-bench"));
        c.args(["stub", "--bind", "127.0.0.1:0"])
            .args(["--latency-ms", &latency_ms.to_string()]);
        c
    })?;
    let stub_url = format!("{}/v1", stub.url);

    // The ceiling: the median of three runs of the load client alone, long enough to be steady
    // (with latency: about five seconds at the rate the latency allows).
    let ceiling_requests = (5 * concurrency * 1000)
        .checked_div(latency_ms)
        .unwrap_or((items * 5).max(20_000));
    let mut loads = Vec::new();
    for _ in 0..3 {
        loads.push(measure_ceiling(
            &release,
            &stub_url,
            concurrency,
            ceiling_requests,
        )?);
    }
    loads.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let ceilings: Vec<f64> = loads.iter().map(|load| load.rate).collect();
    let ceiling = ceilings[1];
    println!(
        "stub ceiling: {ceiling:.0} streamed requests/s at concurrency {concurrency}, {latency_ms} ms latency"
    );

    let scratch = tempfile::tempdir()?;
    let dataset = scratch.path().join("bench.jsonl");
    std::fs::write(&dataset, dataset_jsonl(items))?;
    let small = scratch.path().join("bench-small.jsonl");
    std::fs::write(&small, dataset_jsonl(items / 10))?;

    let mut results = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let runs: Vec<(&PathBuf, u64, u64)> = if subscribers > 0 {
            vec![(&dataset, items, 0), (&dataset, items, subscribers)]
        } else {
            vec![(&dataset, items, 0), (&small, items / 10, 0)]
        };
        for (file, size, subscribers) in runs {
            let data_dir = tempfile::tempdir()?;
            // A fresh schema per measurement, dropped afterwards.
            let postgres = match (backend, postgres_url) {
                ("postgres", Some(server)) => Some(TestDatabase::postgres_at(server)),
                ("postgres", None) => {
                    println!("skipping PostgreSQL: none answers (set {POSTGRES_URL_ENV})");
                    break;
                }
                _ => None,
            };
            let url = match &postgres {
                Some(db) => db.url().to_owned(),
                None => format!("sqlite://{}/evalboard.db", data_dir.path().display()),
            };
            let measured = measure_engine(
                &release,
                &stub_url,
                data_dir.path(),
                &url,
                file,
                size,
                concurrency,
                subscribers,
                view,
            )?;
            println!(
                "{backend}: {size} items in {:.2} s = {:.0} items/s ({:.0}% of the stub's ceiling), peak RSS {} MiB{}",
                measured.seconds,
                size as f64 / measured.seconds,
                100.0 * size as f64 / measured.seconds / ceiling,
                measured
                    .peak_rss_mib
                    .map_or("?".into(), |m| format!("{m:.1}")),
                measured
                    .subscribers
                    .as_deref()
                    .map_or(String::new(), |r| format!("; {r}"))
            );
            results.push(Measured {
                backend: backend.into(),
                ..measured
            });
        }
    }

    println!(
        "\n| backend | items | subscribers | seconds | items/s | % of stub ceiling | creation (s) | mean request (ms) | slots busy | peak RSS (MiB) | server CPU (s) | server CPU per item (µs) | PostgreSQL CPU per item (µs) | server reads / writes / task switches per item | PostgreSQL transactions / rows written per item | delivery |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for m in &results {
        let rate = m.items as f64 / m.seconds;
        let delivery = m.subscribers.as_deref().unwrap_or("");
        // items/s = slots busy × concurrency / mean request (Little's law): what the run lost
        // to slow requests and what to empty slots (creation and the run's end included).
        let (mean_request, busy) = m.requests.map_or(("?".into(), "?".into()), |(sum, n)| {
            (
                format!("{:.1}", 1e3 * sum / n.max(1) as f64),
                format!("{:.1}%", 100.0 * sum / (m.seconds * concurrency as f64)),
            )
        });
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.0}% | {:.2} | {mean_request} | {busy} | {} | {} | {} | {} | {} | {} | {} |",
            m.backend,
            m.items,
            if m.subscribers.is_some() {
                subscribers
            } else {
                0
            },
            m.seconds,
            rate,
            100.0 * rate / ceiling,
            m.creation_seconds,
            m.peak_rss_mib.map_or("?".into(), |v| format!("{v:.1}")),
            m.server_cpu_seconds
                .map_or("?".into(), |v| format!("{v:.1}")),
            m.server_cpu_seconds
                .map_or("?".into(), |v| format!("{:.0}", v * 1e6 / m.items as f64)),
            m.database_cpu_seconds
                .map_or("–".into(), |v| format!("{:.0}", v * 1e6 / m.items as f64)),
            m.server_os_per_item.as_deref().unwrap_or("?"),
            m.database_writes_per_item.as_deref().unwrap_or("–"),
            delivery.trim_start_matches("result ")
        );
    }
    println!(
        "\nstub ceiling: {ceiling:.0} requests/s (median of {:.0}, {:.0}, {:.0}; concurrency {concurrency}, latency {latency_ms} ms): a mean request of {:.1} ms when it is alone",
        ceilings[0],
        ceilings[1],
        ceilings[2],
        1e3 * concurrency as f64 / ceiling
    );
    // What a request and the reading of its streamed body cost a bare client on this machine at
    // this pace: a floor under the server's CPU per item, which does that and more.
    println!(
        "a bare client's CPU per streamed request at that pace (reqwest, the body read, not parsed): {} µs",
        loads[1]
            .cpu_per_request_us
            .map_or("?".into(), |us| format!("{us:.0}"))
    );
    Ok(())
}

/// Imports `dataset` as `bench` with the server's own command (into a database made first: the
/// import adds to an existing database only), then starts the server on it.
pub(crate) fn serve_dataset(
    evalboard: &Path,
    config: &Path,
    data_dir: &Path,
    database_url: &str,
    dataset: &Path,
) -> anyhow::Result<Service> {
    let mut migrate = Command::new(evalboard);
    server_options(&mut migrate, config, data_dir, database_url);
    let migrated = migrate.arg("migrate").output()?;
    if !migrated.status.success() {
        bail!(
            "migrate failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
    }
    let mut import = Command::new(evalboard);
    server_options(&mut import, config, data_dir, database_url);
    let imported = import
        .args(["dataset", "import"])
        .arg(dataset)
        .args(["--name", "bench"])
        .output()?;
    if !imported.status.success() {
        bail!(
            "dataset import failed: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
    }
    serve(evalboard, config, data_dir, database_url)
}

/// Starts the server on `database_url` with `config`.
pub(crate) fn serve(
    evalboard: &Path,
    config: &Path,
    data_dir: &Path,
    database_url: &str,
) -> anyhow::Result<Service> {
    Service::start({
        let mut c = Command::new(evalboard);
        server_options(&mut c, config, data_dir, database_url);
        c.args(["--bind", "127.0.0.1:0"])
            .env("EVALBOARD_LOG", "info");
        c
    })
}

fn server_options(c: &mut Command, config: &Path, data_dir: &Path, database_url: &str) {
    unlimited(c);
    c.arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--database-url")
        .arg(database_url)
        .env("EVALBOARD_LOG", "warn");
}

/// Lifts the limits one client meets (a request rate, streams open): the benchmarks are one
/// client asking for hundreds of requests a second, or a thousand streams.
pub(crate) fn unlimited(c: &mut Command) {
    c.env("EVALBOARD_HTTP__REQUESTS_PER_MINUTE", "0")
        .env("EVALBOARD_HTTP__STREAMS_PER_CLIENT", "0");
}

/// A server configuration without the demo dataset, with a pool for load.
pub(crate) const PLAIN_CONFIG: &str =
    "load_demo_dataset = false\n[database]\nmax_connections = 16\nacquire_timeout_secs = 10\n";

/// A fresh database of `backend` for one measurement, as a URL: SQLite in `data_dir`, or a
/// schema of its own on the PostgreSQL server (dropped with the returned guard). `None` when
/// PostgreSQL is wanted and no server was given.
pub(crate) fn fresh_database(
    backend: &str,
    postgres_url: Option<&str>,
    data_dir: &Path,
) -> Option<(String, Option<TestDatabase>)> {
    match backend {
        "postgres" => {
            let db = TestDatabase::postgres_at(postgres_url?);
            Some((db.url().to_owned(), Some(db)))
        }
        _ => Some((
            format!("sqlite://{}/evalboard.db", data_dir.display()),
            None,
        )),
    }
}

/// Builds `packages` in release mode.
pub(crate) fn build_release(root: &Path, packages: &[&str]) -> anyhow::Result<()> {
    println!("building release binaries...");
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root).args(["build", "--release", "-q"]);
    for package in packages {
        command.args(["-p", package]);
    }
    if !command.status()?.success() {
        bail!("release build failed");
    }
    Ok(())
}

fn measure_ceiling(
    release: &Path,
    url: &str,
    concurrency: u64,
    requests: u64,
) -> anyhow::Result<Load> {
    let output = Command::new(release.join("evalboard-bench"))
        .args([
            "load",
            "--url",
            url,
            "--concurrency",
            &concurrency.to_string(),
        ])
        .args(["--requests", &requests.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text
        .split(": ")
        .last()
        .and_then(|tail| tail.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected load output: {text}"))?;
    let cpu_per_request_us = text
        .split_once("client CPU ")
        .and_then(|(_, tail)| tail.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    Ok(Load {
        rate,
        cpu_per_request_us,
    })
}

/// What one run of the load client measured.
struct Load {
    /// Streamed requests per second.
    rate: f64,
    /// The client's own CPU time per request, in µs.
    cpu_per_request_us: Option<f64>,
}

pub(crate) fn dataset_jsonl(items: u64) -> String {
    const CATEGORIES: [&str; 4] = ["math", "law", "history", "biology"];
    let mut out = String::new();
    for i in 0..items {
        let row = json!({
            "question_id": i,
            "question": format!("Benchmark question {i}: which option is the right one? \
                Consider each of the options below carefully before answering."),
            "options": ["first", "second", "third", "fourth", "fifth", "sixth"],
            "answer": "B", "answer_index": 1, "cot_content": "",
            "category": CATEGORIES[i as usize % 4], "src": "bench",
        });
        out.push_str(&row.to_string());
        out.push('\n');
    }
    out
}

#[expect(
    clippy::too_many_arguments,
    reason = "one measurement's settings, each named at its single call site"
)]
fn measure_engine(
    release: &Path,
    stub_url: &str,
    data_dir: &Path,
    database_url: &str,
    dataset: &Path,
    items: u64,
    concurrency: u64,
    subscribers: u64,
    view: View,
) -> anyhow::Result<Measured> {
    // The connections the database has before the server starts (the test database's pool).
    let idle_connections = database_url
        .starts_with("postgres")
        .then(|| connections(database_url))
        .flatten();
    let config = data_dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            r#"
load_demo_dataset = false
[engine]
global_concurrency = 256
default_run_concurrency = {concurrency}
lease_secs = 30
[database]
max_connections = 16
acquire_timeout_secs = 10
[providers.bench]
name = "Bench"
kind = "openai-compatible"
base_url = "{stub_url}"
models = ["stub"]
max_concurrency = {concurrency}
"#
        ),
    )?;
    let server = serve_dataset(
        &release.join("evalboard"),
        &config,
        data_dir,
        database_url,
        dataset,
    )?;
    // The subscribers connect before the run starts, and each follows it to its end.
    let crowd = if subscribers > 0 {
        let mut child = Command::new(release.join("evalboard-bench"))
            .args(["subscribe", "--url", &server.url])
            .args(["--subscribers", &subscribers.to_string()])
            .args(["--view", view.as_str()])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        loop {
            let line = lines
                .next()
                .context("the subscribers exited before subscribing")??;
            if line.starts_with("subscribed") {
                break;
            }
        }
        Some((child, lines))
    } else {
        None
    };
    let client = reqwest::blocking::Client::new();
    let cpu_before = server.cpu_seconds();
    let os_before = server.os_counts();
    let on_postgres = database_url.starts_with("postgres");
    let database_before = on_postgres.then(postgres_cpu_seconds).flatten();
    let writes_before = on_postgres
        .then(|| postgres_write_counts(database_url).zip(idle_connections))
        .flatten();
    let started = Instant::now();
    let created: Value = client
        .post(format!("{}/runs", server.url))
        .json(
            &json!({"providerName": "Bench", "datasetName": "bench", "modelName": "stub",
                      "settings": {"concurrency": concurrency}}),
        )
        .send()?
        .json()?;
    let creation_seconds = started.elapsed().as_secs_f64();
    let id = created["run"]["id"]
        .as_str()
        .context("no run id")?
        .to_owned();
    let detail = wait_until_finished(&client, &server.url, &id)?;
    if detail["progress"]["correct"] != items {
        bail!(
            "the run did not answer every item right: {}",
            detail["progress"]
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests = provider_requests(&client, &server.url);
    let peak_rss_mib = server.peak_rss_mib();
    let server_cpu_seconds = server
        .cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let database_cpu_seconds = on_postgres
        .then(postgres_cpu_seconds)
        .flatten()
        .zip(database_before)
        .map(|(after, before)| after - before);
    let server_os_per_item = server
        .os_counts()
        .zip(os_before)
        .map(|(after, before)| after.per_item(before, items));
    let subscribers = match crowd {
        Some((mut child, lines)) => {
            let result = lines
                .map_while(Result::ok)
                .find(|line| line.starts_with("result"))
                .context("the subscribers reported nothing")?;
            child.wait()?;
            Some(result)
        }
        None => None,
    };
    // A backend reports what its transactions wrote when it goes idle for a while or exits: the
    // server stops first (once its subscribers have seen the run end), so that every row it
    // wrote is counted.
    drop(server);
    let database_writes_per_item = match writes_before {
        Some((before, idle)) if connections_ended(database_url, idle) => {
            postgres_write_counts(database_url).map(|after| {
                let each = |a: u64, b: u64| a.saturating_sub(b) as f64 / items as f64;
                format!(
                    "{:.2} / {:.1}",
                    each(after.0, before.0),
                    each(after.1, before.1)
                )
            })
        }
        _ => None,
    };
    Ok(Measured {
        backend: String::new(),
        items,
        seconds,
        peak_rss_mib,
        server_cpu_seconds,
        database_cpu_seconds,
        server_os_per_item,
        database_writes_per_item,
        subscribers,
        creation_seconds,
        requests,
    })
}

/// Waits for the newest run, `id`, to complete; returns its detail (`GET /runs/{id}`'s shape).
///
/// It asks every 100 ms. Asked every 20 ms, as until 2026-12-05, the server spent up to a
/// quarter of its CPU per item at 640 items/s answering the bench; following the run's
/// board-view event stream instead cost about half as much again. The run's end is seen up to
/// 100 ms late: 0.6 % of a 10,000-item run at concurrency 32 and 50 ms (docs/performance.md).
pub(crate) fn wait_until_finished(
    client: &reqwest::blocking::Client,
    url: &str,
    id: &str,
) -> anyhow::Result<Value> {
    loop {
        let detail = newest_run(client, url, id)?;
        match detail["run"]["status"].as_str() {
            Some("running" | "pending") => std::thread::sleep(Duration::from_millis(100)),
            Some("completed") => return Ok(detail),
            _ => bail!("the run ended {}", detail["run"]["status"]),
        }
    }
}

/// The archive's newest run, which must be `id`: not `GET /runs/{id}`, which reads the run's
/// latency histograms.
fn newest_run(client: &reqwest::blocking::Client, url: &str, id: &str) -> anyhow::Result<Value> {
    let mut page: Value = client.get(format!("{url}/runs?limit=1")).send()?.json()?;
    let detail = page["runs"][0].take();
    if detail["run"]["id"] != id {
        bail!("the newest run is not the bench's: {detail}");
    }
    Ok(detail)
}

/// The summed duration (seconds) and number of the server's provider requests so far, from its
/// `/metrics`; `None` when they cannot be read.
fn provider_requests(client: &reqwest::blocking::Client, url: &str) -> Option<(f64, u64)> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .ok()?
        .text()
        .ok()?;
    let total = |name: &str| -> f64 {
        text.lines()
            .filter(|line| line.starts_with(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let count = total("evalboard_provider_request_seconds_count");
    (count > 0.0).then(|| {
        (
            total("evalboard_provider_request_seconds_sum"),
            count as u64,
        )
    })
}

/// CPU time (user + system) of every `postgres` process on this machine so far, in seconds
/// (Linux): the backends serving the server, and the rest of PostgreSQL, which is idle apart
/// from them here (autovacuum is off). A backend that exits during the run takes its time with
/// it, so the server's pool keeps its connections for the whole run.
pub(crate) fn postgres_cpu_seconds() -> Option<f64> {
    let mut seconds = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some(("postgres", cpu)) = process_cpu_seconds(&stat)
        {
            seconds += cpu;
        }
    }
    Some(seconds)
}

/// Runs `sql` on the PostgreSQL database of `url` with `psql`; its output, trimmed, or `None`.
fn psql(url: &str, sql: &str) -> Option<String> {
    let output = Command::new("psql")
        .args([url, "-w", "-Atc", sql])
        // Never waits on a password prompt or an address that does not answer.
        .env("PGCONNECT_TIMEOUT", "5")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The transactions committed in the PostgreSQL database of `url` (all of its schemas) and the
/// rows inserted, updated or deleted in the schema `url` sets, so far, with `psql`. A backend
/// reports its counts when it goes idle for a while or exits: counts meant to be whole are
/// read after [`connections_ended`]. `None` when `psql` cannot say.
fn postgres_write_counts(url: &str) -> Option<(u64, u64)> {
    let counts = psql(
        url,
        "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) \
         || ' ' || (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) \
         FROM pg_stat_user_tables WHERE schemaname = current_schema())",
    )?;
    let (transactions, rows) = counts.split_once(' ')?;
    Some((transactions.parse().ok()?, rows.parse().ok()?))
}

/// How many connections the database of `url` has under the `application_name` the URL sets
/// (the test database's own pool's, and a server's while it runs), `psql`'s own left out.
fn connections(url: &str) -> Option<u64> {
    psql(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = \
         current_setting('application_name') AND pid <> pg_backend_pid()",
    )?
    .parse()
    .ok()
}

/// Waits (up to 10 s) until the database of `url` has no more connections under its name than
/// `before` (as [`connections`] counts them): those of a stopped server have ended. Whether
/// they have.
fn connections_ended(url: &str, before: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connections(url) {
            Some(open) if open <= before => return true,
            Some(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => return false,
        }
    }
}

/// The command name and the CPU time (user + system, in seconds) of a `/proc/<pid>/stat` line.
fn process_cpu_seconds(stat: &str) -> Option<(&str, f64)> {
    // The command name is in parentheses and may hold spaces; after it, state is the first
    // field, utime the 12th and stime the 13th, in clock ticks (100 per second on Linux).
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once(" (")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((name, ticks / 100.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_proc_stat_line_gives_its_name_and_cpu_time() {
        let line = "4242 (postgres: a b) S 1 4242 4242 0 -1 4194560 300 0 0 0 250 75 0 0 20 0 1";
        assert_eq!(
            super::process_cpu_seconds(line),
            Some(("postgres: a b", 3.25))
        );
        assert_eq!(super::process_cpu_seconds("garbage"), None);
    }

    #[test]
    fn os_counts_are_given_per_item_of_the_run() {
        let counts = |reads, writes, switches| super::OsCounts {
            reads,
            writes,
            switches,
        };
        let before = counts(100, 1_000, 50);
        assert_eq!(
            counts(300, 15_100, 3_350).per_item(before, 1_000),
            "0.2 / 14.1 / 3.3"
        );
    }
}
