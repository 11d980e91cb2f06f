//! `cargo xtask e2e`: the dashboard in a real browser against the real server. Builds the
//! `evalboard` binary, starts it on a fresh SQLite database in a scratch directory, and drives
//! Debian's Chromium with playwright-core (`crates/dashboard/web/e2e/run.mjs`): every page,
//! the flows of issue 13, axe-core on each page, screenshots under `target/e2e/`. With `--perf`,
//! measures the board under load instead (`e2e/perf.mjs`, on a release build).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::server::{Server, create_token};

/// Where the browser is looked for, unless `EVALBOARD_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The path the server that needs a token is reached below.
const GUARDED_BASE_PATH: &str = "/tools/evalboard";
/// Set (to 1) where the end-to-end tests must run: a missing browser fails instead of skipping.
pub(crate) const REQUIRE_E2E_ENV: &str = "EVALBOARD_REQUIRE_E2E";

/// The browser to drive, if there is one.
pub(crate) fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("EVALBOARD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    path.exists().then_some(path)
}

/// `cargo xtask e2e`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct E2eArgs {
    /// Measure the board under load instead (e2e/perf.mjs, on a release build; the environment
    /// variable LATENCY_MS sets the simulated answers' latency, default 180 ms).
    #[arg(long)]
    pub(crate) perf: bool,
}

/// Runs the end-to-end tests (`e2e/run.mjs`), or the board's measurement with `args.perf`.
pub(crate) fn run(root: &Path, args: &E2eArgs) -> anyhow::Result<()> {
    let script = if args.perf {
        "e2e/perf.mjs"
    } else {
        "e2e/run.mjs"
    };
    let Some(browser) = chromium() else {
        bail!(
            "no Chromium at {CHROMIUM} (Debian: `apt-get install chromium`; or set EVALBOARD_CHROMIUM)"
        );
    };
    let web = root.join(crate::web::WEB);
    crate::web::install(&web)?;
    // The board's measurement needs a server as fast as users get.
    let binary = crate::server::build(root, script.ends_with("perf.mjs"))?;
    let target = crate::server::target_dir(root);
    let data = tempfile::tempdir()?;
    let mut server = Server::start(&binary, data.path(), &[])?;
    // A second server that needs a token, for the sign-in screen, reached below a path as
    // behind a proxy that publishes it on a path of a host it shares (`http.base_path`).
    let guarded_data = tempfile::tempdir()?;
    let (token, entry) = create_token(&binary, "e2e", "operator")?;
    let (viewer_token, viewer_entry) = create_token(&binary, "e2e-viewer", "viewer")?;
    let config = guarded_data.path().join("evalboard.toml");
    std::fs::write(
        &config,
        format!("[http]\nbase_path = \"{GUARDED_BASE_PATH}\"\n\n{entry}\n{viewer_entry}"),
    )?;
    let mut guarded = Server::start(
        &binary,
        guarded_data.path(),
        &["--config".as_ref(), config.as_os_str()],
    )?;
    let screenshots = target.join("e2e");
    std::fs::create_dir_all(&screenshots)?;
    let status = Command::new("node")
        .current_dir(&web)
        .arg(script)
        .env("BASE_URL", &server.base)
        .env("SERVER_PID", server.child.id().to_string())
        .env(
            "GUARDED_URL",
            format!("{}{GUARDED_BASE_PATH}", guarded.base),
        )
        .env("GUARDED_TOKEN", &token)
        .env("GUARDED_VIEWER_TOKEN", &viewer_token)
        .env("CHROMIUM", &browser)
        .env("SCREENSHOTS", &screenshots)
        .status()
        .with_context(|| format!("running node {script}"));
    server.stop();
    guarded.stop();
    if !status?.success() {
        bail!(
            "the end-to-end tests failed (screenshots in {})",
            screenshots.display()
        );
    }
    println!("e2e: passed; screenshots in {}", screenshots.display());
    Ok(())
}
