//! The evalboard server binary: reads the configuration, opens and migrates the database, and
//! serves the API until SIGTERM or Ctrl-C. Also `evalboard migrate`, `evalboard dataset import`,
//! `evalboard keygen`, `evalboard token create`, and `evalboard runs …`, a client of a running server.

/// `eprintln!` that never panics: a script that filled or broke standard error (`2>/dev/full`,
/// `2>&1 >out | head -1`) still gets the command's output and exit status, as with standard
/// output (`output.rs`). What could not be said is lost; there is nowhere else to say it.
macro_rules! say {
    ($($line:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($line)*);
    }};
}

mod client;
mod config;
mod demo;
mod import;
mod listen;
mod output;

use std::{io::IsTerminal, path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum, parser::ValueSource};
use evalboard_api::{Access, AppState, EventHub, HarnessKeys};
use evalboard_domain::import::ImportFormat;
use evalboard_persistence::{Database, DatabaseUrl};
use evalboard_runner::{
    EngineHandle, EngineStopper, ProviderRegistry,
    providers::{ClientSet, api_key_from_env},
};

use crate::config::{Config, Overrides};

/// The help heading of the options every command but `runs` (and `token`, but for --config)
/// takes: global, so that they may come before or after `serve`, `migrate`, `dataset import`.
const SERVER_OPTIONS: &str = "Server options";

/// evalboard: run LLM evaluations and watch them live.
#[derive(Debug, Parser)]
// Named as the binary a user types (the package is `evalboard-server`).
#[command(name = "evalboard", version, about)]
struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults (refused by `runs`).
    #[arg(long, global = true, env = "EVALBOARD_CONFIG", help_heading = SERVER_OPTIONS)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080] (refused by `runs`, which takes
    /// --server, and `token`).
    #[arg(long, global = true, help_heading = SERVER_OPTIONS)]
    bind: Option<String>,
    /// Directory for evalboard's files [default: ./data] (refused by `runs` and `token`).
    #[arg(long, global = true, help_heading = SERVER_OPTIONS)]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://..., sqlite://PATH or a file path [default:
    /// <data-dir>/evalboard.db] (refused by `runs` and `token`).
    #[arg(long, global = true, help_heading = SERVER_OPTIONS)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage datasets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Write a new Browser Harness signing key (PKCS#8 PEM, mode 0600) and print its key id.
    /// An existing file is never overwritten.
    Keygen {
        /// Where to write it [default: harness.signing_key_file, else
        /// <data-dir>/harness-signing-key.pem].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Manage the tokens API clients and dashboard users sign in with.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Start, watch, list, cancel, retry and export runs on a running server (over HTTP; the
    /// token, if the server asks for one, from EVALBOARD_TOKEN).
    Runs {
        /// The server's URL (before or after the command: `runs list --server URL`).
        #[arg(long, global = true, env = "EVALBOARD_SERVER", default_value = client::DEFAULT_SERVER, value_parser = client::server_url)]
        server: String,
        #[command(subcommand)]
        command: client::RunsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new token (once: only its SHA-256 digest is kept) and the `[[auth.tokens]]` entry
    /// that lets it in.
    Create {
        /// What logs and run logs call whoever uses it (`ci`, `alice`).
        #[arg(long)]
        name: String,
        /// `viewer` (reads and streams), `operator` (+ runs, packs, imports) or `admin`
        /// (+ dataset uploads).
        #[arg(long)]
        role: evalboard_api::Role,
    },
}

#[derive(Debug, Subcommand)]
enum DatasetCommand {
    /// Import a dataset file: JSON Lines (MMLU-Pro or numeric records such as GSM8K's), CSV or
    /// Parquet (MMLU-Pro as published), optionally .gz.
    Import {
        /// The file to import.
        file: PathBuf,
        /// Name to store it under.
        #[arg(long)]
        name: String,
        /// File format; guessed from the extension when absent.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Jsonl,
    Csv,
    Parquet,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => failed(&error, std::process::ExitCode::FAILURE),
    }
}

/// Says why a command failed and how it ends: a reader of standard output that went away
/// (`| head`) ends it quietly and successfully (what it did is done, and nobody is left to
/// tell), a standard output that cannot be written (a full disk) with status 1, anything else
/// with `otherwise`.
fn failed(error: &anyhow::Error, otherwise: std::process::ExitCode) -> std::process::ExitCode {
    let code = match output::output_failure(error) {
        Some(output::OutputFailure::Closed) => return std::process::ExitCode::SUCCESS,
        Some(output::OutputFailure::Failed) => std::process::ExitCode::FAILURE,
        None => otherwise,
    };
    // For a person: the reason and its causes on one line, never a backtrace (which anyhow
    // prints with `RUST_BACKTRACE` set, as it often is where Rust is built); a driver's or
    // parser's message spanning lines is put on it too.
    let said = format!("{error:#}");
    say!(
        "error: {}",
        said.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    code
}

fn run() -> anyhow::Result<std::process::ExitCode> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    if let Some(Command::Runs { server, command }) = cli.command {
        // The server's own options mean nothing to a client: said, rather than ignored (a
        // `--bind` meant as the server to talk to would silently go to the default one).
        if let Some(option) =
            server_option_given(&matches, &["config", "bind", "data_dir", "database_url"])
        {
            say!(
                "error: --{option} is an option of the server; `evalboard runs` talks to a \
                 running server given by --server URL"
            );
            return Ok(std::process::ExitCode::from(2));
        }
        // A client of another server: no configuration, database or logging of its own.
        return Ok(match client::run(&server, command) {
            Ok(code) => code,
            // Status 3: the server could not be reached or could not answer now (asking again
            // later may pass); 2: it refused the request (asking again will not).
            Err(error) if client::is_transient(&error) => {
                failed(&error, std::process::ExitCode::from(3))
            }
            Err(error) => failed(&error, std::process::ExitCode::from(2)),
        });
    }
    let serving = matches!(cli.command, None | Some(Command::Serve));
    check_log_filter()?;
    let logging = init_logging(serving);
    if let Some(Command::Token(TokenCommand::Create { name, role })) = &cli.command {
        // A token needs no database; a configuration given is read for the names it holds.
        if let Some(option) = server_option_given(&matches, &["bind", "data_dir", "database_url"]) {
            // Status 2, a usage error, as `runs` says it.
            say!(
                "error: --{option} is an option of the server; `evalboard token create` needs \
                 none (--config only, to check the name against the tokens configured)"
            );
            return Ok(std::process::ExitCode::from(2));
        }
        let configured = match &cli.config {
            Some(path) => Config::load(Some(path), &Overrides::default())?.auth.tokens,
            None => Vec::new(),
        };
        return create_token(name, *role, &configured).map(|()| std::process::ExitCode::SUCCESS);
    }
    let overrides = Overrides {
        bind: cli.bind,
        data_dir: cli.data_dir,
        database_url: cli.database_url,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    if let Some(Command::Keygen { out }) = cli.command {
        // A key needs no database.
        return keygen(&out.unwrap_or_else(|| config.default_key_file()))
            .map(|()| std::process::ExitCode::SUCCESS);
    }
    let command = cli.command.unwrap_or(Command::Serve);
    // A database URL that cannot be read is said before anything is made (the data directory's
    // lock, a signing key), as the rest of the configuration is.
    DatabaseUrl::parse(&config.database_url()).context("cannot open the database")?;
    // A server holds its data directory before it migrates anything.
    let lock = matches!(command, Command::Serve)
        .then(|| config.lock_data_dir())
        .transpose()?;
    // What a server is checked for before it touches the database: a configuration it would
    // refuse must not migrate a database other replicas share first.
    let checked = matches!(command, Command::Serve)
        .then(|| serving_checks(&config))
        .transpose()?;
    if matches!(command, Command::Dataset(_)) {
        refuse_a_new_sqlite_file(&config)?;
    }
    let db = open_database(&config)?;
    let done = match command {
        Command::Serve => {
            let checked = checked.expect("checked for a server");
            serve(config, db, checked, lock, &logging)
        }
        Command::Migrate => Ok(()),
        Command::Dataset(DatasetCommand::Import { file, name, format }) => {
            let format = format.map(|f| match f {
                FormatArg::Jsonl => ImportFormat::Jsonl,
                FormatArg::Csv => ImportFormat::Csv,
                FormatArg::Parquet => ImportFormat::Parquet,
            });
            import::import_file(&db, &file, &name, format)
        }
        Command::Keygen { .. } | Command::Token(_) | Command::Runs { .. } => {
            unreachable!("handled before the database is opened")
        }
    };
    done.map(|()| std::process::ExitCode::SUCCESS)
}

/// `evalboard keygen`: the key id on stdout, what to do with it on stderr.
fn keygen(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let signer = evalboard_harness::PackSigner::create(path).with_context(|| {
        format!(
            "not writing a key to {} (an existing key file is never overwritten)",
            path.display()
        )
    })?;
    // The key exists whatever happens to standard output: what to do with it is said anyway,
    // with its id when standard output could not show it.
    let shown = output::print_line(signer.id());
    let id = match &shown {
        Ok(()) => "its key id is above".to_owned(),
        Err(_) => format!("its key id is {}", signer.id()),
    };
    // The previous key's public key is what the rotation needs, and a server signing with the
    // new key no longer serves it: said to be copied first.
    say!(
        "wrote {} (mode 0600); {id}; its public key is {}. To rotate to it: first copy the \
         current key's publicKey (GET /browser-harness/keys, or the server's start-up line \
         \"Browser Harness packs are signed with this key\") into [harness] \
         retired_public_keys, so that its packs still import; then point signing_key_file at \
         the new file and restart.",
        path.display(),
        signer.public_key_base64()
    );
    Ok(shown?)
}

/// Which of the server's `options` (argument ids) the command line gave, as written there.
fn server_option_given(matches: &clap::ArgMatches, options: &[&str]) -> Option<String> {
    options
        .iter()
        .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(|id| id.replace('_', "-"))
}

/// `evalboard token create`: the token on stdout, its configuration entry on stderr. A name
/// the configuration gives a token of another role is refused (the server would refuse to
/// start); the same role is a rotation, and said so.
fn create_token(
    name: &str,
    role: evalboard_api::Role,
    configured: &[config::TokenEntry],
) -> anyhow::Result<()> {
    config::check_token_name(name)?;
    let rotation = match configured.iter().find(|entry| entry.name == name) {
        Some(entry) if entry.role != role.as_str() => anyhow::bail!(
            "the configuration has a token named `{name}` with the role {}: a name stands for \
             one role; choose another name",
            entry.role
        ),
        Some(_) => true,
        None => false,
    };
    let (secret, token) = evalboard_api::AccessToken::generate(name, role);
    // Not a quiet success when nobody read it (`| true`): nothing else keeps the secret.
    output::print_line(&secret).map_err(|error| {
        anyhow::anyhow!("{error}: the token was not shown and nothing keeps it; create another")
    })?;
    // All of it a TOML fragment: the prose as comments, so that what a script appends to the
    // configuration after a success (`2> entry.toml && cat entry.toml >> evalboard.toml`) still
    // reads. (A failure's error goes to stderr as well: appended, it broke the configuration.)
    if rotation {
        say!(
            "# The configuration has a token named `{name}` already: both are accepted until\n\
             # you remove the old entry (and restart), which also ends the dashboard sessions\n\
             # made with it."
        );
    }
    say!(
        "# The token above is shown once; evalboard keeps only its digest. Give it to its\n\
         # holder, and add this entry to the configuration (then restart):\n\
         [[auth.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"",
        token.digest.to_hex()
    );
    Ok(())
}

/// The server's log writer thread, kept for as long as the process logs (`None` for one-shot
/// commands, which write directly).
struct Logging(Option<Background>);

struct Background {
    /// Writes out what is waiting when dropped.
    flush: tracing_appender::non_blocking::WorkerGuard,
    /// Lines dropped because their reader fell behind.
    dropped: tracing_appender::non_blocking::ErrorCounter,
}

/// Refuses a log filter whose bare word is another system's level name: `EVALBOARD_LOG=warning`
/// is valid filter syntax (every event of a target named `warning`) and turned every line off,
/// the server's warnings with them. (A bare target, `hyper`, is left as the filter means it.)
fn check_log_filter() -> anyhow::Result<()> {
    const NOT_LEVELS: [&str; 12] = [
        "warning",
        "verbose",
        "information",
        "notice",
        "critical",
        "fatal",
        "err",
        "dbg",
        "all",
        "none",
        "quiet",
        "silent",
    ];
    for variable in ["EVALBOARD_LOG", "RUST_LOG"] {
        let Ok(filter) = std::env::var(variable) else {
            continue;
        };
        for directive in filter.split(',').map(str::trim) {
            anyhow::ensure!(
                !NOT_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(directive)),
                "{variable}: `{directive}` is not a level (trace, debug, info, warn, error, off) \
                 nor a `target=level` directive"
            );
        }
        // The first variable set is the one read.
        return Ok(());
    }
    Ok(())
}

/// Logs go to stdout. The server's go through a thread of their own: whoever reads them (a
/// terminal, a log shipper) may stop reading, and that must not stop every thread that logs —
/// the engine and the request handlers with them. Past 128,000 lines waiting, lines are dropped
/// instead, and counted in `evalboard_log_lines_dropped_total`. One-shot commands write
/// directly, so that their log lines and their printed output keep their order.
fn init_logging(serving: bool) -> Logging {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVALBOARD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if !serving {
        logs.init();
        return Logging(None);
    }
    let (writer, flush) = tracing_appender::non_blocking(std::io::stdout());
    let dropped = writer.error_counter();
    logs.with_writer(writer).init();
    Logging(Some(Background { flush, dropped }))
}

impl Drop for Logging {
    /// Writes out what is waiting, for at most two seconds: the guard's own drop can block on
    /// a stdout nobody reads (it prints there when its queue is full), and exiting must not.
    fn drop(&mut self) {
        if let Some(Background { flush, .. }) = self.0.take() {
            let (flushed, waited) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                drop(flush);
                let _ = flushed.send(());
            });
            let _ = waited.recv_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// `dataset import` adds to a server's database. Run from another directory (or with a data
/// directory or database URL mistyped) it would make a new, empty SQLite file, import into it
/// and report success, while the server never sees the dataset: refused, saying where it
/// looked.
fn refuse_a_new_sqlite_file(config: &Config) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(&config.database_url())?;
    match url.sqlite_path() {
        Some(path) if !std::path::Path::new(path).exists() => anyhow::bail!(
            "there is no database at {path}: a dataset is imported into a server's database, and \
             no server has used this one yet. Run the command where the server runs (its \
             directory, or with its --data-dir, --database-url or --config); send the file to a \
             running server (`curl --data-binary @FILE -H 'Content-Type: application/octet-stream' \
             -H \"Authorization: Bearer $EVALBOARD_TOKEN\" \
             'http://HOST:PORT/datasets?name=NAME&format=jsonl'`, with an admin's token where the \
             server asks for one); or, to import before a first \
             start, make the database first with `evalboard migrate` and the same options"
        ),
        _ => Ok(()),
    }
}

/// Connects and migrates: every command needs an up-to-date schema.
fn open_database(config: &Config) -> anyhow::Result<Database> {
    let db = Database::connect(&config.database_url(), &config.pool_options())
        .context("cannot open the database")?;
    let applied = db.migrate()?;
    db.check_writable().with_context(|| {
        format!(
            "the database {} does not take writes (for a SQLite file: its owner and permissions, \
             and its directory's)",
            db.redacted_url()
        )
    })?;
    tracing::info!(
        database = %db.redacted_url(),
        backend = db.backend().as_str(),
        migrations_applied = applied.len(),
        "database ready"
    );
    Ok(db)
}

/// What a server reads from its configuration and checks before it touches the database.
struct Checked {
    /// Who may call the API.
    access: Access,
    providers: Arc<ProviderRegistry>,
    /// The addresses it serves on, bound.
    bound: listen::Bound,
    /// The Browser Harness keys (the signing key read, or made on a first start).
    harness: HarnessKeys,
}

/// A server's checks that need no database.
fn serving_checks(config: &Config) -> anyhow::Result<Checked> {
    config.check_bind_resolves()?;
    let access = config.access()?;
    let providers = Arc::new(ProviderRegistry::from_config(&config.providers, |var| {
        api_key_from_env(var).is_some()
    })?);
    // Before a signing key is made on a first start: a start that fails leaves nothing behind.
    let bound = listen::bind(&config.bind, config.unread_connection_timeout())?;
    let harness = config.harness_keys()?;
    Ok(Checked {
        access,
        providers,
        bound,
        harness,
    })
}

/// Warns when packs still valid were signed with keys this server does not trust (another
/// replica's own key, a key rotated out and not listed as retired): their captures would be
/// refused here, and the reason is better said at start than at each import.
fn warn_of_untrusted_signers(db: &Database, harness: &HarnessKeys) {
    let now = evalboard_domain::truncate_to_micros(chrono::Utc::now());
    match harness.untrusted_signers(db, now) {
        Ok(signers) => {
            for (key, packs) in signers {
                tracing::warn!(
                    key_id = %key,
                    "{packs} pack(s) still valid were signed with a key this server does not \
                     trust, so their captures will be refused here: {}",
                    evalboard_api::FIX_UNTRUSTED_SIGNER
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read which keys signed the packs still valid"),
    }
}

/// Serves until stopped; `_lock` holds the data directory meanwhile.
fn serve(
    config: Config,
    db: Database,
    checked: Checked,
    _lock: Option<std::fs::File>,
    logging: &Logging,
) -> anyhow::Result<()> {
    let Checked {
        access,
        providers,
        bound,
        harness,
    } = checked;
    if config.load_demo_dataset {
        demo::ensure_demo_dataset(&db)?;
    }
    warn_of_untrusted_signers(&db, &harness);
    // Before the engine: it labels each run's metrics once, when it takes the run up.
    let metrics = install_metrics(logging.0.as_ref().map(|b| b.dropped.clone()))?;
    // The engine and the event pump get a runtime of their own, beside actix's per-worker ones.
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("engine")
        .enable_all()
        .build()?;
    // Held until the server ends (after the drain gives back the claims made in its name).
    let mut _worker_name = None;
    let engine = if config.engine.enabled {
        let worker = config.worker_id()?;
        let held = Arc::new(
            db.hold_worker_name(&worker)
                .context("cannot start the engine")?,
        );
        tracing::info!(%worker, "starting the engine");
        let _runtime = background.enter();
        tokio::spawn(keep_worker_name(Arc::clone(&held)));
        _worker_name = Some(held);
        Some(EngineHandle::start(
            db.clone(),
            Arc::clone(&providers),
            ClientSet::from_registry(&providers),
            config.engine_config(worker),
        ))
    } else if db.backend() == evalboard_persistence::Backend::Sqlite {
        // No replica shares a SQLite file: what is created here waits for this server's next
        // start with the engine, and a user watching it would otherwise see no reason.
        tracing::warn!(
            "the engine is disabled: serving the API and the event stream only; runs created or \
             retried stay pending until a server with the engine (engine.enabled = true) serves \
             this database"
        );
        None
    } else {
        tracing::info!("the engine is disabled: serving the API and the event stream only");
        None
    };
    let events = background
        .block_on(EventHub::start(
            db.clone(),
            config.event_stream_config(),
            engine.as_ref().map(|e| e.signal().activity().clone()),
        ))
        .context("cannot start the event stream")?;
    let base_path = config.base_path()?;
    let mut state = AppState::new(db, providers)
        .with_events(events.clone())
        .with_harness(harness)
        .with_default_run_concurrency(config.default_run_concurrency())
        .with_access(access)
        .with_limits(config.limits())
        .with_base_path(base_path.clone())
        .with_metrics(metrics);
    if let Some(engine) = &engine {
        state = state.with_engine(engine.signal());
    }
    let stopper = engine.as_ref().map(EngineHandle::stopper);
    let http_stop = {
        let _runtime = background.enter();
        watch_stop_signals(stopper.clone(), events)?
    };
    let served = actix_web::rt::System::new().block_on(async move {
        let mut server = actix_web::HttpServer::new(move || evalboard_api::app(state.clone()))
            // A connection its client closed ends now, not when a write finally fails: an event
            // stream waiting for its next event (or heartbeat) would otherwise hold its client's
            // slot (http.streams_per_client) and its subscription for up to three heartbeats.
            // Browsers and HTTP libraries do not close their sending half while they wait for
            // an answer; a client that does (`nc -N`, some scripted checks) is cut off
            // unanswered.
            .h1_allow_half_closed(false);
        for listener in bound.listen()? {
            server = server
                .listen(listener)
                .with_context(|| format!("cannot listen on {}", config.bind))?;
        }
        let server = server
            // Requests in flight get this long to finish once a stop signal came.
            .shutdown_timeout(10)
            .shutdown_signal(async move {
                let _ = http_stop.await;
            });
        for addr in server.addrs() {
            tracing::info!("listening on http://{addr}");
        }
        if !base_path.as_str().is_empty() {
            tracing::info!(
                "served below {} (http.base_path): the dashboard is at {}/ui/ behind the proxy",
                base_path.as_str(),
                base_path.as_str()
            );
        }
        server.run().await?;
        anyhow::Ok(())
    });
    // The drain began with the signal (or begins now, when the server could not start); what
    // this worker still holds is given back, for another replica or the next start to take at
    // once.
    if let (Some(engine), Some(stopper)) = (engine, stopper) {
        begin_drain(&stopper);
        let drained = background.block_on(engine.drain());
        let released = drained.released;
        match (drained.claims_kept, drained.answers_lost) {
            (true, _) => tracing::warn!(
                "released {released} item(s); the database could not be reached to give back \
                 the rest{}: their items are answered again once their claims expire (at this \
                 worker's next start, or after engine.lease_secs on another server)",
                if drained.answers_lost {
                    " nor to store every answer"
                } else {
                    ""
                }
            ),
            (false, true) => tracing::warn!(
                "released {released} item(s); some answers could not be stored (the database \
                 could not be reached): their items were given back and are answered again"
            ),
            (false, false) => tracing::info!("released {released} item(s)"),
        }
    }
    tracing::info!("stopped");
    served
}

/// Checks every 30 s that this server still holds its worker name on the database, taking it
/// again after a lost connection (see [`evalboard_persistence::WorkerNameHold`]).
async fn keep_worker_name(held: Arc<evalboard_persistence::WorkerNameHold>) {
    let outage = evalboard_persistence::Outage::new("hold the worker name on the database");
    let mut conflict = false;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        let check = Arc::clone(&held);
        match tokio::task::spawn_blocking(move || check.keep()).await {
            Ok(Ok(())) => {
                outage.succeeded();
                if std::mem::take(&mut conflict) {
                    tracing::info!("this server holds its worker name alone again");
                }
            }
            Ok(Err(evalboard_persistence::StoreError::Conflict(why))) => {
                // Taken by a server started while this one's session was lost: both now claim
                // items in one name. Said at every check until one of them stops.
                conflict = true;
                tracing::error!("{why}");
            }
            Ok(Err(error)) => outage.failed(&error),
            Err(error) => tracing::error!(%error, "the worker name check failed"),
        }
    }
}

/// Installs the process's metrics recorder (Prometheus text format; durations as histograms in
/// seconds) and returns what renders it for `GET /metrics`.
fn install_metrics(
    dropped_log_lines: Option<tracing_appender::non_blocking::ErrorCounter>,
) -> anyhow::Result<evalboard_api::MetricsRenderer> {
    const SECONDS: [f64; 15] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&SECONDS)?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    metrics::gauge!("evalboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    evalboard_persistence::declare_metrics();
    evalboard_api::declare_metrics();
    Ok(Arc::new(move || {
        if let Some(dropped) = &dropped_log_lines {
            metrics::counter!("evalboard_log_lines_dropped_total")
                .absolute(dropped.dropped_lines() as u64);
        }
        handle.run_upkeep();
        handle.render()
    }))
}

/// Begins the engine's drain, saying so the first time.
fn begin_drain(stopper: &EngineStopper) {
    let in_flight = stopper.in_flight();
    if stopper.begin_drain() {
        tracing::info!(
            "draining: waiting up to {} s for {in_flight} item(s) in flight",
            stopper.drain_window().as_secs()
        );
    }
}

/// Whether this process ignores SIGHUP (as `nohup` makes it), from the kernel's account of it
/// (`SigIgn` in `/proc/self/status`, whose lowest bit is signal 1). Where that cannot be read
/// (not Linux), as ignored: SIGHUP is then left as it was.
fn sighup_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status").map_or(true, |status| ignores_sighup(&status))
}

/// Whether a `/proc/PID/status` says its process ignores SIGHUP (unreadable: as if it did).
fn ignores_sighup(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_none_or(|mask| mask & 1 == 1)
}

/// Listens for SIGTERM, SIGINT (Ctrl-C), SIGQUIT and, unless it is ignored, SIGHUP (inside the
/// runtime that drives the listener). The first stops the HTTP server (the returned receiver fires: requests in flight
/// get its shutdown timeout), ends the event streams (which would hold it for all of that
/// timeout) and begins the engine's drain at once; another one ends the drain's wait, giving
/// the items still in flight back without waiting for them.
fn watch_stop_signals(
    stopper: Option<EngineStopper>,
    events: EventHub,
) -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut quit = signal(SignalKind::quit()).context("cannot listen for SIGQUIT")?;
    // SIGHUP (a closed terminal or ssh session) killed the server outright, with no drain and
    // no line in the log: it drains as SIGTERM does. Unless it is ignored (`nohup`): listening
    // would replace that, and a server started with `nohup` would stop when its terminal closes.
    let mut hup = if sighup_ignored() {
        None
    } else {
        Some(signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?)
    };
    let (stop_http, http_stop) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut next = async || {
            let hangup = async {
                match &mut hup {
                    Some(hup) => hup.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = quit.recv() => "SIGQUIT",
                _ = hangup => "SIGHUP",
            }
        };
        let name = next().await;
        tracing::info!("{name} received: stopping");
        if let Some(stopper) = &stopper {
            begin_drain(stopper);
        }
        events.close();
        let _ = stop_http.send(());
        let name = next().await;
        if let Some(stopper) = &stopper {
            tracing::info!("{name} received again: giving back the items in flight now");
            stopper.hurry();
        }
    });
    Ok(http_stop)
}

#[cfg(test)]
mod tests {
    use super::ignores_sighup;

    #[test]
    fn sighup_is_left_alone_where_nohup_ignores_it() {
        let status = |ignored: &str| {
            format!(
                "Name:\tevalboard\nSigBlk:\t0000000000000000\nSigIgn:\t{ignored}\nSigCgt:\t0000000180004a02\n"
            )
        };
        // `nohup`: SIGHUP (bit 0) ignored, and SIGPIPE (bit 12) as Rust sets it.
        assert!(ignores_sighup(&status("0000000000001001")));
        assert!(!ignores_sighup(&status("0000000000001000")));
        // Not said, or not readable: as if ignored (left as it was).
        assert!(ignores_sighup("Name:\tevalboard\n"));
        assert!(ignores_sighup(&status("zz")));
    }
}
