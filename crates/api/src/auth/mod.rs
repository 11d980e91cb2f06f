//! Who may do what: bearer tokens from the configuration (kept only as SHA-256 digests), their
//! roles, the session cookies the dashboard signs in with, and the middleware that checks every
//! request against them. See docs/security.md.

mod middleware;
mod session;

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

pub(crate) use middleware::{authorize, refuse_simple_posts, required_role, routed_path};
pub(crate) use session::{COOKIE, SESSION_SECRET, Sessions};

/// What a token may do; each role may do everything the one before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every read, and the live streams.
    Viewer,
    /// And creating, canceling, retrying and re-judging runs, packs and imports.
    Operator,
    /// And dataset uploads (and whatever changes configuration-like state).
    Admin,
}

impl Role {
    /// The role's name, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// "a" or "an", as the role's name reads after it.
    pub fn article(self) -> &'static str {
        match self {
            Self::Viewer => "a",
            Self::Operator | Self::Admin => "an",
        }
    }
}

/// The token of an `Authorization` value of the Bearer scheme (any whitespace after the scheme,
/// as HTTP allows; `Some("")` when it holds none), or `None` for another scheme.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, token) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A token as a person pastes it: spaces around it dropped, and a `Bearer ` copied with it
/// (from a header, a curl command) too.
pub fn pasted_token(text: &str) -> &str {
    bearer_token(text)
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| text.trim())
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown role `{other}` (viewer, operator or admin)"
            )),
        }
    }
}

/// The SHA-256 digest of a token: what the configuration keeps instead of the token.
#[derive(Clone, Copy)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// A digest written as 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Result<Self, String> {
        let bytes = hex::decode(hex.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or("is not a SHA-256 digest (64 hexadecimal digits)")?;
        Ok(Self(bytes))
    }

    /// The digest as 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether the digest begins with `prefix` (what a session cookie names it by).
    fn starts_with(&self, prefix: &[u8]) -> bool {
        !prefix.is_empty() && self.0.starts_with(prefix)
    }

    /// Compared in constant time, so that timing tells nothing of how much of it matched.
    fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenDigest({}…)", &self.to_hex()[..8])
    }
}

/// A configured token: its name (what logs and run logs say did something), its role, and the
/// digest of its secret.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// Who holds it (`ci`, `alice`).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token.
    pub digest: TokenDigest,
}

impl AccessToken {
    /// A new random token named `name`: the secret to hand out once, and what to configure.
    pub fn generate(name: &str, role: Role) -> (String, Self) {
        // 244 random bits from the operating system's generator (two version-4 UUIDs).
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let token = Self {
            name: name.to_owned(),
            role,
            digest: TokenDigest::of(&secret),
        };
        (secret, token)
    }
}

/// What every token this server makes starts with (so that secret scanners can find leaked ones).
pub const TOKEN_PREFIX: &str = "evb_";

/// Who may call the API, and how the dashboard's sessions behave.
#[derive(Debug, Clone)]
pub struct Access {
    /// `None`: open, every request may do everything.
    tokens: Option<Vec<AccessToken>>,
    /// When set, only requests whose `Host` names one of these (any port) are answered.
    allowed_hosts: Option<Vec<String>>,
    /// How long a dashboard session lasts.
    session_ttl: Duration,
    /// Whether session cookies are marked `Secure` (served over HTTPS only).
    secure_cookies: bool,
    /// Origins whose pages may call the API (CORS).
    cors_origins: Vec<String>,
}

impl Default for Access {
    fn default() -> Self {
        Self::open()
    }
}

impl Access {
    /// No authentication: every request may do everything (a server on a loopback address, or
    /// one configured with `auth.mode = "none"`).
    pub fn open() -> Self {
        Self {
            tokens: None,
            allowed_hosts: None,
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            cors_origins: Vec::new(),
        }
    }

    /// Every request but the public ones needs one of `tokens` (or a session made with one).
    pub fn with_tokens(tokens: Vec<AccessToken>) -> Self {
        Self {
            tokens: Some(tokens),
            ..Self::open()
        }
    }

    /// The same, answering only requests whose `Host` is an address, `localhost` (or below
    /// it) or one of `hosts` (names, any port): what keeps a DNS-rebinding page away from a
    /// server without tokens.
    pub fn with_allowed_hosts(mut self, hosts: Vec<String>) -> Self {
        self.allowed_hosts = Some(
            hosts
                .iter()
                .map(|h| host_name(h.trim()).to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// The same, with dashboard sessions lasting `ttl`, their cookies `Secure` when `secure`.
    pub fn with_sessions(mut self, ttl: Duration, secure: bool) -> Self {
        self.session_ttl = ttl;
        self.secure_cookies = secure;
        self
    }

    /// The same, letting pages of `origins` (`https://dash.example`) call the API: their
    /// preflights are answered and the answers carry the CORS headers that let them read.
    pub fn with_cors_origins(mut self, origins: Vec<String>) -> Self {
        self.cors_origins = origins;
        self
    }

    /// Origins whose pages may call the API.
    pub(crate) fn cors_origins(&self) -> &[String] {
        &self.cors_origins
    }

    /// How long a dashboard session lasts.
    pub(crate) fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    /// Whether session cookies are marked `Secure`.
    pub(crate) fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    /// Whether every request may do everything.
    pub fn is_open(&self) -> bool {
        self.tokens.is_none()
    }

    /// The configured token whose secret is `presented`. Every token is compared, each in
    /// constant time, so that timing tells nothing of which (if any) matched.
    pub(crate) fn find(&self, presented: &str) -> Option<&AccessToken> {
        let digest = TokenDigest::of(presented);
        let mut found = None;
        for token in self.tokens.iter().flatten() {
            if token.digest.matches(&digest) {
                found = Some(token);
            }
        }
        found
    }

    /// Whether `host` (a `Host` header's value) names this server.
    fn answers_to(&self, host: &str) -> bool {
        let Some(allowed) = &self.allowed_hosts else {
            return true;
        };
        // A fully qualified name's trailing dot (`evalboard.example.`) names the same host.
        let name = host_name(host);
        let name = name.strip_suffix('.').unwrap_or(name);
        // A page that rebinds its name to this server sends that name: an address (a teammate
        // opening http://10.0.0.5:8080) cannot be rebound.
        let below_localhost = name
            .len()
            .checked_sub(".localhost".len())
            .and_then(|at| name.get(at..))
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case(".localhost"));
        name.eq_ignore_ascii_case("localhost")
            || below_localhost
            || name.parse::<std::net::IpAddr>().is_ok()
            || allowed
                .iter()
                .any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(name))
    }
}

/// The CORS middleware for `origins`; `None` when there are none (a preflight is then refused
/// like any other unknown method, and answers carry no CORS headers).
pub(crate) fn cors(origins: &[String]) -> Option<actix_cors::Cors> {
    use actix_web::http::{Method, header};
    if origins.is_empty() {
        return None;
    }
    let cors = origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        })
        .allowed_methods([Method::GET, Method::HEAD, Method::POST, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static("idempotency-key"),
        ])
        // What a page on that origin must read to use the API as documented: the stream's
        // position of `GET /runs/active` (to resume the event stream without a gap) and a
        // replayed create's mark among them.
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            crate::request_log::REQUEST_ID,
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        // A same-origin request (the dashboard's own, which browsers send with an `Origin`)
        // is served as usual; other origins simply get no CORS headers.
        .block_on_origin_mismatch(false)
        .max_age(3600);
    Some(cors)
}

/// The address a request was sent to: its `Host` as sent (not `X-Forwarded-Host`, which a page
/// that rebound its name to this address could set), else the request line's authority.
pub(crate) fn request_host(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// The name part of a `Host` value: without the port, and without the brackets of an IPv6
/// address. A value that is not a name and an optional port of digits (`localhost:80.evil.com`,
/// `[::1]x`) is returned whole, so that it names nothing this server answers to.
fn host_name(host: &str) -> &str {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((address, "")) => return address,
            Some((address, after)) => match after.strip_prefix(':') {
                Some(port) => (address, port),
                None => return host,
            },
            None => return host,
        },
        None => match host.rsplit_once(':') {
            Some(pair) => pair,
            None => return host,
        },
    };
    if port.bytes().all(|b| b.is_ascii_digit()) {
        name
    } else {
        host
    }
}

/// Who made a request: a token (by name) and its role, or anyone, on an open server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's name; `None` on an open server.
    pub name: Option<String>,
    /// What the request may do.
    pub role: Role,
    /// When the session it came with ends (`None`: a bearer token, or an open server).
    pub session_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Actor {
    /// The holder of `token`, by its header, or by a session ending at `session_expires_at`.
    pub fn of(
        token: &AccessToken,
        session_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        Self {
            name: Some(token.name.clone()),
            role: token.role,
            session_expires_at,
        }
    }

    /// Whether the request carried a bearer token this server checked: what no page can
    /// attach without the browser asking first (a session cookie, it attaches by itself).
    pub fn by_bearer(&self) -> bool {
        self.name.is_some() && self.session_expires_at.is_none()
    }

    /// Anyone, on a server without authentication.
    pub fn anyone() -> Self {
        Self {
            name: None,
            role: Role::Admin,
            session_expires_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named_as_configured() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for role in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("viewer"));
    }

    #[test]
    fn a_generated_token_is_found_by_its_secret_only() {
        let (secret, token) = AccessToken::generate("ci", Role::Operator);
        assert!(secret.starts_with(TOKEN_PREFIX) && secret.len() > 40);
        let (other_secret, other) = AccessToken::generate("alice", Role::Viewer);
        assert_ne!(secret, other_secret);
        let access = Access::with_tokens(vec![token.clone(), other]);
        assert_eq!(access.find(&secret).map(|t| t.name.as_str()), Some("ci"));
        assert_eq!(
            access.find(&other_secret).map(|t| t.role),
            Some(Role::Viewer)
        );
        assert!(access.find("evb_guess").is_none());
        assert!(access.find(&secret[..secret.len() - 1]).is_none());
        // The digest round-trips through its configured form.
        let hex = token.digest.to_hex();
        assert!(
            TokenDigest::from_hex(&hex)
                .unwrap()
                .matches(&TokenDigest::of(&secret))
        );
        assert!(TokenDigest::from_hex("abc").is_err());
        assert!(!format!("{token:?}").contains(&hex));
    }

    #[test]
    fn a_server_without_tokens_answers_to_addresses_localhost_and_its_public_name_only() {
        let access = Access::open().with_allowed_hosts(vec!["Evalboard.example:8443".into()]);
        for host in [
            "localhost:8080",
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "10.0.0.5:8080",
            "app.localhost:3000",
            "evalboard.example",
            "EVALBOARD.example:443",
            "evalboard.example.",
            "evalboard.example.:8443",
            "localhost.:8080",
        ] {
            assert!(access.answers_to(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "localhost.evil.example",
            "evil.example.",
            ".",
            "",
            // Not a name and a port: the whole value is the name, and it names nothing here.
            "localhost:80.evil.example",
            "127.0.0.1:8080.evil.example",
            "[::1]evil.example",
            "[::1",
        ] {
            assert!(!access.answers_to(host), "{host}");
        }
        assert!(Access::open().answers_to("anything:1"));
    }
}
