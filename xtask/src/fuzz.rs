//! `cargo xtask fuzz [--seconds N] [--target NAME]`: runs the cargo-fuzz targets of `fuzz/` one
//! after another, N seconds each (default 60), and fails naming every target that crashed and
//! the input that made it crash. Needs the nightly toolchain and cargo-fuzz (see
//! `docs/development.md`).
//!
//! Each target grows its own corpus in `fuzz/corpus/NAME` (not committed), starting from the
//! small committed seeds in `fuzz/seeds/NAME` and from files of the repository that are good
//! inputs already (the demo dataset, the capture bundle of the harness test vectors). The whole
//! libFuzzer output of a target is kept in `target/fuzz/NAME.log`.

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, bail};

/// Every target, in the order they run (`fuzz/fuzz_targets/NAME.rs`).
const TARGETS: [&str; 6] = [
    "import_jsonl",
    "import_csv",
    "import_gzip",
    "bundle",
    "run_settings",
    "cursor",
];
/// Longest time one input may take before it counts as a hang.
const INPUT_TIMEOUT_SECS: u64 = 10;
/// Most memory a target may hold before it counts as a crash.
const RSS_LIMIT_MB: u64 = 2048;

/// What one target's run came to.
struct Outcome {
    target: &'static str,
    /// How long it ran (less than asked when it crashed).
    seconds: u64,
    /// Inputs libFuzzer ran.
    executions: Option<u64>,
    /// Inputs libFuzzer wrote as crashes, hangs or out-of-memory cases.
    crashes: Vec<PathBuf>,
    success: bool,
}

/// `cargo xtask fuzz`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct FuzzArgs {
    /// How long each target runs, in seconds.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) seconds: u64,
    /// Run this target only [default: all of them, one after another].
    #[arg(
        long,
        value_name = "NAME",
        value_parser = clap::builder::PossibleValuesParser::new(TARGETS)
    )]
    pub(crate) target: Option<String>,
}

/// Fuzzes every target (or `args.target`) for `args.seconds` each, and fails naming those that
/// crashed.
pub(crate) fn run(root: &Path, args: &FuzzArgs) -> anyhow::Result<()> {
    let seconds = args.seconds;
    let targets: Vec<&'static str> = TARGETS
        .into_iter()
        .filter(|t| args.target.as_deref().is_none_or(|only| only == *t))
        .collect();

    let fuzz_dir = root.join("fuzz");
    check_tools()?;
    println!("xtask fuzz: building the targets (nightly, libFuzzer)");
    let built = cargo_fuzz(root)
        .arg("build")
        .args(sanitizer())
        .status()
        .context("running cargo +nightly fuzz build")?;
    if !built.success() {
        bail!("the fuzz targets do not build");
    }

    let logs = root.join("target/fuzz");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut outcomes = Vec::new();
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
        add_repository_seeds(root, target, &corpus)?;
        println!("xtask fuzz: {target} for {seconds} s");
        outcomes.push(fuzz(
            root,
            target,
            seconds,
            &corpus,
            &logs.join(format!("{target}.log")),
        )?);
    }

    println!(
        "\nxtask fuzz: {:<14} {:>8} {:>14}  result",
        "target", "seconds", "executions"
    );
    for o in &outcomes {
        let executions = o
            .executions
            .map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = if o.success { "no crash" } else { "CRASHED" };
        println!(
            "xtask fuzz: {:<14} {:>8} {executions:>14}  {result}",
            o.target, o.seconds
        );
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.success)
        .map(|o| {
            let inputs = if o.crashes.is_empty() {
                "no input written; see its log in target/fuzz/".to_owned()
            } else {
                o.crashes
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "{} ({inputs}; reproduce with `cargo +nightly fuzz run -s none {} INPUT`)",
                o.target, o.target
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!("fuzz target(s) crashed: {}", failed.join("; "));
    }
    Ok(())
}

/// `cargo +nightly fuzz`, from the project root (cargo-fuzz finds `fuzz/` there).
fn cargo_fuzz(root: &Path) -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(root).args(["+nightly", "fuzz"]);
    command
}

/// No AddressSanitizer: the project's crates forbid `unsafe`, and without it the targets run
/// several times faster. Panics, overflows, hangs and memory blow-ups are still caught.
fn sanitizer() -> [&'static str; 2] {
    ["--sanitizer", "none"]
}

fn check_tools() -> anyhow::Result<()> {
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        bail!("fuzzing needs the nightly toolchain: rustup toolchain install nightly");
    }
    let fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !fuzz {
        bail!("fuzzing needs cargo-fuzz: cargo install cargo-fuzz");
    }
    Ok(())
}

/// Puts into `corpus` the files of the repository that are good inputs of `target` already,
/// so that they are used where they are kept rather than copied into `fuzz/seeds`.
fn add_repository_seeds(root: &Path, target: &str, corpus: &Path) -> anyhow::Result<()> {
    match target {
        "import_jsonl" => {
            let demo = root.join("datasets/evalboard-demo.jsonl");
            fs::copy(&demo, corpus.join("evalboard-demo.jsonl"))
                .with_context(|| format!("copying {}", demo.display()))?;
        }
        "bundle" => {
            let doc = root.join("docs/harness-format.md");
            let text =
                fs::read_to_string(&doc).with_context(|| format!("reading {}", doc.display()))?;
            match test_vector_bundle(&text) {
                Some(bundle) => fs::write(corpus.join("harness-format-vector.json"), bundle)?,
                None => println!(
                    "xtask fuzz: warning: no capture bundle under `### A capture bundle` in {}",
                    doc.display()
                ),
            }
        }
        _ => {}
    }
    Ok(())
}

/// The JSON block of the section `### A capture bundle` of the harness format.
fn test_vector_bundle(doc: &str) -> Option<String> {
    let section = &doc[doc.find("### A capture bundle")?..];
    let start = section.find("```json\n")? + "```json\n".len();
    let end = start + section[start..].find("\n```")?;
    Some(section[start..end].to_owned())
}

/// Runs one target for `seconds`, keeping its output in `log` and showing the interesting part.
fn fuzz(
    root: &Path,
    target: &'static str,
    seconds: u64,
    corpus: &Path,
    log: &Path,
) -> anyhow::Result<Outcome> {
    let seeds = root.join("fuzz/seeds").join(target);
    let mut command = cargo_fuzz(root);
    command
        .arg("run")
        .args(sanitizer())
        .arg(target)
        .arg(corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg("-print_final_stats=1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("running cargo +nightly fuzz run {target}"))?;
    // libFuzzer reports on stderr; drain stdout beside it so the child never blocks.
    let stdout = child.stdout.take().context("no stdout")?;
    let echo = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
        }
    });
    let stderr = child.stderr.take().context("no stderr")?;
    let mut file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut executions = None;
    let mut crashes = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading the fuzzer's output")?;
        writeln!(file, "{line}")?;
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            executions = n.trim().parse().ok();
        }
        if let Some(at) = line.find("Test unit written to ") {
            crashes.push(PathBuf::from(
                line[at + "Test unit written to ".len()..].trim(),
            ));
        }
        // Coverage progress is in the log; the terminal gets the rest.
        let progress =
            line.starts_with('#') && (line.contains("\tNEW ") || line.contains("\tREDUCE "));
        if !progress {
            eprintln!("{line}");
        }
    }
    let status = child.wait().context("waiting for the fuzzer")?;
    let _ = echo.join();
    Ok(Outcome {
        target,
        seconds: started.elapsed().as_secs(),
        executions,
        success: status.success() && crashes.is_empty(),
        crashes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_vector_bundle_is_found_in_the_harness_format() {
        let doc = include_str!("../../docs/harness-format.md");
        let bundle = test_vector_bundle(doc).expect("the section and its JSON block");
        let value: serde_json::Value = serde_json::from_str(&bundle).expect("JSON");
        assert!(value.get("captures").is_some());
    }

    #[test]
    fn every_target_has_a_source_and_seeds() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        for target in TARGETS {
            let source = root.join(format!("fuzz/fuzz_targets/{target}.rs"));
            assert!(source.is_file(), "{}", source.display());
            let seeds = root.join(format!("fuzz/seeds/{target}"));
            assert!(
                fs::read_dir(&seeds).is_ok_and(|mut d| d.next().is_some()),
                "{}",
                seeds.display()
            );
        }
    }
}
