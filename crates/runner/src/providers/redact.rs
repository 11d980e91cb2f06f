//! Keeping secrets out of what providers say. A provider that refuses a key often quotes it
//! ("Incorrect API key provided: sk-…"), and one that rejects a request may echo its headers;
//! that text becomes a run's failure, an item's error and log lines. Every configured key, and
//! anything shaped like a bearer token or an API key, is replaced before the text leaves the
//! client.

use std::sync::LazyLock;

use regex::Regex;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Shapes of credentials in free text: `Bearer …`, an `Authorization: Basic …` header (a
/// `base_url` with `user:password@` is sent so), `sk-…` keys (OpenAI, Anthropic), evalboard's
/// own `evb_…` tokens, and `api-key: …`-like pairs. Masked forms (`sk-abc***xyz`) count too.
static TOKEN_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\bbearer\s+[A-Za-z0-9._~+/=*-]{4,}",
        r#"|\bauthorization["']?\s*[:=]\s*[\["']{0,2}\s*basic\s+[A-Za-z0-9+/=._~-]{4,}"#,
        r"|\bsk-[A-Za-z0-9_*-]{4,}",
        r"|\bevb_[A-Za-z0-9_-]{4,}",
        r#"|\b(?:x-api-key|api[_-]?key|access[_-]?token)(?:["']?\s*[:=]\s*["']?|\s+)[A-Za-z0-9._~+/=*-]{8,}"#,
    ))
    .expect("valid pattern")
});

/// The `user:password@` (or a token alone, `TOKEN@`) of a URL (`${1}` keeps its scheme). The
/// user information ends at the authority's end: it holds no `/`, `?`, `#`, quote or space.
static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:?#"'<>]+(?::[^/\s@?#"'<>]*)?@"#)
        .expect("valid pattern")
});

/// Replaces the configured secrets and credential-shaped text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a key containing another is replaced whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// What a URL's query encodes: everything but RFC 3986's unreserved characters.
const URL_ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Secrets shorter than this are not looked for: they would match ordinary words.
const MIN_SECRET_LEN: usize = 4;

impl Redactor {
    /// A redactor of these secrets (blank and very short ones are ignored), in the forms a
    /// provider may echo them in: as they are, URL-encoded, and in base64 (an `Authorization:
    /// Basic` header is the base64 of `user:password`, and is quoted without its header name).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        use base64::Engine;
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .flat_map(|secret| {
                let encoded =
                    percent_encoding::utf8_percent_encode(&secret, URL_ENCODED).to_string();
                let base64 = base64::engine::general_purpose::STANDARD.encode(&secret);
                // Unpadded too: the padding is the part a quote may leave out.
                let unpadded = base64.trim_end_matches('=').to_owned();
                [secret, encoded, base64, unpadded]
            })
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` without any secret.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        let text = URL_USERINFO.replace_all(&text, format!("${{1}}{REDACTED}@"));
        TOKEN_SHAPES.replace_all(&text, REDACTED).into_owned()
    }
}

/// The credentials a provider URL carries (`http://user:password@host/…`, or a token alone,
/// `http://TOKEN@host/…`), percent-decoded, as a request sends them: `user:password` (whose
/// base64 is the `Authorization: Basic` value; a token alone is sent as `TOKEN:`), and the
/// password or token alone when it is long enough not to be a word of ordinary text (a
/// password `pass` would otherwise turn "passed" into "[redacted]ed").
pub(crate) fn url_credentials(url: &str) -> Vec<String> {
    /// The shortest password or token looked for on its own.
    const MIN_BARE_LEN: usize = 8;
    let Ok(url) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let (pair, bare) = match url.password().map(decode) {
        Some(password) => (format!("{user}:{password}"), password),
        None if !user.is_empty() => (format!("{user}:"), user),
        None => return Vec::new(),
    };
    if bare.chars().count() >= MIN_BARE_LEN {
        vec![pair, bare]
    } else {
        vec![pair]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_in_the_forms_they_are_echoed_in() {
        let mut secrets = url_credentials("http://bob:BasicPw-s3cret%219q@127.0.0.1:1/v1");
        secrets.push("pk/\"beta<&>key+9z==".to_owned());
        let redactor = Redactor::new(secrets);
        for said in [
            // Base64 of `bob:BasicPw-s3cret!9q`, as an echoed `Authorization` value.
            "Incorrect API key provided: Basic Ym9iOkJhc2ljUHctczNjcmV0ITlx. headers={}",
            "Incorrect API key provided: Basic Ym9iOkJhc2ljUHctczNjcmV0ITlx",
            "the password BasicPw-s3cret!9q is wrong",
            "key pk%2F%22beta%3C%26%3Ekey%2B9z%3D%3D in the query",
            "b64: cGsvImJldGE8Jj5rZXkrOXo9PQ==",
        ] {
            let kept = redactor.redact(said);
            for secret in ["Ym9iOkJhc2lj", "s3cret", "beta", "cGsvImJldGE8"] {
                assert!(!kept.contains(secret), "{said} → {kept}");
            }
            assert!(kept.contains(REDACTED), "{kept}");
        }
        assert_eq!(
            url_credentials("http://127.0.0.1:1/v1"),
            Vec::<String>::new()
        );
        // A token alone is sent as `TOKEN:` (whose base64 does not start with the token's
        // when its length is 3k + 1).
        assert_eq!(url_credentials("https://tok1234@h/v1"), ["tok1234:"]);
        assert_eq!(
            url_credentials("https://token-1234@h/v1"),
            ["token-1234:", "token-1234"]
        );
        let redactor = Redactor::new(url_credentials("https://tok1234@h/v1"));
        // base64("tok1234:")
        let kept = redactor.redact("echo: Basic dG9rMTIzNDo=");
        assert!(!kept.contains("dG9rMTIzNDo"), "{kept}");
        // A short password is looked for with its user only: ordinary words stay.
        let redactor = Redactor::new(url_credentials("http://bob:pass@h/v1"));
        assert_eq!(
            redactor.redact("the response passed 1 MiB"),
            "the response passed 1 MiB"
        );
        assert!(!redactor.redact("sent bob:pass").contains("bob:pass"));
    }

    #[test]
    fn configured_keys_and_credential_shapes_are_replaced() {
        let redactor = Redactor::new(["plainsecretvalue".to_owned(), String::new()]);
        for (said, kept) in [
            (
                "Incorrect API key provided: sk-proj-AbC123_xyz. You can find your key",
                "Incorrect API key provided: [redacted]. You can find your key",
            ),
            (
                "Incorrect API key provided: sk-abc***********wxyz.",
                "Incorrect API key provided: [redacted].",
            ),
            (
                "bad header Authorization: Bearer eyJhbGciOi.J9-x_y",
                "bad header Authorization: [redacted]",
            ),
            (
                "x-api-key: 0123456789abcdef rejected",
                "[redacted] rejected",
            ),
            (r#"{"api_key": "0123456789abcdef"}"#, r#"{"[redacted]"}"#),
            ("key plainsecretvalue refused", "key [redacted] refused"),
            ("upstream exploded (503)", "upstream exploded (503)"),
            (
                "echo: authorization: Basic dXNlcjpodW50ZXIycHc= host: x",
                "echo: [redacted] host: x",
            ),
            (
                "error sending request for url (http://user:hunter2pw@127.0.0.1:9101/v1)",
                "error sending request for url (http://[redacted]@127.0.0.1:9101/v1)",
            ),
            (
                "Basic authentication is required",
                "Basic authentication is required",
            ),
            (
                "see https://example.com/docs?a=b@c",
                "see https://example.com/docs?a=b@c",
            ),
            (
                r#"{"url":"http://host:8000","contact":"ops@x.com"}"#,
                r#"{"url":"http://host:8000","contact":"ops@x.com"}"#,
            ),
            (
                "fetching https://ghp_abc123token@git.example/x failed",
                "fetching https://[redacted]@git.example/x failed",
            ),
            (
                r#"headers: {"Authorization":["Basic dXNlcjpwYXNz"]}"#,
                r#"headers: {"[redacted]"]}"#,
            ),
            (
                "the answer is (B); task-skipped",
                "the answer is (B); task-skipped",
            ),
        ] {
            assert_eq!(redactor.redact(said), kept, "{said}");
        }
    }
}
