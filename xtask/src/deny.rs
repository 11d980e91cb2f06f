//! `cargo xtask deny`: cargo-deny over the workspace's dependency graph (`deny.toml`): licenses,
//! duplicate versions, sources, and the RustSec advisories when their database can be fetched.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

/// The cargo-deny CI installs (`cargo install --locked cargo-deny@VERSION`).
pub(crate) const CARGO_DENY_VERSION: &str = "0.20.2";
/// Set to `1` to fail when the advisory database cannot be fetched instead of saying so.
const REQUIRE_ADVISORIES_ENV: &str = "EVALBOARD_REQUIRE_ADVISORIES";

fn cargo_deny(root: &Path, args: &[&str]) -> anyhow::Result<bool> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .arg("deny")
        .args(args)
        .status()
        .context("running cargo deny")?;
    Ok(status.success())
}

pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let installed = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        bail!(
            "cargo-deny is not installed: cargo install --locked cargo-deny@{CARGO_DENY_VERSION}"
        );
    }
    if !cargo_deny(root, &["check", "bans", "licenses", "sources"])? {
        bail!("cargo deny: the dependency graph breaks deny.toml (see above)");
    }
    // The database is a git repository on GitHub; machines without GitHub cannot have it.
    if cargo_deny(root, &["fetch", "db"])? {
        if !cargo_deny(root, &["check", "--disable-fetch", "advisories"])? {
            bail!("cargo deny: a dependency has a security advisory (see above)");
        }
    } else if std::env::var(REQUIRE_ADVISORIES_ENV).as_deref() == Ok("1") {
        bail!("{REQUIRE_ADVISORIES_ENV}=1 but the RustSec advisory database cannot be fetched");
    } else {
        println!(
            "xtask deny: ADVISORIES NOT CHECKED: the RustSec advisory database \
             (github.com/rustsec/advisory-db) cannot be fetched from this machine; licenses, \
             duplicates and sources were checked"
        );
    }
    Ok(())
}
