//! The `evalboard runs` subcommands.

use std::io::Write;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::{
    Client,
    follow::{self, RunWarnings},
};
use crate::output::StandardOutput;

/// What `evalboard runs` does.
#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// Start a run; with `--follow`, watch it to the end (exit status 1 unless it completes;
    /// 2, for every command, when the server refuses or cannot be reached).
    Create {
        /// The provider, as `GET /providers` lists it.
        #[arg(long)]
        provider: String,
        /// The dataset's name.
        #[arg(long)]
        dataset: String,
        /// The dataset's version to evaluate (a run's "dataset … version N"); its newest when
        /// left out.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        dataset_version: Option<u32>,
        /// The model.
        #[arg(long)]
        model: String,
        /// Settings as JSON, as `POST /runs` takes them (`{"concurrency": 8, "shots": 5}`).
        #[arg(long)]
        settings: Option<String>,
        /// Watch the run with a live progress bar until it ends.
        #[arg(long)]
        follow: bool,
        /// Print the run as JSON (at the end, with `--follow`).
        #[arg(long)]
        json: bool,
    },
    /// The newest runs, newest first (or in the order `--sort` names).
    List {
        /// How many, 1 to 100.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only runs in these states (`running,failed`).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this provider (its whole name).
        #[arg(long)]
        provider: Option<String>,
        /// Only runs of this model (its whole name).
        #[arg(long)]
        model: Option<String>,
        /// Only runs of this dataset (its whole name).
        #[arg(long)]
        dataset: Option<String>,
        /// Only runs whose provider's, model's or dataset's name contains this text, ignoring
        /// case (`claude` finds `claude-sonnet-4`).
        #[arg(long)]
        search: Option<String>,
        /// Only runs created at or after this time: RFC 3339 (`2026-11-29T09:30:00+01:00`), or
        /// a date (`2026-11-29`: its start, in UTC).
        #[arg(long, value_name = "TIME")]
        created_from: Option<String>,
        /// Only runs created before this time (as `--created-from`).
        #[arg(long, value_name = "TIME")]
        created_before: Option<String>,
        /// The order: the newest first (the default), the oldest first, or by accuracy over
        /// the judged items, the highest or the lowest first (runs with nothing judged last).
        #[arg(long, value_enum)]
        sort: Option<RunSort>,
        /// The next page: the cursor the previous page ended with.
        #[arg(long)]
        cursor: Option<String>,
        /// Print the page as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One run, with its progress, accuracy and usage.
    Show {
        /// The run's id.
        id: String,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Watch a run until it ends (exit status 1 unless it completes).
    Follow {
        /// The run's id.
        id: String,
        /// Print the run as JSON at the end.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a pending or running run.
    Cancel {
        /// The run's id.
        id: String,
        /// Print the run as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retry a finished run's failed and canceled items (`--all`: every item).
    Retry {
        /// The run's id.
        id: String,
        /// Every item, not only the faulted ones.
        #[arg(long)]
        all: bool,
        /// Retry even though the run's configuration changed since it was made.
        #[arg(long)]
        force: bool,
        /// Watch the run with a live progress bar until it ends again (exit status as for
        /// `create --follow`).
        #[arg(long)]
        follow: bool,
        /// Print the run as JSON (at the end, with `--follow`).
        #[arg(long)]
        json: bool,
    },
    /// Judge a finished run's kept answers again, without asking the model again: by the
    /// extraction rules, or by an LLM judge (`--judge-provider` and `--judge-model`).
    Rejudge {
        /// The run's id.
        id: String,
        /// The LLM judge's provider, as `GET /providers` lists it.
        #[arg(long, requires = "judge_model", value_name = "PROVIDER")]
        judge_provider: Option<String>,
        /// The LLM judge's model.
        #[arg(long, requires = "judge_provider", value_name = "MODEL")]
        judge_model: Option<String>,
        /// Watch the run with a live progress bar until it ends again (exit status as for
        /// `create --follow`).
        #[arg(long)]
        follow: bool,
        /// Print the run as JSON (at the end, with `--follow`).
        #[arg(long)]
        json: bool,
    },
    /// Write a run's items to standard output, as the archive's export gives them.
    Export {
        /// The run's id.
        id: String,
        /// `jsonl` (every field) or `csv` (a row per item).
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Only items in these states (`correct,incorrect`).
        #[arg(long)]
        state: Option<String>,
        /// Only items of these categories (`law,math`).
        #[arg(long)]
        category: Option<String>,
    },
}

/// Orders of `evalboard runs list`, each one of `GET /runs`'s `sort`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RunSort {
    Newest,
    Oldest,
    MostAccurate,
    LeastAccurate,
}

impl RunSort {
    /// Its `sort` parameter.
    fn parameter(self) -> &'static str {
        match self {
            Self::Newest => "-createdAt",
            Self::Oldest => "createdAt",
            Self::MostAccurate => "-accuracy",
            Self::LeastAccurate => "accuracy",
        }
    }

    /// Its value of `--sort`.
    fn option(self) -> String {
        self.to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// Formats of `evalboard runs export`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    Jsonl,
    Csv,
}

/// Runs `command` against the server at `server`; the process's exit status.
pub(crate) fn run(server: &str, command: RunsCommand) -> anyhow::Result<std::process::ExitCode> {
    let client = Client::new(server)?;
    let mut out = StandardOutput(std::io::stdout().lock());
    match command {
        RunsCommand::Create {
            provider,
            dataset,
            dataset_version,
            model,
            settings,
            follow: watch,
            json,
        } => {
            let mut body =
                json!({"providerName": provider, "datasetName": dataset, "modelName": model});
            if let Some(version) = dataset_version {
                body["datasetVersion"] = json!(version);
            }
            if let Some(settings) = settings {
                body["settings"] = serde_json::from_str(&settings)
                    .context("--settings is not JSON (e.g. '{\"concurrency\": 8}')")?;
            }
            let created = client.post_json("/runs", Some(&body))?;
            if watch {
                let id = created["run"]["id"].as_str().unwrap_or_default().to_owned();
                // Said at once: a follow stopped with Ctrl-C leaves a run going on the server,
                // and its id is what `follow` and `cancel` need.
                say!("created {id}; following it (Ctrl-C stops following, not the run)");
                return follow::follow(&client, &id, json, &mut out, RunWarnings::new());
            }
            print_run(&mut out, &created, json)?;
        }
        RunsCommand::List {
            limit,
            status,
            provider,
            model,
            dataset,
            search,
            created_from,
            created_before,
            sort,
            cursor,
            json,
        } => {
            // Each filter: its option, `GET /runs`'s parameter, its value.
            let filters: Vec<(&str, &str, String)> = [
                ("status", "status", status),
                ("provider", "providerName", provider),
                ("model", "modelName", model),
                ("dataset", "datasetName", dataset),
                ("search", "search", search),
                ("created-from", "createdFrom", created_from),
                ("created-before", "createdBefore", created_before),
            ]
            .into_iter()
            .filter_map(|(option, parameter, value)| value.map(|value| (option, parameter, value)))
            .collect();
            let mut query = vec![("limit", limit.to_string())];
            query.extend(
                filters
                    .iter()
                    .map(|(_, parameter, value)| (*parameter, value.clone())),
            );
            query.extend(sort.map(|sort| ("sort", sort.parameter().to_owned())));
            let cursor_given = cursor.is_some();
            query.extend(cursor.map(|cursor| ("cursor", cursor)));
            let page = client.get_json_with("/runs", &query)?;
            if json {
                writeln!(out, "{page}")?;
            } else {
                let runs = page["runs"].as_array().map_or(&[][..], Vec::as_slice);
                for run in runs {
                    writeln!(out, "{}", one_line(run))?;
                }
                // Nothing printed would read as a command that failed silently (the dashboard
                // says "No run matches"): said on standard error, so a script's output stays
                // empty.
                if runs.is_empty() {
                    say!("{}", nothing_listed(&filters, cursor_given));
                }
                if let Some(next) = page["nextCursor"].as_str() {
                    // The next page's command, to copy: a cursor continues the listing it came
                    // from, so its filter, order and page size come again, and its server.
                    let filter: String = as_options(&filters)
                        .into_iter()
                        .chain(sort.map(|sort| format!("--sort {}", sort.option())))
                        .map(|option| option + " ")
                        .collect();
                    say!(
                        "more: {}",
                        client.command(&format!("list --limit {limit} {filter}--cursor {next}"))
                    );
                }
            }
        }
        RunsCommand::Show { id, json } => {
            let run = client.get_json(&format!("/runs/{id}"))?;
            print_run(&mut out, &run, json)?;
        }
        RunsCommand::Follow { id, json } => {
            return follow::follow(&client, &id, json, &mut out, RunWarnings::new());
        }
        RunsCommand::Cancel { id, json } => {
            let run = client.post_json(&format!("/runs/{id}/cancel"), None)?;
            print_run(&mut out, &run, json)?;
        }
        RunsCommand::Retry {
            id,
            all,
            force,
            follow: watch,
            json,
        } => {
            let body = json!({"scope": if all { "all" } else { "faulted" }, "force": force});
            let reopening = Reopening {
                action: "retry",
                body,
                doing: "retrying",
                going_on: "the run",
                undoable: false,
            };
            return reopen(&client, &id, reopening, watch, json, &mut out);
        }
        RunsCommand::Rejudge {
            id,
            judge_provider,
            judge_model,
            follow: watch,
            json,
        } => {
            let judge = match judge_provider.zip(judge_model) {
                Some((provider, model)) => {
                    json!({"kind": "llm", "providerName": provider, "modelName": model})
                }
                None => json!({"kind": "choice"}),
            };
            let reopening = Reopening {
                action: "rejudge",
                body: json!({"judge": judge}),
                doing: "re-judging",
                going_on: "the re-judging",
                undoable: true,
            };
            return reopen(&client, &id, reopening, watch, json, &mut out);
        }
        RunsCommand::Export {
            id,
            format,
            state,
            category,
        } => {
            let format = match format {
                ExportFormat::Jsonl => "jsonl",
                ExportFormat::Csv => "csv",
            };
            let mut query = vec![("format", format.to_owned())];
            query.extend(state.map(|state| ("state", state)));
            query.extend(category.map(|category| ("category", category)));
            let response = client.get_with(&format!("/runs/{id}/export"), &query)?;
            return copy_export(response, &mut out);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Copies an export to `out` (a failure to write is told from the server's by its mark).
fn copy_export(
    mut response: reqwest::blocking::Response,
    out: &mut impl Write,
) -> anyhow::Result<std::process::ExitCode> {
    use std::io::Read;
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = response
            .read(&mut buffer)
            .context("reading the export from the server")?;
        if read == 0 {
            break;
        }
        out.write_all(&buffer[..read])?;
    }
    out.flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// A run as JSON, or as a few lines for people.
pub(super) fn print_run(out: &mut impl Write, run: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{run}")?;
        return Ok(());
    }
    let progress = &run["progress"];
    writeln!(out, "{}", one_line(run))?;
    // `canceled` is in a run's detail only (the board's snapshot has the contract's shape).
    let canceled = match run["canceled"].as_u64() {
        Some(n) if n > 0 => format!(" ({n} canceled)"),
        _ => String::new(),
    };
    writeln!(
        out,
        "  correct {} · incorrect {} · faulted {}{canceled} · awaiting {} · pending {}",
        progress["correct"],
        progress["incorrect"],
        progress["faulted"],
        progress["awaiting"],
        progress["pending"]
    )?;
    // A run's detail (`GET /runs/{id}`) says more than the board's snapshot.
    if let Some(dataset) = run["dataset"].as_object() {
        let digest = dataset["digest"].as_str().unwrap_or_default();
        // Answers cut off are said only when there are some (a server before 2026-12-06 does
        // not count them).
        let cut_off = match run["answersCutOff"].as_u64() {
            Some(n) if n > 0 => format!(" · cut off {n} (see each item's cutOff)"),
            _ => String::new(),
        };
        // Verdicts an LLM judge did not give qualify every figure of the run: said beside it,
        // and so are re-judgings (the run's `finished` is its last re-judging's end).
        // A re-judging undone leaves an earlier judging in force: said, as the judge is.
        let rejudged = match (run["rejudgeCount"].as_u64(), run["judgingRound"].as_u64()) {
            (Some(n), Some(round)) if n > round => {
                format!(" (re-judged {n}×; round {round} in force, the latest undone)")
            }
            (Some(n), _) if n > 0 => format!(" (re-judged {n}×)"),
            _ => String::new(),
        };
        let fallbacks = match run["judgeFallbacks"].as_u64() {
            Some(n) if n > 0 => format!(" ({n} verdict(s) by the extraction rules: it gave none)"),
            _ => String::new(),
        };
        writeln!(
            out,
            "  dataset {} v{} ({}…) · judge {}{rejudged}{fallbacks} · unparsed {}{cut_off}",
            dataset["name"].as_str().unwrap_or_default(),
            dataset["version"],
            &digest[..digest.len().min(19)],
            match run["judge"].as_str() {
                Some("choice") | None => "extraction rules",
                Some(judge) => judge,
            },
            run["unparsed"],
        )?;
    }
    let usage = &run["usage"];
    // (Indexed as a `Value`, which reads a missing field as null, where a `Map` would panic.)
    if usage.is_object() {
        let cost = usage["costUsd"]
            .as_f64()
            .map_or("–".to_owned(), |usd| format!("${usd:.4}"));
        let latency = &run["latency"];
        let seconds = |field: &str| {
            latency[field]
                .as_f64()
                .map_or("–".to_owned(), |ms| format!("{:.2} s", ms / 1000.0))
        };
        // Nothing counted over answered items: the answers came without counts (a Browser
        // Harness capture, a provider that reports no usage), which is not zero tokens.
        let answered: u64 = ["correct", "incorrect", "awaiting"]
            .iter()
            .filter_map(|field| progress[field].as_u64())
            .sum();
        let count = |field: &str| usage[field].as_u64().unwrap_or(0);
        let (cached, without) = (count("cachedAnswers"), count("answersWithoutUsage"));
        let mut tokens = if count("totalTokens") == 0 && (without > 0 || answered > cached) {
            "tokens not reported".to_owned()
        } else {
            let mut tokens = format!(
                "tokens {} in · {} out",
                usage["promptTokens"], usage["completionTokens"]
            );
            // Some answers came without counts: the figures are a part of what was used.
            if without > 0 {
                tokens.push_str(&format!(
                    " (not counting {without} answer(s) reported without token counts)"
                ));
            }
            tokens
        };
        // Not sent, not paid: a wholly cached run's 0 tokens were not "not reported".
        if cached > 0 {
            tokens.push_str(&format!(" · {cached} answer(s) from the cache"));
        }
        writeln!(
            out,
            "  {tokens} · cost {cost} · latency p50 {} · p95 {}",
            seconds("totalP50Ms"),
            seconds("totalP95Ms"),
        )?;
        if let Some(judge) = usage["judge"].as_object() {
            let cost = judge["costUsd"]
                .as_f64()
                .map_or("–".to_owned(), |usd| format!("${usd:.4}"));
            writeln!(
                out,
                "  judge's own tokens {} in · {} out · cost {cost}",
                judge["promptTokens"], judge["completionTokens"],
            )?;
        }
        let at = |field: &str| run[field].as_str().unwrap_or("–").to_owned();
        writeln!(
            out,
            "  created {} · started {} · finished {} · run retries {} · resumes {}",
            at("createdAt"),
            at("startedAt"),
            at("finishedAt"),
            run["retryCount"],
            run["lifecycle"]["resumedCount"],
        )?;
    }
    if let Some(failure) = run["failure"].as_object() {
        let text = evalboard_domain::failure_text(
            failure["kind"].as_str().unwrap_or_default(),
            failure["message"].as_str().unwrap_or_default(),
        );
        writeln!(out, "  failure: {text}")?;
    }
    Ok(())
}

/// `runs list`'s filters (each option, its parameter and value) as they are typed:
/// `--status running`, `--provider 'my server'`.
fn as_options(filters: &[(&str, &str, String)]) -> Vec<String> {
    filters
        .iter()
        .map(|(option, _, value)| format!("--{option} {}", shell_word(value)))
        .collect()
}

/// What `runs list` says when it lists nothing: no run at all, none past a cursor, or none that
/// its filters match (`filters`: each option, its parameter and value), with the hint that
/// names are matched whole when a name was among them.
fn nothing_listed(filters: &[(&str, &str, String)], cursor_given: bool) -> String {
    if cursor_given {
        return "no more runs".to_owned();
    }
    if filters.is_empty() {
        return "no runs yet".to_owned();
    }
    let given = as_options(filters);
    let names = filters
        .iter()
        .any(|(option, ..)| matches!(*option, "provider" | "model" | "dataset"));
    format!(
        "no run matches {}{}",
        given.join(" "),
        if names {
            " (names match whole, as they are spelt)"
        } else {
            ""
        }
    )
}

/// `id  status  created  provider/model on dataset  done/total  accuracy`: the accuracy of
/// the judged items, as the archive's CSV (failed and canceled ones left out; the comparison
/// counts them wrong), and over how many when that is not every item — a run of 36 items with
/// one answered read "36/36 accuracy 100.0 %" as if it were whole.
fn one_line(run: &Value) -> String {
    let progress = &run["progress"];
    let count = |field: &str| progress[field].as_u64().unwrap_or(0);
    let judged = count("correct") + count("incorrect");
    let accuracy = match judged {
        0 => "–".to_owned(),
        n if n == count("total") => {
            format!("{:.1} %", 100.0 * count("correct") as f64 / n as f64)
        }
        n => format!(
            "{:.1} % of {n} judged",
            100.0 * count("correct") as f64 / n as f64
        ),
    };
    // Faulted items are failed or canceled ones: a canceled run's thousands of never-sent
    // items read as failures when only "faulted" was said.
    let canceled = run["canceled"].as_u64().unwrap_or(0).min(count("faulted"));
    let failed = count("faulted") - canceled;
    let faulted: Vec<String> = [(failed, "failed"), (canceled, "canceled")]
        .into_iter()
        .filter(|&(n, _)| n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    let faulted = match faulted.as_slice() {
        [] => String::new(),
        parts => format!(" ({})", parts.join(", ")),
    };
    let head = &run["run"];
    // To the minute, in UTC as the server gives it (and said so): which of a day's runs this is.
    let created = run["createdAt"]
        .as_str()
        .map(|at| {
            at.get(..16)
                .map_or_else(|| at.to_owned(), |minute| format!("{minute}Z"))
        })
        .unwrap_or_else(|| "–".to_owned());
    format!(
        "{}  {:<9}  {created}  {}/{} on {}  {}/{}{faulted}  accuracy {accuracy}",
        head["id"].as_str().unwrap_or_default(),
        head["status"].as_str().unwrap_or_default(),
        head["providerName"].as_str().unwrap_or_default(),
        head["modelName"].as_str().unwrap_or_default(),
        head["datasetName"].as_str().unwrap_or_default(),
        progress["completed"],
        progress["total"],
    )
}

/// A retry or a re-judging: what is posted to the run (`POST /runs/{id}/<action>`), and how it
/// is named when it is followed.
struct Reopening {
    action: &'static str,
    body: Value,
    /// "retrying", say.
    doing: &'static str,
    /// What goes on on the server when the follow is stopped.
    going_on: &'static str,
    /// Whether it may end undone (a re-judging canceled, stopped or failed puts the run back
    /// as it was): the run then ends as it was before, and the follow says it did not finish.
    undoable: bool,
}

/// Reopens run `id` as `reopening` says, then follows it to its end again, saying only the
/// warnings logged from then on (not those that made it retried), or prints it.
fn reopen(
    client: &Client,
    id: &str,
    reopening: Reopening,
    watch: bool,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<std::process::ExitCode> {
    // Where the log stands before the run is reopened: what it logs from there is this time's.
    let warnings = if watch {
        RunWarnings::from_now(client, id)
    } else {
        RunWarnings::new()
    };
    let run = client.post_json(
        &format!("/runs/{id}/{}", reopening.action),
        Some(&reopening.body),
    )?;
    if watch {
        say!(
            "{} {id}; following it (Ctrl-C stops following, not {})",
            reopening.doing,
            reopening.going_on
        );
        let ended = follow::follow(client, id, json, out, warnings)?;
        if reopening.undoable {
            // Undone, the run ends as it was before: the judging in force is an earlier one.
            let asked = run["rejudgeCount"].as_u64();
            let now = client.get_json(&format!("/runs/{id}"))?;
            if now["judgingRound"].as_u64() < asked {
                say!(
                    "the {} did not finish (canceled or failed: the log says which); \
                     the run is back to the verdicts it had",
                    reopening.going_on.trim_start_matches("the ")
                );
                return Ok(std::process::ExitCode::from(1));
            }
        }
        return Ok(ended);
    }
    print_run(out, &run, json)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// `value` as one word of a shell command: quoted when it holds anything but plain characters.
fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/@+=".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_listing_says_why() {
        let filter = |option: &'static str, value: &str| (option, "", value.to_owned());
        assert_eq!(nothing_listed(&[], false), "no runs yet");
        assert_eq!(nothing_listed(&[], true), "no more runs");
        assert_eq!(
            nothing_listed(&[filter("status", "canceled")], false),
            "no run matches --status canceled"
        );
        assert_eq!(
            nothing_listed(
                &[filter("status", "running"), filter("provider", "my server")],
                false
            ),
            "no run matches --status running --provider 'my server' (names match whole, as \
             they are spelt)"
        );
    }

    fn shown(run: &Value) -> String {
        let mut out = Vec::new();
        print_run(&mut out, run, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn run_with(answered: u64, prompt_tokens: u64, completion_tokens: u64) -> Value {
        json!({
            "run": {"id": "run-1", "status": "completed", "providerName": "P", "modelName": "m",
                    "datasetName": "d"},
            "progress": {"total": answered, "completed": answered, "correct": answered,
                         "incorrect": 0, "awaiting": 0, "faulted": 0},
            "usage": {"promptTokens": prompt_tokens, "completionTokens": completion_tokens,
                      "totalTokens": prompt_tokens + completion_tokens, "costUsd": null},
            "latency": {},
        })
    }

    #[test]
    fn answers_without_counts_are_not_zero_tokens() {
        // A Browser Harness run: answered items, no counts.
        let text = shown(&run_with(8, 0, 0));
        assert!(text.contains("  tokens not reported · cost –"), "{text}");
        let text = shown(&run_with(8, 120, 40));
        assert!(text.contains("  tokens 120 in · 40 out · cost –"), "{text}");
        // Nothing answered yet: nothing spent.
        let text = shown(&run_with(0, 0, 0));
        assert!(text.contains("  tokens 0 in · 0 out"), "{text}");
        // Some answers without counts: the totals are said to leave them out.
        let mut partly = run_with(8, 120, 40);
        partly["usage"]["answersWithoutUsage"] = json!(3);
        let text = shown(&partly);
        assert!(
            text.contains(
                "  tokens 120 in · 40 out (not counting 3 answer(s) reported without token counts) · cost –"
            ),
            "{text}"
        );
        // Every answer from the cache: nothing spent, and said why.
        let mut cached = run_with(8, 0, 0);
        cached["usage"]["cachedAnswers"] = json!(8);
        let text = shown(&cached);
        assert!(
            text.contains("  tokens 0 in · 0 out · 8 answer(s) from the cache · cost –"),
            "{text}"
        );
    }

    #[test]
    fn the_accuracy_says_how_many_items_it_is_of() {
        let mut run = run_with(8, 0, 0);
        run["createdAt"] = json!("2026-12-05T22:41:05Z");
        run["progress"]["incorrect"] = json!(2);
        run["progress"]["faulted"] = json!(10);
        run["progress"]["total"] = json!(20);
        run["progress"]["completed"] = json!(20);
        // 8 of 10 judged: the 10 faulted items are not in it, and the line says so.
        assert_eq!(
            one_line(&run),
            "run-1  completed  2026-12-05T22:41Z  P/m on d  20/20 (10 failed)  accuracy 80.0 % of 10 judged"
        );
        // Of them, the canceled ones are told from failures.
        run["canceled"] = json!(7);
        assert!(
            one_line(&run).contains("  20/20 (3 failed, 7 canceled)  "),
            "{}",
            one_line(&run)
        );
        run["canceled"] = json!(10);
        assert!(
            one_line(&run).contains("  20/20 (10 canceled)  "),
            "{}",
            one_line(&run)
        );
        // Every item judged: the accuracy is the run's.
        let whole = run_with(8, 0, 0);
        assert!(
            one_line(&whole).ends_with("  8/8  accuracy 100.0 %"),
            "{}",
            one_line(&whole)
        );
        assert!(shown(&run_with(0, 0, 0)).contains("accuracy –"));
    }

    #[test]
    fn re_judgings_and_verdicts_the_llm_judge_did_not_give_are_said_beside_it() {
        let mut run = run_with(8, 0, 0);
        run["dataset"] = json!({"name": "d", "version": 1, "digest": "sha256:0123456789abcdef"});
        run["judge"] = json!("llm:J/m");
        run["unparsed"] = json!(0);
        run["judgeFallbacks"] = json!(0);
        let text = shown(&run);
        assert!(text.contains(" · judge llm:J/m · unparsed 0"), "{text}");
        run["judgeFallbacks"] = json!(3);
        run["rejudgeCount"] = json!(2);
        let text = shown(&run);
        assert!(
            text.contains(
                " · judge llm:J/m (re-judged 2×) (3 verdict(s) by the extraction rules: it gave none) · unparsed 0"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_filter_value_is_one_shell_word() {
        assert_eq!(shell_word("sim-1"), "sim-1");
        assert_eq!(shell_word("Browser Harness"), "'Browser Harness'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
