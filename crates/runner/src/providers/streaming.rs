//! What the HTTP clients share: building a client with timeouts, mapping status codes to
//! [`ProviderError`]s, reading `Retry-After`, and pulling server-sent events with an idle timeout.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use reqwest::{Response, StatusCode, header::HeaderMap};
use sse_stream::{Sse, SseByteStream};

use super::{client::ProviderError, registry::ProviderLimitsConfig};

/// Longest `Retry-After` honoured; a provider asking for more is waited for this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Most bytes of an error response read for its message (of which 300 characters are kept).
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Why a response body could not be read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error(transparent)]
    Read(#[from] reqwest::Error),
    #[error("the response passed {} MiB", .0 >> 20)]
    TooLarge(usize),
}

impl BodyError {
    fn too_large(most: usize) -> ProviderError {
        ProviderError::TooLarge(format!(
            "{}: a model that does not stop, or an answer longer than the provider's \
             max_response_mib (generation.maxTokens bounds it)",
            Self::TooLarge(most)
        ))
    }
}

/// The response body, cut off with [`BodyError::TooLarge`] past `most` bytes.
fn capped_body(
    response: Response,
    most: usize,
) -> impl Stream<Item = Result<bytes::Bytes, BodyError>> {
    let mut read = 0;
    response.bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        read += chunk.len();
        if read > most {
            Err(BodyError::TooLarge(most))
        } else {
            Ok(chunk)
        }
    })
}

/// Whether a response is a stream of events, as asked: a server that ignored `stream: true`
/// answers with one JSON document instead (a response naming no type is taken as a stream).
pub(super) fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|t| t.starts_with("text/event-stream"))
}

/// The response body up to `most` bytes, and why it stopped short if it did.
async fn read_capped(response: Response, most: usize) -> (Vec<u8>, Option<BodyError>) {
    let mut body = Vec::new();
    let mut chunks = Box::pin(capped_body(response, most));
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(error) => return (body, Some(error)),
        }
    }
    (body, None)
}

/// The whole response body, at most `most` bytes of it (the provider's `max_response_mib`).
pub(super) async fn whole_body(response: Response, most: usize) -> Result<Vec<u8>, ProviderError> {
    match read_capped(response, most).await {
        (body, None) => Ok(body),
        (_, Some(BodyError::TooLarge(most))) => Err(BodyError::too_large(most)),
        (_, Some(BodyError::Read(error))) => Err(network_error(error)),
    }
}

/// An HTTP client with the provider's connection and total timeouts.
pub(super) fn http_client(limits: &ProviderLimitsConfig) -> reqwest::Client {
    reqwest::Client::builder()
        // Named, as API clients are expected to be (a provider's logs and abuse checks read it).
        .user_agent(concat!("evalboard/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.total_timeout)
        .pool_max_idle_per_host(limits.max_concurrency as usize)
        .build()
        .unwrap_or_default()
}

/// Sends a request, waiting at most `first_byte` for the response headers, and turns error
/// statuses into provider errors (reading the body for the message).
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    first_byte: Duration,
) -> Result<Response, ProviderError> {
    let response = tokio::time::timeout(first_byte, request.send())
        .await
        .map_err(|_| {
            ProviderError::Timeout(format!("no response within {}s", first_byte.as_secs()))
        })?
        .map_err(network_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let body = tokio::time::timeout(Duration::from_secs(5), error_body(response))
        .await
        .unwrap_or_default();
    let message = error_message(&body, status);
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            message,
            retry_after,
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ProviderError::Unauthorized(message),
        StatusCode::NOT_FOUND => ProviderError::NotFound(message),
        s if s.is_server_error() => ProviderError::Server {
            status: s.as_u16(),
            message,
        },
        s => ProviderError::Rejected {
            status: s.as_u16(),
            message,
        },
    })
}

/// The start of an error response's body: enough for its message, however much it sends.
async fn error_body(response: Response) -> String {
    let (body, _) = read_capped(response, MAX_ERROR_BYTES).await;
    String::from_utf8_lossy(&body).into_owned()
}

/// The error text of a JSON error body (`{"error": {"message": ...}}`), else the body itself,
/// cut short.
fn error_message(body: &str, status: StatusCode) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str().map(str::to_owned))
        });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    let text: String = text.chars().take(300).collect();
    if text.is_empty() {
        status.to_string()
    } else {
        text
    }
}

/// `Retry-After` as seconds or an HTTP date (any of the three forms HTTP allows), capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = if let Ok(seconds) = value.parse::<f64>() {
        Duration::try_from_secs_f64(seconds.max(0.0)).ok()?
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

pub(super) fn network_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout(error.to_string())
    } else {
        ProviderError::Network(with_causes(&error.without_url()))
    }
}

/// An error with the causes under it: reqwest says only "error sending request", and why
/// (connection refused, a name that does not resolve, a certificate) is in its sources. A cause
/// whose words are already said is not repeated.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut said = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !said.contains(&text) {
            said.push_str(": ");
            said.push_str(&text);
        }
        source = cause.source();
    }
    said
}

/// The response body as server-sent events, at most `most` bytes of it. (Parsed in time linear in the body, however many
/// events a read brings: a provider that answers in one burst sends hundreds at once.)
pub(super) fn events(
    response: Response,
    most: usize,
) -> impl Stream<Item = Result<Sse, ProviderError>> {
    SseByteStream::new(capped_body(response, most)).map(|event| {
        event.map_err(|e| match e {
            sse_stream::Error::Body(source) => match source.downcast_ref::<BodyError>() {
                Some(BodyError::TooLarge(most)) => BodyError::too_large(*most),
                Some(BodyError::Read(e)) if e.is_timeout() => {
                    ProviderError::Timeout(format!("the request took too long: {e}"))
                }
                _ => ProviderError::StreamCut(format!("the stream broke: {source}")),
            },
            other => ProviderError::Malformed(other.to_string()),
        })
    })
}

/// The next event, or a timeout when the stream stays silent for `idle`.
pub(super) async fn next_event<S>(
    events: &mut S,
    idle: Duration,
) -> Result<Option<Sse>, ProviderError>
where
    S: Stream<Item = Result<Sse, ProviderError>> + Unpin,
{
    match tokio::time::timeout(idle, events.next()).await {
        Err(_) => Err(ProviderError::Timeout(format!(
            "no data for {}s",
            idle.as_secs()
        ))),
        Ok(None) => Ok(None),
        Ok(Some(event)) => event.map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_says_it_was_refused() {
        // A port just bound and closed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .send()
            .await
            .unwrap_err();
        let ProviderError::Network(message) = network_error(error) else {
            panic!("not a network error");
        };
        assert!(message.starts_with("error sending request"), "{message}");
        assert!(message.contains("Connection refused"), "{message}");
        assert!(!message.contains("127.0.0.1"), "no address: {message}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after", "0.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert("retry-after", "100000".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        headers.insert("retry-after", soon.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        // The obsolete forms HTTP still requires a recipient to read; dates past mean now.
        for past in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            headers.insert("retry-after", past.parse().unwrap());
            assert_eq!(retry_after(&headers), Some(Duration::ZERO), "{past}");
        }
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn error_messages_come_from_json_bodies() {
        let body = r#"{"error": {"message": "Rate limit reached", "type": "requests"}}"#;
        assert_eq!(
            error_message(body, StatusCode::TOO_MANY_REQUESTS),
            "Rate limit reached"
        );
        assert_eq!(
            error_message("", StatusCode::BAD_GATEWAY),
            "502 Bad Gateway"
        );
        assert_eq!(error_message("plain", StatusCode::BAD_GATEWAY), "plain");
    }
}
