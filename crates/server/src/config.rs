//! Configuration, layered: built-in defaults, then a TOML file, then environment variables, then
//! command-line flags (see `docs/configuration.md`).

use std::{
    collections::BTreeMap,
    num::NonZeroU32,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use evalboard_api::{
    Access, AccessToken, BasePath, EventStreamConfig, HarnessKeys, Limits, Role, TokenDigest,
};
use evalboard_harness::{PackSigner, parse_public_key};
use evalboard_persistence::PoolOptions;
use evalboard_runner::{EngineConfig, ProviderConfig};
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::Deserialize;

/// The defaults, also the reference for every setting.
const DEFAULTS: &str = include_str!("../config/default.toml");

/// The top-level settings that are values: an `EVALBOARD_` variable is a setting when its name
/// (after the prefix, up to its first `__`) is one of these or of [`SECTIONS`]. Others are the
/// client's (`EVALBOARD_TOKEN`, `EVALBOARD_SERVER`) or tools' own, and are left alone — unless
/// they look like a misspelt setting ([`refuse_misnamed_variables`]).
const VALUES: [&str; 5] = [
    "bind",
    "data_dir",
    "database_url",
    "load_demo_dataset",
    "worker_id",
];

/// Settings that are text whatever they look like, and the variables that set them: read as
/// they are, since the environment layer reads a value as TOML (`EVALBOARD_WORKER_ID=42` would
/// be a number, refused for a text setting, and `007` would lose its zeros).
const TEXT_VARIABLES: [(&str, &str); 5] = [
    ("EVALBOARD_WORKER_ID", "worker_id"),
    ("EVALBOARD_DATA_DIR", "data_dir"),
    ("EVALBOARD_BIND", "bind"),
    ("EVALBOARD_HTTP__PUBLIC_HOST", "http.public_host"),
    ("EVALBOARD_HTTP__BASE_PATH", "http.base_path"),
];

/// The top-level sections, whose settings are named `EVALBOARD_<SECTION>__<SETTING>`.
const SECTIONS: [&str; 7] = [
    "database",
    "engine",
    "events",
    "harness",
    "auth",
    "http",
    "providers",
];

/// Everything the server reads at start.
#[derive(Debug, Deserialize)]
// A misspelt name in the file (`bnd`, `[engnie]`) is refused, not ignored: ignored, a mistyped
// `[auth]` would leave a server open. The sections deny unknown names of their own.
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Address to listen on (`EVALBOARD_BIND`).
    pub(crate) bind: String,
    /// Directory for evalboard's files (`EVALBOARD_DATA_DIR`).
    pub(crate) data_dir: PathBuf,
    /// Database URL (`DATABASE_URL`); a SQLite file in `data_dir` when unset.
    pub(crate) database_url: Option<String>,
    /// Import the bundled demo dataset when it is missing.
    pub(crate) load_demo_dataset: bool,
    /// Connection pool settings.
    pub(crate) database: DatabaseConfig,
    /// Engine settings.
    pub(crate) engine: EngineSection,
    /// Live event stream settings.
    pub(crate) events: EventsSection,
    /// Browser Harness keys.
    pub(crate) harness: HarnessSection,
    /// Who may call the API.
    pub(crate) auth: AuthSection,
    /// What the HTTP server answers to, and for whom.
    pub(crate) http: HttpSection,
    /// Name of this server's claims (`EVALBOARD_WORKER_ID`); see [`Config::worker_id`].
    #[serde(default)]
    pub(crate) worker_id: Option<String>,
    /// Configured providers, by configuration id.
    pub(crate) providers: BTreeMap<String, ProviderConfig>,
}

/// `[database]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatabaseConfig {
    max_connections: u32,
    acquire_timeout_secs: u64,
}

/// `[engine]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineSection {
    /// Whether this server runs evaluations (else it only serves the API and the stream).
    pub(crate) enabled: bool,
    global_concurrency: usize,
    default_run_concurrency: u32,
    lease_secs: u64,
    commit_window_ms: u64,
    drain_secs: u64,
    provider_down_secs: u64,
}

/// `[events]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsSection {
    buffer: usize,
    heartbeat_secs: u64,
    preview_ms: u64,
    board_ms: u64,
    stall_timeout_secs: u64,
    retention_secs: u64,
}

/// `[harness]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HarnessSection {
    #[serde(default)]
    signing_key_file: Option<PathBuf>,
    retired_public_keys: Vec<String>,
    revoked_public_keys: Vec<String>,
}

/// `[auth]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthSection {
    mode: AuthMode,
    session_hours: u64,
    secure_cookies: bool,
    pub(crate) tokens: Vec<TokenEntry>,
}

/// `auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AuthMode {
    Auto,
    Tokens,
    None,
}

/// One `[[auth.tokens]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenEntry {
    pub(crate) name: String,
    pub(crate) role: String,
    sha256: String,
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSection {
    public_host: String,
    base_path: String,
    trusted_proxies: Vec<String>,
    cors_allowed_origins: Vec<String>,
    requests_per_minute: u32,
    request_burst: u32,
    streams_per_client: u32,
    body_idle_timeout_secs: u64,
    body_min_bytes_per_sec: u64,
}

/// Whether a token's name is one logs can show as it is: 1 to 64 letters, digits, `.`, `_`,
/// `-` or `@`.
pub(crate) fn check_token_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')),
        "a token name is 1 to 64 ASCII letters, digits, `.`, `_`, `-` or `@`; got `{name}`"
    );
    Ok(())
}

/// Whether an `EVALBOARD_` variable's name (without the prefix) names a setting.
fn is_setting(name: &str) -> bool {
    let first = name.split("__").next().unwrap_or_default();
    VALUES
        .iter()
        .chain(&SECTIONS)
        .any(|key| first.eq_ignore_ascii_case(key))
}

/// The name `http.public_host` gives (`None` when empty): a host name, its port (if given)
/// left out, as the `Host` check compares names. A URL, a path or an empty name would never
/// match a `Host`, and leave every request refused with 421: refused at start instead.
fn public_host_name(public_host: &str) -> anyhow::Result<Option<&str>> {
    let public = public_host.trim();
    if public.is_empty() {
        return Ok(None);
    }
    // An address passes the check whatever this says; taken as written, brackets aside.
    let address = public
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .unwrap_or(public);
    if address.parse::<std::net::IpAddr>().is_ok() {
        return Ok(Some(address));
    }
    let name = match public.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => public,
    };
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    anyhow::ensure!(
        is_name,
        "http.public_host `{public}` is not a host name (e.g. evals.example.com, without a \
         scheme or a path)"
    );
    Ok(Some(name))
}

/// A configuration error as its reader needs it: each problem figment found, by the setting's
/// name (without figment's profile, `default.`), where it was set, and what was wrong — an
/// unknown setting with the settings its section takes.
fn described(error: figment::Error) -> anyhow::Error {
    let problems: Vec<String> = error
        .into_iter()
        .map(|error| {
            let key = error.path.join(".");
            let origin = match &error.metadata {
                Some(metadata) => match &metadata.source {
                    Some(source) => format!(" (in {source})"),
                    // The variable by its name, as the reader would look for it (figment's
                    // layer says only "`EVALBOARD_` environment variable(s)").
                    None if metadata.name.starts_with("`EVALBOARD_`") => {
                        // An element of a list set as one variable (`…__MODELS='[1.5]'`) has
                        // its index in the path: no variable is named so.
                        let (variable, element) = match error
                            .path
                            .iter()
                            .position(|part| part.bytes().all(|b| b.is_ascii_digit()))
                        {
                            Some(at) => {
                                (&error.path[..at], format!(", element {}", error.path[at]))
                            }
                            None => (&error.path[..], String::new()),
                        };
                        format!(
                            " (from the environment variable EVALBOARD_{}{element})",
                            variable.join("__").to_uppercase()
                        )
                    }
                    None => format!(" (from the {})", metadata.name),
                },
                None => String::new(),
            };
            match &error.kind {
                figment::error::Kind::UnknownField(_, expected) => {
                    let section = match error.path.split_last() {
                        Some((_, parents)) if !parents.is_empty() => {
                            format!("[{}]", parents.join("."))
                        }
                        _ => "the top level".to_owned(),
                    };
                    format!(
                        "`{key}` is not a setting{origin}; {section} takes {}",
                        expected.join(", ")
                    )
                }
                figment::error::Kind::UnknownVariant(found, expected) => {
                    let choices: Vec<String> = expected.iter().map(|v| format!("`{v}`")).collect();
                    format!(
                        "`{key}`{origin}: `{found}` is not one of {}",
                        choices.join(", ")
                    )
                }
                kind if key.is_empty() => format!("{kind}{origin}"),
                kind => format!("`{key}`{origin}: {kind}"),
            }
        })
        .collect();
    // A token pasted where the file does not take it, or given in the wrong form, is quoted by
    // the parser: never repeated in an error (it ends in a terminal, a log, a ticket).
    let said = problems.join("; ");
    anyhow::anyhow!(
        "invalid configuration: {}",
        evalboard_runner::providers::Redactor::default().redact(&said)
    )
}

/// Refuses `EVALBOARD_` variables that name a section's setting with one underscore
/// (`EVALBOARD_AUTH_MODE` for `EVALBOARD_AUTH__MODE`): read as nothing, a mistyped
/// `auth.mode` would leave the server open.
fn refuse_misnamed_variables(
    names: impl IntoIterator<Item = std::ffi::OsString>,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix("EVALBOARD_") else {
            continue;
        };
        if is_setting(rest) {
            continue;
        }
        let lower = rest.to_ascii_lowercase();
        if let Some(section) = SECTIONS.iter().find(|section| {
            lower
                .strip_prefix(**section)
                .is_some_and(|after| after.starts_with('_'))
        }) {
            let setting = &rest[section.len() + 1..];
            problems.push(format!(
                "{name} is not a setting: a setting of [{section}] takes two underscores, \
                 EVALBOARD_{}__{setting}",
                section.to_ascii_uppercase()
            ));
        } else if let Some((section, _)) = rest.split_once("__") {
            // Two underscores name a section's setting: a misspelt section was read as nothing
            // (`EVALBOARD_AUHT__MODE=none`), where a misspelt setting of a section is refused.
            problems.push(format!(
                "{name} is not a setting: `{}` is not a section of the configuration (sections: \
                 {})",
                section.to_ascii_lowercase(),
                SECTIONS.join(", ")
            ));
        }
    }
    anyhow::ensure!(
        problems.is_empty(),
        "invalid configuration: {}",
        problems.join("; ")
    );
    Ok(())
}

/// The built-in defaults, without the providers `file` points elsewhere: a provider table of
/// the file that sets `kind` or `base_url` replaces the built-in one of its id whole. Merged
/// field by field, a file's `[providers.openai]` pointed at another server would have kept the
/// built-in `api_key_env` (and prices), and sent the OpenAI key there. A table that sets
/// neither (`models`, prices, limits) still changes the built-in provider field by field, as
/// environment variables do.
fn defaults_without_providers(file: &Figment) -> anyhow::Result<Figment> {
    use figment::value::{Dict, Value};
    let Ok(in_file) = file.extract_inner::<Dict>("providers") else {
        return Ok(Figment::from(Toml::string(DEFAULTS)));
    };
    let elsewhere = |id: &String| {
        matches!(in_file.get(id), Some(Value::Dict(_, table))
            if table.contains_key("kind") || table.contains_key("base_url"))
    };
    let mut defaults: Dict = Figment::from(Toml::string(DEFAULTS))
        .extract()
        .context("the built-in configuration")?;
    if let Some(Value::Dict(_, providers)) = defaults.get_mut("providers") {
        providers.retain(|id, _| !elsewhere(id));
    }
    Ok(Figment::from(Serialized::defaults(defaults)))
}

/// Whether every address `bind` stands for is a loopback address.
fn is_loopback(bind: &str) -> bool {
    use std::net::ToSocketAddrs;
    bind.to_socket_addrs()
        .map(|addrs| {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        })
        .unwrap_or(false)
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) database_url: Option<String>,
}

impl Config {
    /// Reads the layers in order. `file` is the `--config` flag or `EVALBOARD_CONFIG`; a file
    /// that is named but missing is an error.
    pub(crate) fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = match file {
            Some(file) => {
                anyhow::ensure!(
                    file.is_file(),
                    "configuration file {} does not exist",
                    file.display()
                );
                let from_file = Figment::from(Toml::file(file));
                defaults_without_providers(&from_file)?.merge(from_file)
            }
            None => Figment::from(Toml::string(DEFAULTS)),
        };
        refuse_misnamed_variables(std::env::vars_os().map(|(name, _)| name))?;
        figment = figment.merge(
            Env::prefixed("EVALBOARD_")
                .filter(|name| {
                    is_setting(name.as_str())
                        && !TEXT_VARIABLES.iter().any(|(variable, _)| {
                            variable.eq_ignore_ascii_case(&format!("EVALBOARD_{name}"))
                        })
                })
                .split("__"),
        );
        // Matched as the environment layer matches names (without regard to case).
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let Some((_, key)) = TEXT_VARIABLES
                .iter()
                .find(|(variable, _)| variable.eq_ignore_ascii_case(name))
            else {
                continue;
            };
            let value = value
                .into_string()
                .map_err(|_| anyhow::anyhow!("invalid configuration: {name} is not UTF-8"))?;
            figment = figment.merge(Serialized::default(key, value));
        }
        let config: Self = figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            )
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(described)?;
        config.check_ranges()?;
        config.check_addresses()?;
        Ok(config)
    }

    /// Refuses a `bind` whose host does not resolve, before the access check would take it for
    /// an address off loopback and ask for tokens. For a server only: the other commands bind
    /// nothing, and may run where the server's name does not resolve (a migration job).
    pub(crate) fn check_bind_resolves(&self) -> anyhow::Result<()> {
        if let Err(error) = std::net::ToSocketAddrs::to_socket_addrs(self.bind.as_str()) {
            anyhow::bail!("bind `{}`: its host does not resolve ({error})", self.bind);
        }
        Ok(())
    }

    /// Refuses a data directory, a listening address or CORS origins that cannot work, at
    /// start and by the setting's name (an origin would otherwise stop the server after it
    /// said it was listening, a bad address be reported as a security refusal).
    fn check_addresses(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.data_dir.as_os_str().is_empty(),
            "data_dir is empty (an unset variable, perhaps): name a directory, or leave \
             EVALBOARD_DATA_DIR unset for ./data"
        );
        // A URL (the dashboard's address, pasted) has a port after its last colon too: it was
        // refused as an address without tokens. (A name that does not resolve: see
        // `Config::check_bind_resolves`, for a server only.)
        if let Some((_, rest)) = self.bind.split_once("://") {
            anyhow::bail!(
                "bind `{}` is a URL, not HOST:PORT: give `{}`",
                self.bind,
                rest.trim_end_matches('/')
            );
        }
        let port = self
            .bind
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(_, port)| port.parse::<u16>().ok());
        anyhow::ensure!(
            port.is_some(),
            "bind `{}` is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080)",
            self.bind
        );
        for origin in &self.http.cors_allowed_origins {
            let uri = origin.parse::<actix_web::http::Uri>().ok();
            let is_origin = uri.is_some_and(|uri| {
                matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some_and(|a| !a.host().is_empty())
                    && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
                    && !origin.ends_with('/')
            });
            anyhow::ensure!(
                is_origin,
                "http.cors_allowed_origins: `{origin}` is not an origin (scheme://host[:port], \
                 without a path)"
            );
        }
        for proxy in &self.http.trusted_proxies {
            anyhow::ensure!(
                evalboard_api::proxy_network(proxy).is_some(),
                "http.trusted_proxies: `{proxy}` is not an IP address or a network in CIDR \
                 notation (e.g. 127.0.0.1, 10.0.0.0/8, fd00::/8)"
            );
        }
        public_host_name(&self.http.public_host)?;
        self.base_path()?;
        Ok(())
    }

    /// The path browsers reach the server below (`http.base_path`).
    pub(crate) fn base_path(&self) -> anyhow::Result<BasePath> {
        BasePath::new(self.http.base_path.trim())
            .map_err(|e| anyhow::anyhow!("http.base_path: {e}"))
    }

    /// Refuses numbers outside what the server can work with, every one of them at once with
    /// its allowed range, rather than quietly using another value.
    fn check_ranges(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let mut check = |name: &str, value: u64, range: std::ops::RangeInclusive<u64>| {
            if !range.contains(&value) {
                problems.push(format!(
                    "{name} must be between {} and {}, got {value}",
                    range.start(),
                    range.end()
                ));
            }
        };
        let engine = &self.engine;
        check(
            "engine.global_concurrency",
            engine.global_concurrency as u64,
            1..=10_000,
        );
        check(
            "engine.default_run_concurrency",
            u64::from(engine.default_run_concurrency),
            1..=256,
        );
        check("engine.lease_secs", engine.lease_secs, 5..=3_600);
        check(
            "engine.commit_window_ms",
            engine.commit_window_ms,
            0..=1_000,
        );
        check("engine.drain_secs", engine.drain_secs, 0..=3_600);
        check(
            "engine.provider_down_secs",
            engine.provider_down_secs,
            0..=86_400,
        );
        let events = &self.events;
        check("events.buffer", events.buffer as u64, 16..=1 << 20);
        check("events.heartbeat_secs", events.heartbeat_secs, 1..=300);
        check("events.preview_ms", events.preview_ms, 50..=60_000);
        check("events.board_ms", events.board_ms, 10..=10_000);
        check(
            "events.stall_timeout_secs",
            events.stall_timeout_secs,
            1..=600,
        );
        if events.retention_secs != 0 {
            check(
                "events.retention_secs (0 keeps every event)",
                events.retention_secs,
                60..=u64::from(u32::MAX),
            );
        }
        check("auth.session_hours", self.auth.session_hours, 1..=720);
        let http = &self.http;
        check(
            "http.requests_per_minute",
            u64::from(http.requests_per_minute),
            0..=1_000_000,
        );
        check(
            "http.request_burst",
            u64::from(http.request_burst),
            1..=1_000_000,
        );
        check(
            "http.streams_per_client",
            u64::from(http.streams_per_client),
            0..=100_000,
        );
        check(
            "http.body_idle_timeout_secs",
            http.body_idle_timeout_secs,
            1..=600,
        );
        check(
            "http.body_min_bytes_per_sec",
            http.body_min_bytes_per_sec,
            1..=1_048_576,
        );
        check(
            "database.max_connections",
            u64::from(self.database.max_connections),
            1..=1_000,
        );
        check(
            "database.acquire_timeout_secs",
            self.database.acquire_timeout_secs,
            1..=600,
        );
        anyhow::ensure!(
            problems.is_empty(),
            "invalid configuration: {}",
            problems.join("; ")
        );
        Ok(())
    }

    /// Who may call the API, from `[auth]`, `[http]` and the address listened on. Refuses a
    /// server that anyone on a network could reach without a token, unless told so.
    pub(crate) fn access(&self) -> anyhow::Result<Access> {
        let auth = &self.auth;
        let mut tokens = Vec::new();
        for (i, entry) in auth.tokens.iter().enumerate() {
            let at = format!("auth.tokens[{i}]");
            check_token_name(&entry.name).with_context(|| at.clone())?;
            let role: Role = entry
                .role
                .parse()
                .map_err(|e: String| anyhow::anyhow!("{at}: {e}"))?;
            let digest = TokenDigest::from_hex(&entry.sha256)
                .map_err(|e| anyhow::anyhow!("{at}.sha256 {e}"))?;
            // One name may hold two tokens of one role while the first is rotated out (logs,
            // limits and sessions name the holder, who is the same); of two roles it would be
            // two holders under one name.
            anyhow::ensure!(
                tokens
                    .iter()
                    .all(|t: &AccessToken| t.name != entry.name || t.role == role),
                "{at}: two tokens named `{}` have different roles; a name stands for one role",
                entry.name
            );
            anyhow::ensure!(
                tokens
                    .iter()
                    .all(|t: &AccessToken| t.digest.to_hex() != digest.to_hex()),
                "{at}: the same token is configured twice"
            );
            tokens.push(AccessToken {
                name: entry.name.clone(),
                role,
                digest,
            });
        }
        let loopback = is_loopback(&self.bind);
        let open = match (auth.mode, tokens.is_empty()) {
            (AuthMode::None, _) => true,
            (AuthMode::Tokens, true) => anyhow::bail!(
                "auth.mode = \"tokens\" needs at least one [[auth.tokens]] entry: create one \
                 with `evalboard token create --name NAME --role admin`"
            ),
            (AuthMode::Auto, true) if !loopback => anyhow::bail!(
                "refusing to listen on {} without tokens: anyone who can reach it could run \
                 evaluations on your providers' accounts. Create a token with `evalboard token \
                 create --name NAME --role admin` and add the entry it prints to the \
                 configuration, listen on 127.0.0.1, or set auth.mode = \"none\" to run \
                 without authentication",
                self.bind
            ),
            (_, empty) => empty,
        };
        let mut access = if open {
            if auth.mode == AuthMode::None && !tokens.is_empty() {
                tracing::warn!(
                    "auth.mode = \"none\": the {} configured token(s) are ignored, and every \
                     request is served as an admin's; remove auth.mode (or set \"auto\" or \
                     \"tokens\") for them to count",
                    tokens.len()
                );
            }
            if !loopback {
                tracing::warn!(
                    bind = %self.bind,
                    "AUTHENTICATION IS OFF (auth.mode = \"none\"): anyone who can reach this \
                     address can create, cancel and retry runs and upload datasets"
                );
            }
            Access::open()
        } else {
            tracing::info!(tokens = tokens.len(), "requests need a token");
            Access::with_tokens(tokens)
        };
        // Every server without tokens checks the `Host` (DNS rebinding); one with tokens needs
        // not: a rebinding page has no token (the session cookie belongs to the real name).
        if open {
            access = access.with_allowed_hosts(
                public_host_name(&self.http.public_host)?
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
            );
        }
        Ok(access
            .with_sessions(
                Duration::from_secs(auth.session_hours * 3600),
                auth.secure_cookies,
            )
            .with_cors_origins(self.http.cors_allowed_origins.clone()))
    }

    /// Holds the data directory for this server alone until the returned file is dropped (the
    /// process ends): a second server on the same directory would share its worker name, and so
    /// take the first one's live claims as its own.
    pub(crate) fn lock_data_dir(&self) -> anyhow::Result<std::fs::File> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        let path = self.data_dir.join("evalboard.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another evalboard server is running on the data directory {} (it holds {}): \
                 stop it first, or give this server a --data-dir of its own",
                self.data_dir.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }

    /// What one client may take of the server (`[http]`).
    pub(crate) fn limits(&self) -> Limits {
        let http = &self.http;
        Limits {
            requests_per_minute: NonZeroU32::new(http.requests_per_minute)
                .zip(NonZeroU32::new(http.request_burst)),
            streams_per_client: (http.streams_per_client > 0).then_some(http.streams_per_client),
            body_idle_timeout: Duration::from_secs(http.body_idle_timeout_secs),
            // Checked to 1..=1,048,576 above.
            body_min_bytes_per_sec: u32::try_from(http.body_min_bytes_per_sec).unwrap_or(u32::MAX),
            // Checked above: every entry is one.
            trusted_proxies: http
                .trusted_proxies
                .iter()
                .filter_map(|proxy| evalboard_api::proxy_network(proxy))
                .collect(),
        }
    }

    /// The database URL in effect.
    pub(crate) fn database_url(&self) -> String {
        self.database_url
            .clone()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("evalboard.db").display()))
    }

    /// The engine's settings, for this server's worker name.
    pub(crate) fn engine_config(&self, worker: String) -> EngineConfig {
        // Within their ranges: `check_ranges` refused the configuration otherwise.
        let mut config = EngineConfig::new(worker);
        config.global_concurrency = self.engine.global_concurrency;
        config.default_run_concurrency = self.engine.default_run_concurrency;
        config.lease = Duration::from_secs(self.engine.lease_secs);
        config.renew_every = config.lease / 3;
        config.commit_window = Duration::from_millis(self.engine.commit_window_ms);
        config.drain = Duration::from_secs(self.engine.drain_secs);
        config.provider_down = Duration::from_secs(self.engine.provider_down_secs);
        config
    }

    /// Per-run concurrency of runs that set none.
    pub(crate) fn default_run_concurrency(&self) -> u32 {
        self.engine.default_run_concurrency
    }

    /// How long what the server sent may stay unread before the connection closes: well past
    /// the time an event stream's subscriber is dropped for it (`events.stall_timeout_secs`),
    /// and at least a minute, so that a slow client on a poor network keeps its connection.
    pub(crate) fn unread_connection_timeout(&self) -> Duration {
        Duration::from_secs((2 * self.events.stall_timeout_secs).max(60))
    }

    /// The live stream's settings.
    pub(crate) fn event_stream_config(&self) -> EventStreamConfig {
        let events = &self.events;
        EventStreamConfig {
            buffer: events.buffer,
            heartbeat: Duration::from_secs(events.heartbeat_secs),
            preview_every: Duration::from_millis(events.preview_ms),
            board_every: Duration::from_millis(events.board_ms),
            stall_timeout: Duration::from_secs(events.stall_timeout_secs),
            retention: (events.retention_secs > 0)
                .then(|| Duration::from_secs(events.retention_secs)),
            ..EventStreamConfig::default()
        }
    }

    /// This server's worker name: configured, or created once and kept in the data directory.
    pub(crate) fn worker_id(&self) -> anyhow::Result<String> {
        if let Some(id) = self.worker_id.as_ref().filter(|id| !id.trim().is_empty()) {
            return Ok(id.trim().to_owned());
        }
        let path = self.data_dir.join("worker-id");
        if let Ok(id) = std::fs::read_to_string(&path)
            && !id.trim().is_empty()
        {
            return Ok(id.trim().to_owned());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        let id = format!("worker-{}", uuid::Uuid::now_v7().simple());
        std::fs::write(&path, &id).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(id)
    }

    /// The Browser Harness keys: the configured signing key, or the data directory's (created
    /// on first start), and the retired public keys. Errors name the file, never a key's bytes.
    pub(crate) fn harness_keys(&self) -> anyhow::Result<HarnessKeys> {
        let signer = match &self.harness.signing_key_file {
            Some(path) => PackSigner::read(path).with_context(|| {
                format!(
                    "cannot use harness.signing_key_file {}; to make a new key there, run \
                     `evalboard keygen --out {}`",
                    path.display(),
                    path.display()
                )
            })?,
            None => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
                let path = self.data_dir.join("harness-signing-key.pem");
                let (signer, created) = PackSigner::read_or_create(&path)?;
                if created {
                    tracing::info!(key_id = %signer.id(), path = %path.display(), "created a Browser Harness signing key");
                }
                signer
            }
        };
        let public_keys = |keys: &[String], setting: &'static str| {
            keys.iter()
                .map(|key| parse_public_key(key))
                .collect::<Result<Vec<_>, _>>()
                .context(setting)
        };
        let retired = public_keys(
            &self.harness.retired_public_keys,
            "harness.retired_public_keys",
        )?;
        let revoked = public_keys(
            &self.harness.revoked_public_keys,
            "harness.revoked_public_keys",
        )?;
        // A key both trusted and revoked says two things: which was meant is not guessed.
        for key in &revoked {
            let id = evalboard_harness::KeyId::of(key);
            anyhow::ensure!(
                id != *signer.id()
                    && !retired
                        .iter()
                        .any(|r| evalboard_harness::KeyId::of(r) == id),
                "harness.revoked_public_keys holds key {id}, which is also {}: a revoked key \
                 must be trusted no longer",
                if id == *signer.id() {
                    "the signing key (harness.signing_key_file)"
                } else {
                    "in harness.retired_public_keys"
                }
            );
        }
        // Its public key is logged: what `retired_public_keys` takes when the key is rotated,
        // and no longer served once the server signs with the next one.
        tracing::info!(key_id = %signer.id(), public_key = %signer.public_key_base64(), retired = retired.len(), revoked = revoked.len(), "Browser Harness packs are signed with this key");
        Ok(HarnessKeys::new(signer, retired).with_revoked(revoked))
    }

    /// Where `evalboard keygen` writes a key when not told: the file the server would read.
    pub(crate) fn default_key_file(&self) -> PathBuf {
        self.harness
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("harness-signing-key.pem"))
    }

    /// Pool settings.
    pub(crate) fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.database.max_connections,
            acquire_timeout: Duration::from_secs(self.database.acquire_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::public_host_name;

    #[test]
    fn a_public_host_is_a_name_or_an_address() {
        for (given, name) in [
            ("", None),
            ("evals.example.com", Some("evals.example.com")),
            ("evals.example.com:8443", Some("evals.example.com")),
            ("[::1]", Some("::1")),
            ("[2001:db8::1]:8443", Some("2001:db8::1")),
            ("10.0.0.5", Some("10.0.0.5")),
        ] {
            assert_eq!(public_host_name(given).unwrap(), name, "{given}");
        }
        for refused in [
            "https://evals.example.com/",
            "evals.example.com/ui",
            ":8443",
        ] {
            assert!(public_host_name(refused).is_err(), "{refused}");
        }
    }
}
