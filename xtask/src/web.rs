//! `cargo xtask web [--check]`: the dashboard (`crates/dashboard/web`). Installs its pinned
//! packages (`npm ci`), generates its API types from `docs/openapi.json`, type-checks, runs its
//! unit tests and builds it into `web/dist`, which the server embeds. With `--check` nothing is
//! written: the generated types and a fresh build are compared with the committed ones, so the
//! dashboard can neither drift from the API nor from its source.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The dashboard's source, from the project root.
pub(crate) const WEB: &str = "crates/dashboard/web";
const SCHEMA: &str = "src/api/schema.d.ts";

/// `cargo xtask web`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct WebArgs {
    /// Write nothing: fail unless a fresh build and freshly generated API types equal the
    /// committed ones.
    #[arg(long)]
    pub(crate) check: bool,
}

/// Builds the dashboard into `web/dist`, or checks the committed build (`args.check`).
pub(crate) fn run(root: &Path, args: &WebArgs) -> anyhow::Result<()> {
    let web = root.join(WEB);
    install(&web)?;
    if args.check {
        let scratch = tempfile::tempdir()?;
        let schema = scratch.path().join("schema.d.ts");
        generate_types(&web, &schema)?;
        same_file(&schema, &web.join(SCHEMA), "the dashboard's API types")?;
        npm(&web, &["run", "typecheck"])?;
        npm(&web, &["test"])?;
        let dist = scratch.path().join("dist");
        npx(
            &web,
            &[
                "vite",
                "build",
                "--outDir",
                &dist.to_string_lossy(),
                "--emptyOutDir",
            ],
        )?;
        same_tree(&dist, &web.join("dist"))?;
        println!("web: the committed dashboard build and API types are current");
    } else {
        generate_types(&web, &web.join(SCHEMA))?;
        npm(&web, &["test"])?;
        npm(&web, &["run", "build"])?;
        println!("web: built {WEB}/dist");
    }
    Ok(())
}

/// Runs the dashboard's unit tests (installing its packages first), for `cargo xtask test`.
pub(crate) fn unit_tests(root: &Path) -> anyhow::Result<()> {
    let web = root.join(WEB);
    install(&web)?;
    npm(&web, &["test"])
}

/// `npm ci` unless the installed packages are the lockfile's.
pub(crate) fn install(web: &Path) -> anyhow::Result<()> {
    let lock = std::fs::read(web.join("package-lock.json")).context("reading package-lock.json")?;
    let installed = std::fs::read(web.join("node_modules/.package-lock.json")).ok();
    let current = installed.is_some_and(|installed| same_packages(&lock, &installed));
    if !current {
        npm(web, &["ci", "--no-audit", "--no-fund"])?;
    }
    Ok(())
}

/// Whether npm's record of what it installed names the lockfile's packages and versions.
fn same_packages(lock: &[u8], installed: &[u8]) -> bool {
    let packages = |bytes: &[u8]| -> Option<BTreeMap<String, String>> {
        let json: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let packages = json.get("packages")?.as_object()?;
        Some(
            packages
                .iter()
                .filter(|(path, _)| !path.is_empty())
                .map(|(path, p)| (path.clone(), p["version"].as_str().unwrap_or("").to_owned()))
                .collect(),
        )
    };
    match (packages(lock), packages(installed)) {
        (Some(lock), Some(installed)) => lock == installed,
        _ => false,
    }
}

fn generate_types(web: &Path, out: &Path) -> anyhow::Result<()> {
    npx(
        web,
        &[
            "openapi-typescript",
            "../../../docs/openapi.json",
            "-o",
            &out.to_string_lossy(),
        ],
    )
}

fn npm(web: &Path, args: &[&str]) -> anyhow::Result<()> {
    run_in(web, "npm", args)
}

fn npx(web: &Path, args: &[&str]) -> anyhow::Result<()> {
    run_in(web, "npx", &[&["--no-install"], args].concat())
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .current_dir(dir)
        .args(args)
        .status()
        .with_context(|| {
            format!("running {program} (Node 20 and npm are needed for the dashboard)")
        })?;
    if !status.success() {
        bail!("{program} {} failed", args.join(" "));
    }
    Ok(())
}

fn same_file(fresh: &Path, committed: &Path, what: &str) -> anyhow::Result<()> {
    if std::fs::read(fresh)? != std::fs::read(committed).unwrap_or_default() {
        bail!(
            "{what} ({}) are stale: run `cargo xtask web` and commit the result",
            committed.display()
        );
    }
    Ok(())
}

/// Fails unless both directories hold the same files with the same bytes.
fn same_tree(fresh: &Path, committed: &Path) -> anyhow::Result<()> {
    let (fresh_files, committed_files) = (files(fresh)?, files(committed)?);
    if fresh_files != committed_files {
        bail!(
            "the committed dashboard build ({}) is stale: run `cargo xtask web` and commit it \
             (fresh: {:?}; committed: {:?})",
            committed.display(),
            fresh_files.keys().collect::<Vec<_>>(),
            committed_files.keys().collect::<Vec<_>>()
        );
    }
    Ok(())
}

fn files(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).with_context(|| format!("reading {}", at.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir)?.to_path_buf();
                found.insert(relative, std::fs::read(&path)?);
            }
        }
    }
    Ok(found)
}
