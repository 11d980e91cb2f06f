//! `cargo xtask schemathesis`: the API fuzzed from its OpenAPI document. Creates a virtual
//! environment with a pinned schemathesis (`target/schemathesis/venv`), starts the real server
//! on a scratch SQLite database (or on PostgreSQL with `--database-url`) behind an admin token,
//! and runs every check and phase (examples, coverage, fuzzing, stateful) against
//! `docs/openapi.json`. Any server error, schema violation or undocumented status fails it.
//! Settings that are not the command line's live in `xtask/schemathesis.toml`.

use std::{
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::{
    bench::fresh_database,
    server::{Server, create_token, target_dir},
};

/// The schemathesis release CI runs: a newer one may generate differently, so moving is a
/// change of its own.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// Examples per operation and phase: enough to reach every documented refusal, few enough
/// for CI (about two minutes on two cores).
const DEFAULT_MAX_EXAMPLES: u32 = 40;
/// The seed CI generates from, so that each run sends the same requests.
const DEFAULT_SEED: &str = "20261203";

/// `cargo xtask schemathesis`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct SchemathesisArgs {
    /// Examples per operation and phase.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_EXAMPLES)]
    pub(crate) max_examples: u32,
    /// The seed requests are generated from (CI's, so that each run sends the same requests),
    /// or `random` to explore further.
    #[arg(long, value_name = "N|random", default_value = DEFAULT_SEED)]
    pub(crate) seed: Seed,
    /// Run the server on this PostgreSQL server (in a fresh schema, dropped afterwards)
    /// [default: a scratch SQLite database].
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
}

/// What schemathesis generates its requests from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seed {
    /// This seed, with no examples remembered from earlier runs: the same requests each time.
    Fixed(u64),
    /// A new seed each run.
    Random,
}

impl std::str::FromStr for Seed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "random" => Ok(Self::Random),
            n => n
                .parse()
                .map(Self::Fixed)
                .map_err(|_| "a number or `random`".to_owned()),
        }
    }
}

/// Starts the server and runs schemathesis against it with `args`.
pub(crate) fn run(root: &Path, args: &SchemathesisArgs) -> anyhow::Result<()> {
    let SchemathesisArgs {
        max_examples,
        seed,
        ref database_url,
    } = *args;
    let work = target_dir(root).join("schemathesis");
    let schemathesis = install(&work)?;
    let binary = crate::server::build(root, false)?;

    let data = tempfile::tempdir()?;
    let (token, entry) = create_token(&binary, "schemathesis", "admin")?;
    let config = data.path().join("evalboard.toml");
    // Thousands of requests in a few minutes from one token: the rate limit would answer most
    // of them 429, which says nothing about the API.
    std::fs::write(
        &config,
        format!("[http]\nrequests_per_minute = 0\nstreams_per_client = 0\n\n{entry}"),
    )?;
    let mut server_args: Vec<OsString> = vec!["--config".into(), config.into()];
    // A schema of its own on PostgreSQL (dropped with the guard), so that nothing an earlier
    // run left changes what is generated.
    let _postgres = match &database_url {
        Some(url) => {
            let (url, guard) =
                fresh_database("postgres", Some(url), data.path()).context("no PostgreSQL")?;
            server_args.extend(["--database-url".into(), url.into()]);
            guard
        }
        None => None,
    };
    let server_args: Vec<&OsStr> = server_args.iter().map(OsString::as_os_str).collect();
    let mut server = Server::start(&binary, data.path(), &server_args)?;

    let report = work.join("report");
    println!(
        "schemathesis: {} examples per operation and phase against {}",
        max_examples, server.base
    );
    let mut command = Command::new(&schemathesis);
    // Its caches (`.schemathesis`, `.hypothesis`) go where it runs: not in the repository.
    command
        .current_dir(&work)
        .arg("--config-file")
        .arg(root.join("xtask/schemathesis.toml"))
        .arg("run")
        .arg(root.join("docs/openapi.json"))
        .args(["--url", &server.base])
        .args(["--max-examples", &max_examples.to_string()])
        .arg("--report=junit")
        .arg("--report-dir")
        .arg(&report);
    // CI generates the same requests every time (a failure then says the change under test
    // caused it); `--seed random` explores further.
    if let Seed::Fixed(seed) = seed {
        // Examples remembered from earlier runs would change what is sent.
        command
            .args(["--seed", &seed.to_string()])
            .args(["--generation-database", ":memory:"]);
    }
    let status = command
        .env(
            "SCHEMATHESIS_HOOKS",
            root.join("xtask/schemathesis_hooks.py"),
        )
        .env("EVALBOARD_FUZZ_TOKEN", &token)
        // Its own progress display needs a terminal; CI logs read better without colours.
        .env("NO_COLOR", "1")
        .status()
        .context("running schemathesis");
    server.stop();
    if !status?.success() {
        bail!(
            "schemathesis found failures (the report is in {})",
            report.display()
        );
    }
    Ok(())
}

/// The pinned schemathesis in its own virtual environment, installed on first use.
fn install(work: &Path) -> anyhow::Result<PathBuf> {
    let venv = work.join("venv");
    let schemathesis = venv.join("bin/schemathesis");
    let pinned = SCHEMATHESIS.rsplit('=').next().unwrap_or_default();
    let installed = Command::new(&schemathesis)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(pinned));
    if installed {
        return Ok(schemathesis);
    }
    println!(
        "schemathesis: installing {SCHEMATHESIS} in {}",
        venv.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let created = Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .with_context(|| format!("running {python} -m venv (Python 3.10 or later is needed)"))?;
    if !created.success() {
        bail!("{python} -m venv failed");
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
        ])
        .status()
        .context("running pip")?;
    if !pip.success() {
        bail!("pip could not install {SCHEMATHESIS}");
    }
    Ok(schemathesis)
}
