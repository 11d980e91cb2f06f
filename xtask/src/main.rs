//! `cargo xtask`: the project's chores, in Rust so they run wherever cargo does.
//!
//! - `migrate [--database-url URL]` applies pending migrations (default: `DATABASE_URL`, else
//!   the server's default SQLite file).
//! - `openapi [--check]` writes `docs/openapi.json` from the code, or fails if it is stale.
//! - `test [ARGS...]` runs the whole test suite, on PostgreSQL too when one is reachable, and the
//!   dashboard's unit tests.
//! - `e2e [--perf]` drives the dashboard in Chromium against the real server, or measures the
//!   board under load (see `e2e.rs`).
//! - `web [--check]` builds the dashboard (`crates/dashboard/web/dist`, embedded in the server),
//!   or fails if the committed build or its API types are stale.
//! - `keygen [--out FILE]` runs `evalboard keygen`: writes a new Browser Harness signing key
//!   (PKCS#8 PEM, mode 0600; default `./data/harness-signing-key.pem`, never overwritten) and
//!   prints its key id.
//! - `bench [--items N] [--concurrency C] [--latency-ms MS] [--subscribers S [--view exact|board]]`
//!   measures the engine against a stub
//!   provider on both databases; `bench --harness [--items N]` the Browser Harness pack and
//!   import round trip; `bench --export [--items N]` the memory an export costs the server;
//!   `bench --queries` how fast `GET /runs/active` and `GET /runs` answer at a fixed rate;
//!   `bench --replicas N [--items I] [--latency-ms MS]` N replicas on one PostgreSQL (see
//!   `docs/performance.md`).
//! - `fuzz [--seconds N] [--target NAME]` runs the cargo-fuzz targets of `fuzz/` (dataset
//!   importers, capture bundles, run settings, page cursors), N seconds each, and fails on any
//!   crash (see `fuzz.rs`).
//! - `schemathesis [--max-examples N] [--database-url URL]` fuzzes the running server from
//!   `docs/openapi.json` with a pinned schemathesis in a virtual environment it creates, and
//!   fails on any server error, schema violation or undocumented status (see `schemathesis.rs`).

#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::{
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::Command,
    time::Duration,
};

mod bench;
mod bench_export;
mod bench_harness;
mod bench_queries;
mod bench_replicas;
mod e2e;
mod fuzz;
mod schemathesis;
mod server;
mod web;

use anyhow::{Context, bail};
use evalboard_persistence::{Database, DatabaseUrl, PoolOptions};

const POSTGRES_URL_ENV: &str = "EVALBOARD_TEST_POSTGRES_URL";
const REQUIRE_POSTGRES_ENV: &str = "EVALBOARD_REQUIRE_POSTGRES";
/// The PostgreSQL every development machine and CI runner of this project has.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "migrate" => migrate(&rest),
        "openapi" => openapi(&rest),
        "test" => test(&rest),
        "web" => web::run(&project_root(), &rest),
        "e2e" => e2e::run(&project_root(), &rest),
        "keygen" => keygen(&rest),
        "bench" => bench::run(&project_root(), postgres_url().as_deref(), &rest),
        "fuzz" => fuzz::run(&project_root(), &rest),
        "schemathesis" => schemathesis::run(&project_root(), &rest),
        _ => {
            println!(
                "usage: cargo xtask <migrate [--database-url URL] | openapi [--check] | test [ARGS...] | web [--check] | e2e [--perf] | keygen [--out FILE] | bench [...] | fuzz [--seconds N] [--target NAME] | schemathesis [--max-examples N] [--database-url URL]>"
            );
            if command.is_empty() || command == "help" || command == "--help" {
                Ok(())
            } else {
                bail!("unknown command `{command}`")
            }
        }
    }
}

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the project root")
        .to_path_buf()
}

fn migrate(args: &[String]) -> anyhow::Result<()> {
    let url = match args {
        [] => std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            let data_dir =
                std::env::var("EVALBOARD_DATA_DIR").unwrap_or_else(|_| "./data".to_owned());
            format!("sqlite://{data_dir}/evalboard.db")
        }),
        [flag, url] if flag == "--database-url" => url.clone(),
        _ => bail!("usage: cargo xtask migrate [--database-url URL]"),
    };
    let db = Database::connect(&url, &PoolOptions::default())?;
    let applied = db.migrate()?;
    println!(
        "{}: {} migration(s) applied{}",
        db.redacted_url(),
        applied.len(),
        if applied.is_empty() {
            String::new()
        } else {
            format!(" ({})", applied.join(", "))
        }
    );
    Ok(())
}

/// The server binary's own `evalboard keygen`, built from this checkout (a relative `--out` is
/// relative to the current directory, as for the binary).
fn keygen(args: &[String]) -> anyhow::Result<()> {
    let status = Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "--package",
            "evalboard-server",
            "--manifest-path",
        ])
        .arg(project_root().join("Cargo.toml"))
        .args(["--", "keygen"])
        .args(args)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("keygen failed");
    }
    Ok(())
}

fn openapi(args: &[String]) -> anyhow::Result<()> {
    let path = project_root().join("docs/openapi.json");
    let generated = evalboard_api::openapi_json();
    match args {
        [] => {
            std::fs::write(&path, generated)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
            Ok(())
        }
        [flag] if flag == "--check" => {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed == generated {
                println!("{} is up to date", path.display());
                Ok(())
            } else {
                bail!("{} is stale: run `cargo xtask openapi`", path.display())
            }
        }
        _ => bail!("usage: cargo xtask openapi [--check]"),
    }
}

/// Runs `cargo test --workspace`, pointing the PostgreSQL tests at the local server when one
/// answers (or at `EVALBOARD_TEST_POSTGRES_URL` when set).
fn test(args: &[String]) -> anyhow::Result<()> {
    let postgres = postgres_url();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(project_root())
        .args(["test", "--workspace"])
        .args(args);
    match &postgres {
        Some(url) => {
            let shown = DatabaseUrl::parse(url).map_or_else(|_| url.clone(), |u| u.redacted());
            println!("xtask test: SQLite and PostgreSQL ({shown})");
            cargo.env(POSTGRES_URL_ENV, url);
        }
        None if std::env::var(REQUIRE_POSTGRES_ENV).as_deref() == Ok("1") => {
            bail!(
                "{REQUIRE_POSTGRES_ENV}=1 but no PostgreSQL answers at 127.0.0.1:5432 and {POSTGRES_URL_ENV} is not set"
            )
        }
        None => println!(
            "xtask test: SQLite only (no PostgreSQL at 127.0.0.1:5432; set {POSTGRES_URL_ENV} to test one elsewhere)"
        ),
    }
    let status = cargo.status().context("running cargo test")?;
    if !status.success() {
        bail!("tests failed");
    }
    println!("xtask test: the dashboard's unit tests");
    web::unit_tests(&project_root())?;
    if e2e::chromium().is_some() {
        println!("xtask test: the dashboard end to end, in Chromium");
        e2e::run(&project_root(), &[])
    } else if std::env::var(e2e::REQUIRE_E2E_ENV).as_deref() == Ok("1") {
        bail!(
            "{}=1 but there is no Chromium (apt-get install chromium)",
            e2e::REQUIRE_E2E_ENV
        )
    } else {
        println!(
            "xtask test: skipping the dashboard's end-to-end tests: no Chromium at /usr/bin/chromium (apt-get install chromium)"
        );
        Ok(())
    }
}

/// `EVALBOARD_TEST_POSTGRES_URL`, else the local server when it answers.
fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .or_else(|| local_postgres_answers().then(|| LOCAL_POSTGRES.to_owned()))
}

fn local_postgres_answers() -> bool {
    let addr: SocketAddr = ([127, 0, 0, 1], 5432).into();
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}
