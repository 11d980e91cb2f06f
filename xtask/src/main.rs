//! `cargo xtask`: the project's chores, in Rust so they run wherever cargo does.
//! `cargo xtask --help` lists them and `cargo xtask COMMAND --help` describes one (from the
//! doc comments of [`Task`] and of each module's arguments).
//!
//! - `migrate [--database-url URL]` applies pending migrations (default: `DATABASE_URL`, else
//!   the server's default SQLite file).
//! - `openapi [--check]` writes `docs/openapi.json` and the Browser Harness JSON Schemas
//!   (`docs/schemas/`) from the code, or fails if one is stale.
//! - `test [ARGS...]` runs the whole test suite, on PostgreSQL too when one is reachable, and the
//!   dashboard's unit tests; ARGS go to `cargo test` (`cargo xtask test -p foo -- --nocapture`).
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
//! - `deny` checks the dependency graph against `deny.toml` with cargo-deny (see `deny.rs`).
//! - `schemathesis [--max-examples N] [--seed N|random] [--database-url URL]` fuzzes the running
//!   server from `docs/openapi.json` with a pinned schemathesis in a virtual environment it
//!   creates, and fails on any server error, schema violation or undocumented status (see
//!   `schemathesis.rs`).

#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::{
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

mod bench;
mod bench_export;
mod bench_harness;
mod bench_queries;
mod bench_replicas;
mod deny;
mod e2e;
mod fuzz;
mod schemathesis;
mod server;
mod web;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use evalboard_persistence::{Database, DatabaseUrl, PoolOptions};

const POSTGRES_URL_ENV: &str = "EVALBOARD_TEST_POSTGRES_URL";
const REQUIRE_POSTGRES_ENV: &str = "EVALBOARD_REQUIRE_POSTGRES";
/// The PostgreSQL every development machine and CI runner of this project has.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The project's chores (`cargo xtask COMMAND --help` describes each).
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Apply pending database migrations.
    Migrate {
        /// The database [default: DATABASE_URL, else sqlite://$EVALBOARD_DATA_DIR/evalboard.db,
        /// else sqlite://./data/evalboard.db].
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Write docs/openapi.json and the harness's JSON Schemas (docs/schemas/) from the code, or
    /// check them.
    Openapi {
        /// Write nothing: fail if a committed document is stale.
        #[arg(long)]
        check: bool,
    },
    /// Run the whole test suite, on PostgreSQL too when one is reachable.
    ///
    /// Runs `cargo test --workspace` (on PostgreSQL too when one answers at 127.0.0.1:5432 or
    /// EVALBOARD_TEST_POSTGRES_URL names one), then the dashboard's unit tests, then its
    /// end-to-end tests when Chromium is there. EVALBOARD_REQUIRE_POSTGRES=1 and EVALBOARD_REQUIRE_E2E=1 make a missing PostgreSQL or
    /// Chromium fail instead of skipping.
    Test {
        /// Passed to `cargo test --workspace` as they are, e.g. `-p evalboard-api -- --nocapture`.
        #[arg(value_name = "ARGS", allow_hyphen_values = true)]
        args: Vec<String>,
        /// After a leading `--`: passed on after a `--` (to the test binaries), e.g.
        /// `-- --nocapture`.
        #[arg(value_name = "TEST_ARGS", last = true)]
        test_args: Vec<String>,
    },
    /// Build the dashboard, or check the committed build.
    ///
    /// Installs its pinned packages, generates its API types from docs/openapi.json, runs its
    /// unit tests and builds crates/dashboard/web/dist, which the server embeds.
    Web(web::WebArgs),
    /// Drive the dashboard in Chromium against the real server, or measure the board.
    ///
    /// Builds the server, starts it on a fresh SQLite database and runs
    /// crates/dashboard/web/e2e/run.mjs in Debian's Chromium (or EVALBOARD_CHROMIUM);
    /// screenshots go to target/e2e/.
    E2e(e2e::E2eArgs),
    /// Write a new Browser Harness signing key (`evalboard keygen`).
    ///
    /// Prints the key's id.
    /// The key is PKCS#8 PEM, mode 0600; an existing file is never overwritten.
    Keygen {
        /// Where to write it (relative to the current directory) [default: the server's
        /// harness.signing_key_file, else ./data/harness-signing-key.pem].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Measure the engine against a stub provider, or another benchmark (docs/performance.md).
    ///
    /// Without a mode flag: the engine against an OpenAI-compatible stub on SQLite and on
    /// PostgreSQL (when one answers), beside the stub's own ceiling. With --harness, --export,
    /// --queries or --replicas N: that benchmark instead (one at a time).
    Bench(bench::BenchArgs),
    /// Run the cargo-fuzz targets of fuzz/ and fail on any crash.
    ///
    /// One after another, N seconds each, on nightly with cargo-fuzz (docs/development.md);
    /// each target's libFuzzer output is kept in target/fuzz/NAME.log.
    Fuzz(fuzz::FuzzArgs),
    /// Fuzz the running server from docs/openapi.json with schemathesis.
    ///
    /// Installs a pinned schemathesis in target/schemathesis/venv, starts the server behind an
    /// admin token and fails on any server error, schema violation or undocumented status
    /// (the report goes to target/schemathesis/report).
    Schemathesis(schemathesis::SchemathesisArgs),
    /// Check the dependency graph against deny.toml with cargo-deny.
    ///
    /// Licenses, duplicate versions and sources always; the RustSec advisories when their
    /// database can be fetched from GitHub (said loudly when it cannot;
    /// EVALBOARD_REQUIRE_ADVISORIES=1 makes that an error).
    Deny,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Migrate { database_url } => migrate(database_url),
        Task::Openapi { check } => openapi(check),
        Task::Test { args, test_args } => test(&args, &test_args),
        Task::Web(args) => web::run(&project_root(), &args),
        Task::E2e(args) => e2e::run(&project_root(), &args),
        Task::Keygen { out } => keygen(out.as_deref()),
        Task::Bench(args) => bench::run(&project_root(), postgres_url().as_deref(), &args),
        Task::Fuzz(args) => fuzz::run(&project_root(), &args),
        Task::Schemathesis(args) => schemathesis::run(&project_root(), &args),
        Task::Deny => deny::run(&project_root()),
    }
}

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the project root")
        .to_path_buf()
}

/// Applies pending migrations to `database_url`, else to `DATABASE_URL`, else to the server's
/// default SQLite file.
fn migrate(database_url: Option<String>) -> anyhow::Result<()> {
    let url = database_url.unwrap_or_else(|| {
        std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            let data_dir =
                std::env::var("EVALBOARD_DATA_DIR").unwrap_or_else(|_| "./data".to_owned());
            format!("sqlite://{data_dir}/evalboard.db")
        })
    });
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
fn keygen(out: Option<&Path>) -> anyhow::Result<()> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "run",
            "--quiet",
            "--package",
            "evalboard-server",
            "--manifest-path",
        ])
        .arg(project_root().join("Cargo.toml"))
        .args(["--", "keygen"]);
    if let Some(out) = out {
        cargo.arg("--out").arg(out);
    }
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("keygen failed");
    }
    Ok(())
}

/// Writes `docs/openapi.json` from the code or, with `check`, fails if it is stale.
/// docs/openapi.json and the Browser Harness JSON Schemas under docs/schemas/: written from the
/// code, or checked against it.
fn openapi(check: bool) -> anyhow::Result<()> {
    let root = project_root();
    let mut documents = vec![(
        root.join("docs/openapi.json"),
        evalboard_api::openapi_json(),
    )];
    for (name, text) in evalboard_harness::schema_documents() {
        documents.push((root.join("docs/schemas").join(name), text.clone()));
    }
    for (path, generated) in documents {
        if check {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed != generated {
                bail!("{} is stale: run `cargo xtask openapi`", path.display());
            }
            println!("{} is up to date", path.display());
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, generated)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Runs `cargo test --workspace`, pointing the PostgreSQL tests at the local server when one
/// answers (or at `EVALBOARD_TEST_POSTGRES_URL` when set).
fn test(args: &[String], test_args: &[String]) -> anyhow::Result<()> {
    let postgres = postgres_url();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(project_root())
        .args(["test", "--workspace"])
        .args(cargo_test_args(args, test_args));
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
        e2e::run(&project_root(), &e2e::E2eArgs { perf: false })
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

/// The arguments of `cargo xtask test` as it was given them, for `cargo test`: clap takes a
/// `--` right after `test` as its own (what follows it is `test_args`), while a later one stays
/// in `args`.
fn cargo_test_args(args: &[String], test_args: &[String]) -> Vec<String> {
    let mut all = args.to_vec();
    if !test_args.is_empty() {
        all.push("--".to_owned());
        all.extend_from_slice(test_args);
    }
    all
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Task};
    use crate::{bench::View, schemathesis::Seed};

    fn parse(args: &str) -> Task {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.split_whitespace()))
            .unwrap_or_else(|e| panic!("`cargo xtask {args}`: {e}"))
            .task
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// What .ci/run, docs/development.md and the README run.
    #[test]
    fn the_ci_invocations_parse() {
        assert!(matches!(
            parse("openapi --check"),
            Task::Openapi { check: true }
        ));
        assert!(matches!(parse("openapi"), Task::Openapi { check: false }));
        assert!(matches!(parse("web --check"), Task::Web(a) if a.check));
        assert!(
            matches!(parse("test"), Task::Test { args, test_args } if args.is_empty() && test_args.is_empty())
        );
        let Task::Schemathesis(a) = parse("schemathesis") else {
            panic!("not schemathesis")
        };
        assert_eq!(
            (a.max_examples, a.seed, a.database_url),
            (40, Seed::Fixed(20_261_203), None)
        );
        let Task::Schemathesis(a) =
            parse("schemathesis --database-url postgres://postgres@127.0.0.1:5432/postgres")
        else {
            panic!("not schemathesis")
        };
        assert_eq!(
            a.database_url.as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/postgres")
        );
        let Task::Schemathesis(a) = parse("schemathesis --max-examples 200 --seed random") else {
            panic!("not schemathesis")
        };
        assert_eq!((a.max_examples, a.seed), (200, Seed::Random));
        assert!(matches!(
            parse("migrate --database-url sqlite://x.db"),
            Task::Migrate { database_url: Some(url) } if url == "sqlite://x.db"
        ));
        assert!(matches!(
            parse("migrate"),
            Task::Migrate { database_url: None }
        ));
        assert!(matches!(parse("e2e --perf"), Task::E2e(a) if a.perf));
        assert!(matches!(
            parse("keygen --out key.pem"),
            Task::Keygen { out: Some(out) } if out.as_os_str() == "key.pem"
        ));
    }

    /// Everything after `test` goes to `cargo test`, `--` included.
    #[test]
    fn test_passes_its_arguments_through() {
        for args in [
            "-p evalboard-api -- --nocapture",
            "-- --nocapture",
            "--release foo",
            "-p foo --help",
            "-- -h",
            "-p a -- x -- y",
        ] {
            let Task::Test {
                args: before,
                test_args,
            } = parse(&format!("test {args}"))
            else {
                panic!("not test")
            };
            assert_eq!(super::cargo_test_args(&before, &test_args).join(" "), args);
        }
    }

    /// What docs/performance.md and docs/development.md run.
    #[test]
    fn the_documented_benchmarks_parse() {
        let bench = |args: &str| match parse(&format!("bench {args}")) {
            Task::Bench(a) => a,
            _ => panic!("not bench"),
        };
        let a = bench("");
        assert_eq!(
            (a.items, a.concurrency, a.latency_ms, a.subscribers, a.view),
            (None, 64, 0, 0, View::Exact)
        );
        assert!(!a.harness && !a.export && !a.queries && a.replicas.is_none());
        assert_eq!(bench("--items 50000").items, Some(50_000));
        let a = bench("--subscribers 1000");
        assert_eq!((a.subscribers, a.view), (1000, View::Exact));
        let a = bench("--items 20000 --concurrency 32 --latency-ms 50");
        assert_eq!(
            (a.items, a.concurrency, a.latency_ms),
            (Some(20_000), 32, 50)
        );
        let a = bench(
            "--latency-ms 50 --concurrency 256 --items 20000 --subscribers 1000 --view board",
        );
        assert_eq!((a.subscribers, a.view), (1000, View::Board));
        assert!(bench("--queries").queries);
        let a = bench("--harness --items 20000");
        assert!(a.harness && a.items == Some(20_000));
        let a = bench("--export");
        assert!(a.export && a.items.is_none());
        let a = bench("--replicas 3 --latency-ms 50 --items 20000");
        assert_eq!(a.replicas.map(|n| n.get()), Some(3));
        let Task::Fuzz(a) = parse("fuzz --seconds 300") else {
            panic!("not fuzz")
        };
        assert_eq!((a.seconds, a.target), (300, None));
        let Task::Fuzz(a) = parse("fuzz --target cursor") else {
            panic!("not fuzz")
        };
        assert_eq!((a.seconds, a.target.as_deref()), (60, Some("cursor")));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for args in [
            "",
            "frobnicate",
            "openapi --chek",
            "web extra",
            "e2e --perf --perf",
            "migrate --database-url",
            "bench --items many",
            "bench --view nearly --subscribers 5",
            "bench --view board",
            "bench --harness --export",
            "bench --queries --items 5",
            "bench --replicas 0",
            "bench --export --concurrency 8",
            "fuzz --seconds 0",
            "fuzz --target nothing",
            "schemathesis --seed soon",
            "schemathesis --max-examples -1",
        ] {
            let error =
                Cli::try_parse_from(std::iter::once("xtask").chain(args.split_whitespace()))
                    .expect_err(args);
            assert_eq!(error.exit_code(), 2, "`cargo xtask {args}`: {error}");
        }
    }
}
