//! Helpers for tests of the API and of servers built on it (enabled by the `testing` feature):
//! reading the event stream as a browser does.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};

/// An event as a browser's `EventSource` delivers it.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// Its name (`message` when the stream gives none).
    pub event: String,
    /// Its data.
    pub data: String,
    /// Its id (empty when it has none).
    pub id: String,
}

/// The events of a `text/event-stream` body as a browser's `EventSource` delivers them:
/// blocks without data (the heartbeat comments) are skipped. Panics on a malformed stream.
pub fn sse_events<S, B, E>(body: S) -> Pin<Box<dyn Stream<Item = SseEvent>>>
where
    S: Stream<Item = Result<B, E>> + 'static,
    B: bytes::Buf + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    Box::pin(sse_stream::SseByteStream::new(body).filter_map(|event| {
        let event = event.expect("a well-formed event stream");
        std::future::ready(event.data.map(|data| SseEvent {
            event: event.event.unwrap_or_else(|| "message".into()),
            data,
            id: event.id.unwrap_or_default(),
        }))
    }))
}
