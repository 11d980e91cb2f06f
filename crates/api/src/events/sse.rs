//! Server-Sent Events on the wire: events formatted once into shared bytes, and the response
//! body that writes what a subscriber's feed queues (writes of shared pieces, each sent as one
//! chunk), with heartbeats while it is quiet.
//!
//! actix-web-lab's `Sse` formats every event for every connection; with many subscribers the
//! stream's cost is that formatting. Here an event is formatted once (without its `id` line,
//! which may differ per subscriber) and every connection gets the same `Bytes`.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    HttpResponse,
    body::{BodySize, MessageBody},
    http::header::{CacheControl, CacheDirective, ContentEncoding},
    web::{Bytes, BytesMut},
};
use tokio::sync::mpsc;

/// `event: {name}` and the `data:` lines of `json`, ended by the blank line; no `id`.
pub(crate) fn event_body(name: &str, json: &str) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + name.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    // Serialized JSON holds no raw newline, but a payload that did would still arrive whole.
    for line in json.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    Bytes::from(out)
}

/// Appends an event's `id` line and its `body` to `out`.
pub(crate) fn push_event(out: &mut Vec<u8>, id: u64, body: &[u8]) {
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
}

/// An event with its `id` line.
pub(crate) fn with_id(id: u64, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(body.len() + 24);
    push_event(&mut out, id, body);
    Bytes::from(out)
}

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// One write to a subscriber's connection: pieces of shared bytes, sent as one chunk.
pub(crate) type Pieces = Vec<Bytes>;

/// The `text/event-stream` response whose body is what arrives on `writes`: a comment at once
/// (so proxies and clients see the response begin), then after every `heartbeat` without data.
/// The stream ends when the sender is dropped.
pub(crate) fn response(writes: mpsc::Receiver<Pieces>, heartbeat: Duration) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(ContentEncoding::Identity)
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(EventStreamBody {
            writes,
            heartbeat: tokio::time::interval(heartbeat),
        })
}

struct EventStreamBody {
    writes: mpsc::Receiver<Pieces>,
    heartbeat: tokio::time::Interval,
}

/// A write's pieces as one chunk of the response. They stay shared while the write is queued;
/// joined only as it is sent (a client reads one chunk per write, not one per event), except a
/// piece sent alone, such as a board batch.
pub(crate) fn joined(mut write: Pieces) -> Bytes {
    if write.len() == 1 {
        return write.swap_remove(0);
    }
    let mut chunk = BytesMut::with_capacity(write.iter().map(Bytes::len).sum());
    for piece in &write {
        chunk.extend_from_slice(piece);
    }
    chunk.freeze()
}

impl MessageBody for EventStreamBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        loop {
            match self.writes.poll_recv(cx) {
                Poll::Ready(Some(write)) if write.is_empty() => {}
                Poll::Ready(Some(write)) => {
                    self.heartbeat.reset();
                    return Poll::Ready(Some(Ok(joined(write))));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    return match self.heartbeat.poll_tick(cx) {
                        Poll::Ready(_) => Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE)))),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_formatted_as_the_event_stream_format_says() {
        let body = event_body("run_item", r#"{"a":1}"#);
        assert_eq!(&body[..], b"event: run_item\ndata: {\"a\":1}\n\n");
        assert_eq!(
            &with_id(42, &body)[..],
            b"id: 42\nevent: run_item\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            &event_body("x", "a\nb")[..],
            b"event: x\ndata: a\ndata: b\n\n",
            "every line of the data is a data line"
        );
    }

    #[actix_web::test]
    async fn the_body_sends_a_comment_at_once_then_writes_then_heartbeats_while_quiet() {
        let (sender, frames) = mpsc::channel(4);
        let response = response(frames, Duration::from_millis(30));
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap(),
            "text/event-stream"
        );
        let mut body = std::pin::pin!(response.into_body());
        let mut next = async || {
            std::future::poll_fn(|cx| body.as_mut().poll_next(cx))
                .await
                .unwrap()
                .unwrap()
        };
        assert_eq!(&next().await[..], KEEP_ALIVE);
        sender
            .send(vec![
                Bytes::from_static(b"id: 1\n\n"),
                Bytes::from_static(b"id: 2\n\n"),
            ])
            .await
            .unwrap();
        assert_eq!(
            &next().await[..],
            b"id: 1\n\nid: 2\n\n",
            "a write's pieces, in order, in one chunk"
        );
        let alone = Bytes::from(b"id: 3\n\n".to_vec());
        sender.send(vec![alone.clone()]).await.unwrap();
        assert_eq!(
            next().await.as_ptr(),
            alone.as_ptr(),
            "a piece sent alone is not copied"
        );
        assert_eq!(
            &next().await[..],
            KEEP_ALIVE,
            "a heartbeat after a quiet spell"
        );
        drop(sender);
        let end = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
        assert!(end.is_none(), "the stream ends with its feed");
    }
}
