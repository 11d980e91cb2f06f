//! `evalboard runs …`: a client of a running evalboard server over HTTP, for people who live
//! in a terminal and for scripts (`--json`). The token, when the server asks for one, comes
//! from `EVALBOARD_TOKEN`; it is sent as a bearer token and never printed.

mod follow;
mod runs;

use anyhow::Context;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use serde_json::Value;

use crate::output::output_failure;

pub(crate) use runs::{RunsCommand, run};

/// Where the client finds the server unless `--server` says otherwise.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The environment variable holding the token.
const TOKEN_ENV: &str = "EVALBOARD_TOKEN";

/// The server at one address, with the token from the environment.
pub(crate) struct Client {
    http: Http,
    base: String,
    token: Option<String>,
}

impl Client {
    pub(crate) fn new(server: &str) -> anyhow::Result<Self> {
        let http = Http::builder()
            // Event streams stay open for as long as a run goes.
            .timeout(None)
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: server.trim_end_matches('/').to_owned(),
            token: token_from_env()?,
        })
    }

    /// `evalboard runs <args>` as a command to give the user, naming this server when it is not
    /// the default one (a suggestion run as printed must reach the same server).
    pub(crate) fn command(&self, args: &str) -> String {
        if self.base == DEFAULT_SERVER {
            format!("evalboard runs {args}")
        } else {
            format!("evalboard runs {args} --server {}", self.base)
        }
    }

    /// Sends `request`, with the token if there is one; a refusal becomes the error.
    fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        checked(request.send(), &self.base, self.token.is_some())
    }

    /// `GET path`, the response checked (a problem document becomes the error).
    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Response> {
        self.get_with(path, &[])
    }

    /// `GET path?query`, the query's values encoded.
    pub(crate) fn get_with(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<Response> {
        let request = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(request)
    }

    /// `GET path` as JSON.
    pub(crate) fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.get_json_with(path, &[])
    }

    /// `GET path?query` as JSON, the query's values encoded.
    pub(crate) fn get_json_with(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<Value> {
        self.get_with(path, query)?
            .json()
            .context("reading the server's answer")
    }

    /// `POST path` with a JSON body (`{}` when `None`), as JSON.
    pub(crate) fn post_json(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let empty = Value::Object(Default::default());
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body.unwrap_or(&empty));
        self.send(request)?
            .json()
            .context("reading the server's answer")
    }
}

/// The token in `EVALBOARD_TOKEN`, as the server reads a pasted one (a value pasted from a file
/// often ends with a newline, one copied from a header starts with `Bearer `); an error naming
/// the variable when it cannot be sent in a header.
fn token_from_env() -> anyhow::Result<Option<String>> {
    let token = match std::env::var(TOKEN_ENV) {
        Ok(value) => evalboard_api::pasted_token(&value).to_owned(),
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!(
                "{TOKEN_ENV} is not valid UTF-8: set it to the token `evalboard token create` printed"
            )
        }
    };
    if token.is_empty() {
        return Ok(None);
    }
    if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        anyhow::bail!(
            "{TOKEN_ENV} holds characters an HTTP header cannot carry: set it to the token \
             `evalboard token create` printed"
        );
    }
    Ok(Some(token))
}

/// The server answered with an error status: what it said (its problem's `detail`).
#[derive(Debug)]
pub(crate) struct Refused {
    /// The HTTP status.
    pub(crate) status: u16,
    /// When the server said to ask again (`Retry-After` in seconds).
    pub(crate) retry_after: Option<std::time::Duration>,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// Whether `error` may pass if asked again: the server could not be reached, the connection
/// broke, or the server said it cannot answer now (a 5xx, as while it drains; a 429, as when a
/// replaced stream still counts against the client's streams). A refusal of the request itself
/// (another 4xx), an answer that is not what the API sends (a proxy's page) or a local failure
/// is not.
pub(crate) fn is_transient(error: &anyhow::Error) -> bool {
    output_failure(error).is_none()
        && error.chain().any(|cause| {
            cause
                .downcast_ref::<reqwest::Error>()
                // A request that could not be built (or read) fails the same way when asked again.
                .is_some_and(|e| !e.is_decode() && !e.is_builder())
                || cause.is::<std::io::Error>()
                || cause
                    .downcast_ref::<Refused>()
                    .is_some_and(|r| r.status >= 500 || r.status == 429)
        })
}

/// The response, or an error that says what the server said (its problem's `detail`);
/// `with_token` says whether the request carried `EVALBOARD_TOKEN`'s token.
fn checked(
    sent: reqwest::Result<Response>,
    base: &str,
    with_token: bool,
) -> anyhow::Result<Response> {
    let response = sent.with_context(|| format!("cannot reach the server at {base}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|seconds| std::time::Duration::from_secs(seconds.min(60)));
    let problem: Value = response.json().unwrap_or(Value::Null);
    Err(Refused {
        status: status.as_u16(),
        retry_after,
        message: refusal_message(status.as_u16(), &problem, with_token),
    }
    .into())
}

/// A refusal as the command's user reads it: the problem's `detail`, and what to do about it
/// where the server's words are the API's (a body field) rather than the command's option.
fn refusal_message(status: u16, problem: &Value, with_token: bool) -> String {
    let detail = problem["detail"].as_str().unwrap_or("no detail given");
    match (status, problem["type"].as_str()) {
        (401, _) if with_token => format!("HTTP 401: {detail} (the token sent is {TOKEN_ENV}'s)"),
        (401, _) => format!("HTTP 401: {detail} (set {TOKEN_ENV} to a token of this server)"),
        (_, Some("urn:evalboard:problem:configuration-changed")) => {
            format!("HTTP {status}: {detail} (with this command: add `--force`)")
        }
        _ => format!("HTTP {status}: {detail}"),
    }
}

/// `--server`: an `http://` or `https://` URL (a bare `host:port` would be read as a path).
pub(crate) fn server_url(value: &str) -> Result<String, String> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(value.to_owned())
        }
        _ => Err(format!(
            "`{value}` is not a server's URL; give one such as http://127.0.0.1:8080"
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::refusal_message;

    #[test]
    fn a_refusal_whose_remedy_is_a_body_field_names_the_option() {
        let changed = json!({
            "type": "urn:evalboard:problem:configuration-changed",
            "detail": "the configuration of run r changed since it was made: …; send {\"force\": true} to retry it anyway",
        });
        let message = refusal_message(409, &changed, false);
        assert!(
            message.starts_with("HTTP 409: the configuration of run r changed"),
            "{message}"
        );
        assert!(
            message.ends_with("(with this command: add `--force`)"),
            "{message}"
        );
        // Another conflict is said as the server said it.
        let other = json!({"type": "urn:evalboard:problem:conflict", "detail": "run r is running"});
        assert_eq!(
            refusal_message(409, &other, false),
            "HTTP 409: run r is running"
        );
        assert_eq!(
            refusal_message(401, &json!({"detail": "no token"}), false),
            "HTTP 401: no token (set EVALBOARD_TOKEN to a token of this server)"
        );
        assert_eq!(
            refusal_message(500, &serde_json::Value::Null, false),
            "HTTP 500: no detail given"
        );
    }
}
