//! `cargo xtask e2e`: the dashboard in a real browser against the real server. Builds the
//! `evalboard` binary, starts it on a fresh SQLite database in a scratch directory, and drives
//! Debian's Chromium with playwright-core (`crates/dashboard/web/e2e/run.mjs`): every page,
//! the flows of issue 13, axe-core on each page, screenshots under `target/e2e/`. With `--perf`,
//! measures the board under load instead (`e2e/perf.mjs`, on a release build).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::{Context, bail};

/// Where the browser is looked for, unless `EVALBOARD_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Set (to 1) where the end-to-end tests must run: a missing browser fails instead of skipping.
pub(crate) const REQUIRE_E2E_ENV: &str = "EVALBOARD_REQUIRE_E2E";

/// The browser to drive, if there is one.
pub(crate) fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("EVALBOARD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    path.exists().then_some(path)
}

pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let script = match args {
        [] => "e2e/run.mjs",
        [flag] if flag == "--perf" => "e2e/perf.mjs",
        _ => bail!("usage: cargo xtask e2e [--perf]"),
    };
    let Some(browser) = chromium() else {
        bail!(
            "no Chromium at {CHROMIUM} (Debian: `apt-get install chromium`; or set EVALBOARD_CHROMIUM)"
        );
    };
    let web = root.join(crate::web::WEB);
    crate::web::install(&web)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The board's measurement needs a server as fast as users get.
    let profile = if script.ends_with("perf.mjs") {
        "release"
    } else {
        "debug"
    };
    let mut build = Command::new(cargo);
    build
        .current_dir(root)
        .args(["build", "-p", "evalboard-server"]);
    if profile == "release" {
        build.arg("--release");
    }
    let built = build.status().context("building the server")?;
    if !built.success() {
        bail!("the server does not build");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join(profile).join("evalboard");
    let data = tempfile::tempdir()?;
    let mut server = Server::start(&binary, data.path(), &[])?;
    // A second server that needs a token, for the sign-in screen.
    let guarded_data = tempfile::tempdir()?;
    let (token, entry) = create_token(&binary)?;
    let config = guarded_data.path().join("evalboard.toml");
    std::fs::write(&config, entry)?;
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
        .env("GUARDED_URL", &guarded.base)
        .env("GUARDED_TOKEN", &token)
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

/// A new operator token from `evalboard token create`, and its configuration entry.
fn create_token(binary: &Path) -> anyhow::Result<(String, String)> {
    let created = Command::new(binary)
        .args(["token", "create", "--name", "e2e", "--role", "operator"])
        .output()
        .context("creating a token")?;
    if !created.status.success() {
        bail!(
            "evalboard token create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    let token = String::from_utf8(created.stdout)?.trim().to_owned();
    let stderr = String::from_utf8(created.stderr)?;
    let entry = stderr
        .find("[[auth.tokens]]")
        .map(|at| stderr[at..].to_owned())
        .context("no configuration entry printed")?;
    Ok((token, entry))
}

/// The real server on a free port, stopped when done.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(binary: &Path, data_dir: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("DATABASE_URL")
            .env("EVALBOARD_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the server")?;
        let (tx, lines) = mpsc::channel();
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped")),
            Box::new(child.stderr.take().expect("piped")),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    // The server's warnings and errors belong in the test's output.
                    if line.contains("WARN") || line.contains("ERROR") {
                        eprintln!("server: {line}");
                    }
                    let _ = tx.send(line);
                }
            });
        }
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .context("the server did not say where it listens")?;
            if let Some(at) = line.find("listening on http://") {
                let base = line[at + "listening on ".len()..].trim().to_owned();
                return Ok(Self { child, base });
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
