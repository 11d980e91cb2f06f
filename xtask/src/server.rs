//! The real `evalboard` binary as the end-to-end tests and the API fuzzing drive it: built,
//! started on a free port in a scratch data directory, given tokens, stopped.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::{Context, bail};

/// Builds the server (debug profile unless `release`) and returns its binary.
pub(crate) fn build(root: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(root)
        .args(["build", "-p", "evalboard-server"]);
    if release {
        build.arg("--release");
    }
    if !build.status().context("building the server")?.success() {
        bail!("the server does not build");
    }
    Ok(target_dir(root)
        .join(if release { "release" } else { "debug" })
        .join("evalboard"))
}

/// Cargo's target directory.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A new token from `evalboard token create`, and its configuration entry.
pub(crate) fn create_token(
    binary: &Path,
    name: &str,
    role: &str,
) -> anyhow::Result<(String, String)> {
    let created = Command::new(binary)
        .args(["token", "create", "--name", name, "--role", role])
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
pub(crate) struct Server {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(
        binary: &Path,
        data_dir: &Path,
        args: &[&std::ffi::OsStr],
    ) -> anyhow::Result<Self> {
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

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
