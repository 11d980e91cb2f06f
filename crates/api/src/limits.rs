//! Limits that keep one client from taking the server for itself: a request rate per client
//! (its token, or its address on a server without tokens), concurrent event streams per client,
//! and how long a request body may go without sending a byte. Each is a 429 or a 408 as
//! problem+json; see docs/security.md.

use std::{
    cell::RefCell,
    collections::HashMap,
    future::Future,
    num::NonZeroU32,
    pin::Pin,
    rc::Rc,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    Error, HttpMessage, ResponseError,
    body::{BodySize, BoxBody, EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::Method,
    middleware::Next,
    web::{self, Bytes},
};
use futures_util::StreamExt;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::{auth::Actor, error::ApiError, state::AppState};

/// The limits a server enforces; `None` turns one off.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests per minute per client, and how many may come at once above that pace.
    pub requests_per_minute: Option<(NonZeroU32, NonZeroU32)>,
    /// Event streams (`GET /runs/events`, an item's text stream) open at once per client.
    pub streams_per_client: Option<u32>,
    /// How long a request body may send nothing before the request is refused (408) and its
    /// connection closed.
    pub body_idle_timeout: Duration,
}

impl Default for Limits {
    /// The configuration's defaults: 1,200 requests a minute with bursts of 200, 32 streams,
    /// 10 seconds of silence in a body.
    fn default() -> Self {
        Self {
            requests_per_minute: Some((
                NonZeroU32::new(1_200).expect("not zero"),
                NonZeroU32::new(200).expect("not zero"),
            )),
            streams_per_client: Some(32),
            body_idle_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// No limit on rates or streams (a body may still not go silent for long).
    pub fn none() -> Self {
        Self {
            requests_per_minute: None,
            streams_per_client: None,
            ..Self::default()
        }
    }
}

/// The limits with their running state, shared by every worker of the server.
pub(crate) struct Enforcer {
    limits: Limits,
    rates: Option<DefaultKeyedRateLimiter<String>>,
    streams: Arc<Mutex<HashMap<String, u32>>>,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Enforcer {
    pub(crate) fn new(limits: Limits) -> Self {
        let rates = limits.requests_per_minute.map(|(per_minute, burst)| {
            RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        });
        Self {
            limits,
            rates,
            streams: Arc::default(),
        }
    }

    /// A 429 when `client` has used up its requests, saying when to come back.
    fn admit(&self, client: &str) -> Result<(), ApiError> {
        let Some(rates) = &self.rates else {
            return Ok(());
        };
        // Clients that have been quiet long enough to be back at a full burst need no entry.
        if rates.len() > 10_000 {
            rates.retain_recent();
        }
        rates.check_key(&client.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                detail: format!(
                    "too many requests from {client}: at most {} a minute; try again shortly",
                    self.limits
                        .requests_per_minute
                        .map_or(0, |(per_minute, _)| per_minute.get())
                ),
                retry_after_secs: wait.as_secs() + 1,
            }
        })
    }

    /// A slot for one more stream of `client`, given back when the guard is dropped.
    fn open_stream(&self, client: &str) -> Result<StreamSlot, ApiError> {
        let mut open = self.streams.lock().expect("not poisoned");
        let count = open.entry(client.to_owned()).or_default();
        if let Some(most) = self.limits.streams_per_client
            && *count >= most
        {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "{client} already has {most} event streams open, the most one client may; \
                     close one first"
                ),
                retry_after_secs: 5,
            });
        }
        *count += 1;
        metrics::gauge!("evalboard_event_stream_subscribers").increment(1);
        Ok(StreamSlot {
            client: client.to_owned(),
            streams: Arc::clone(&self.streams),
        })
    }
}

/// One open stream of a client.
struct StreamSlot {
    client: String,
    streams: Arc<Mutex<HashMap<String, u32>>>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        metrics::gauge!("evalboard_event_stream_subscribers").decrement(1);
        let mut open = self.streams.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Who the limits count a request against: its token, or (on a server without tokens) its
/// address.
fn client_of(req: &ServiceRequest) -> String {
    match req.extensions().get::<Actor>().and_then(|a| a.name.clone()) {
        Some(name) => format!("token `{name}`"),
        None => req.peer_addr().map_or_else(
            || "this client".to_owned(),
            |a| format!("address {}", a.ip()),
        ),
    }
}

/// Whether a request opens an event stream.
fn is_stream(req: &ServiceRequest) -> bool {
    req.method() == Method::GET
        && (crate::auth::routed_path(req) == "/runs/events"
            || (crate::auth::routed_path(req).starts_with("/runs/")
                && crate::auth::routed_path(req).ends_with("/stream")))
}

/// Applies the limits: the request rate (health checks aside), the streams open, and a body
/// that goes silent.
pub(crate) async fn limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("the application has its state");
    let enforcer = state.limits();
    let client = client_of(&req);
    let health = matches!(crate::auth::routed_path(&req), "/healthz" | "/readyz");
    if !health && let Err(refusal) = enforcer.admit(&client) {
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body());
    }
    let slot = if is_stream(&req) {
        match enforcer.open_stream(&client) {
            Ok(slot) => Some(slot),
            Err(refusal) => {
                return Ok(req
                    .into_response(refusal.error_response())
                    .map_into_right_body());
            }
        }
    } else {
        None
    };
    // The body is read through a timer; and the request's own payload is held until the answer
    // has gone: actix closes a connection whose body was not read to its end when the payload
    // is still held, where it would otherwise read (drain) all of a refused body — gigabytes,
    // if the client keeps sending.
    let payload = Rc::new(RefCell::new(req.take_payload()));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Silence::new(
            Rc::clone(&payload),
            enforcer.limits.body_idle_timeout,
        )),
    });
    let response = next.call(req).await?.map_into_boxed_body();
    Ok(response
        .map_body(|_, body| {
            BoxBody::new(Guarded {
                body,
                _slot: slot,
                _payload: payload,
            })
        })
        .map_into_left_body())
}

/// A request body that fails once it has sent nothing for `idle`.
struct Silence {
    payload: Rc<RefCell<Payload>>,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Silence {
    fn new(payload: Rc<RefCell<Payload>>, idle: Duration) -> Self {
        Self {
            payload,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl futures_util::Stream for Silence {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.payload.borrow_mut().poll_next_unpin(cx);
        match polled {
            Poll::Ready(item) => {
                let deadline = tokio::time::Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(item)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the body sent nothing for too long",
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// A response body holding what must live as long as the answer: a stream's slot, and the
/// request's payload.
struct Guarded {
    body: BoxBody,
    _slot: Option<StreamSlot>,
    _payload: Rc<RefCell<Payload>>,
}

impl MessageBody for Guarded {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}
