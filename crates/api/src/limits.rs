//! Limits that keep one client from taking the server for itself: a request rate per client
//! (its token, or its address on a server without tokens), concurrent event streams per client,
//! and how long a request body may go without sending a byte. Each is a 429 or a 408 as
//! problem+json; see docs/security.md.

use std::{
    cell::RefCell,
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    pin::Pin,
    rc::Rc,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
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

use ipnet::IpNet;

use crate::{auth::Actor, error::ApiError, state::AppState};

/// The limits a server enforces; `None` turns one off.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests per minute per client, and how many may come at once above that pace.
    pub requests_per_minute: Option<(NonZeroU32, NonZeroU32)>,
    /// Event streams (`GET /runs/events`, an item's text stream) open at once per client.
    pub streams_per_client: Option<u32>,
    /// How long a request body may send nothing before the request is refused (408) and its
    /// connection closed; also the grace a body has before [`Limits::body_min_bytes_per_sec`]
    /// applies.
    pub body_idle_timeout: Duration,
    /// The least average pace of a request body, counted from when its handler starts reading
    /// it, once `body_idle_timeout` has passed (408 below it): a byte now and then keeps a body
    /// from going silent, and would otherwise hold a connection for ever.
    pub body_min_bytes_per_sec: u32,
    /// Reverse proxies whose `X-Forwarded-For` says whose request it is: a request from one
    /// counts against the address the proxy received it from (from any other peer the header is
    /// ignored, as a client can write it).
    pub trusted_proxies: Vec<IpNet>,
}

impl Limits {
    /// No limit on rates or streams; a body may still not go silent for more than 10 s. (The
    /// server's defaults are in its configuration.)
    pub fn none() -> Self {
        Self {
            requests_per_minute: None,
            streams_per_client: None,
            body_idle_timeout: Duration::from_secs(10),
            body_min_bytes_per_sec: 1024,
            trusted_proxies: Vec::new(),
        }
    }
}

/// A network of `http.trusted_proxies`: an address (`10.0.0.5`, `::1`) or a network in CIDR
/// notation (`10.0.0.0/8`); `None` for anything else.
pub fn proxy_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The address a request came from: its peer's, unless the peer is one of the `trusted`
/// proxies — then the address that proxy says it received the request from, the last entry of
/// `X-Forwarded-For` (`forwarded_for`, its entries in order, every header's), and so on
/// leftwards while that one is a trusted proxy too. Each proxy appends the address it received
/// the request from, so the entries left of the first untrusted one are whatever the client
/// wrote itself and are never read; an entry that is not an address stops the walk at the
/// proxy that passed it on.
fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    let mut client = peer.to_canonical();
    for entry in forwarded_for.iter().rev() {
        if !is_trusted(&client) {
            break;
        }
        match forwarded_address(entry) {
            Some(address) => client = address.to_canonical(),
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` entry as an address: `203.0.113.7`, `2001:db8::1`, or either with a
/// port as some proxies write it (`203.0.113.7:41234`, `[2001:db8::1]:41234`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The limits with their running state, shared by every worker of the server.
pub(crate) struct Enforcer {
    limits: Limits,
    rates: Option<DefaultKeyedRateLimiter<String>>,
    /// Requests admitted, so that forgetting quiet clients is looked at now and then only.
    admitted: AtomicU32,
    /// Long answers open now, by kind and client.
    open: Arc<Mutex<HashMap<(LongAnswer, String), u32>>>,
}

/// An answer that lasts: it holds a slot of its client's while it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LongAnswer {
    /// `GET /runs/events`, an item's text stream: as long as the client stays.
    EventStream,
    /// An export (`GET /runs/{id}/export`, `GET /runs?format=csv`): it keeps one of the
    /// server's blocking threads while the client reads it, however slowly.
    Download,
    /// A request that may send a body (any method but GET and HEAD): it holds a connection for
    /// as long as its body takes to come, up to a 64 KiB JSON body's minute at the least pace.
    /// Without a bound, one client trickling bodies within its request rate held ~1,450
    /// connections at once — more than a process's file descriptors.
    Upload,
}

/// Exports one client may have running at once (a 429 beyond).
const DOWNLOADS_PER_CLIENT: u32 = 4;

/// Requests with a body one client may have in progress at once (a 429 beyond): far more than
/// a dashboard, the CLI or a script creating runs in parallel sends.
const UPLOADS_PER_CLIENT: u32 = 32;

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
            admitted: AtomicU32::new(0),
            open: Arc::default(),
        }
    }

    /// Who the limits count `req` against: its token, or (on a server without tokens) the
    /// address it came from ([`client_address`]).
    fn client_of(&self, req: &ServiceRequest) -> String {
        if let Some(name) = req
            .extensions()
            .get::<Actor>()
            .and_then(|a| a.name.as_deref())
        {
            return format!("token `{name}`");
        }
        let Some(peer) = req.peer_addr() else {
            return "this client".to_owned();
        };
        let trusted = &self.limits.trusted_proxies;
        let address = if trusted.is_empty() {
            peer.ip().to_canonical()
        } else {
            let entries: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .collect();
            client_address(peer.ip(), &entries, trusted)
        };
        format!("address {address}")
    }

    /// A 429 when `client` has used up its requests, saying when to come back.
    fn admit(&self, client: &String) -> Result<(), ApiError> {
        let Some(rates) = &self.rates else {
            return Ok(());
        };
        // Clients that have been quiet long enough to be back at a full burst need no entry
        // (counting the entries locks every shard: once in 1,024 requests).
        if self
            .admitted
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1_024)
            && rates.len() > 10_000
        {
            rates.retain_recent();
        }
        rates.check_key(client).map_err(|not_until| {
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

    /// A slot for one more long answer of `client`, given back when the guard is dropped.
    fn open_slot(&self, kind: LongAnswer, client: &str) -> Result<Slot, ApiError> {
        let (most, what) = match kind {
            LongAnswer::EventStream => (self.limits.streams_per_client, "event streams open"),
            LongAnswer::Download => (Some(DOWNLOADS_PER_CLIENT), "exports running"),
            LongAnswer::Upload => (Some(UPLOADS_PER_CLIENT), "requests with a body in progress"),
        };
        let key = (kind, client.to_owned());
        let mut open = self.open.lock().expect("not poisoned");
        let count = open.entry(key.clone()).or_default();
        if let Some(most) = most
            && *count >= most
        {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "{client} already has {most} {what}, the most one client may; close one \
                     first"
                ),
                retry_after_secs: 5,
            });
        }
        *count += 1;
        if kind == LongAnswer::EventStream {
            metrics::gauge!(SUBSCRIBERS).increment(1);
        }
        Ok(Slot {
            key,
            open: Arc::clone(&self.open),
        })
    }
}

/// Event streams open now.
pub(crate) const SUBSCRIBERS: &str = "evalboard_event_stream_subscribers";

/// One long answer of a client, open.
struct Slot {
    key: (LongAnswer, String),
    open: Arc<Mutex<HashMap<(LongAnswer, String), u32>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.key.0 == LongAnswer::EventStream {
            metrics::gauge!(SUBSCRIBERS).decrement(1);
        }
        let mut open = self.open.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The long answer a request asks for, if any.
fn long_answer(req: &ServiceRequest) -> Option<LongAnswer> {
    if req.method() != Method::GET {
        // (A HEAD is answered as a GET by then, and sends no body.)
        return (req.method() != Method::HEAD).then_some(LongAnswer::Upload);
    }
    let path = crate::auth::routed_path(req);
    if path == "/runs/events" || (path.starts_with("/runs/") && path.ends_with("/stream")) {
        Some(LongAnswer::EventStream)
    } else if (path.starts_with("/runs/") && path.ends_with("/export"))
        || (path == "/runs" && req.query_string().split('&').any(|p| p == "format=csv"))
    {
        Some(LongAnswer::Download)
    } else {
        None
    }
}

/// Whether the request rate applies to `path`: to everything but the health checks (which a
/// load balancer asks for often). The OpenAPI document declares the 429 by the same rule.
pub(crate) fn rate_limited(path: &str) -> bool {
    !matches!(path, "/healthz" | "/readyz")
}

/// Counts a request refused before the limits ran (a wrong token, a name the server does not
/// answer to) against its address, so that guessing is bounded like any other traffic: the 429
/// when the address is over its rate.
pub(crate) fn admit_refused(req: &ServiceRequest, state: &AppState) -> Result<(), ApiError> {
    if !rate_limited(crate::auth::routed_path(req)) {
        return Ok(());
    }
    let enforcer = state.limits();
    enforcer.admit(&enforcer.client_of(req))
}

/// Applies the request rate, and the streams, exports and requests with a body a client may
/// have open at once.
pub(crate) async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<EitherBody<impl MessageBody, BoxBody>>>, Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("the application has its state");
    let enforcer = state.limits();
    let client = enforcer.client_of(&req);
    if rate_limited(crate::auth::routed_path(&req))
        && let Err(refusal) = enforcer.admit(&client)
    {
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body());
    }
    let Some(kind) = long_answer(&req) else {
        return Ok(next
            .call(req)
            .await?
            .map_body(|_, body| EitherBody::left(body))
            .map_into_left_body());
    };
    let slot = match enforcer.open_slot(kind, &client) {
        Ok(slot) => slot,
        Err(refusal) => {
            return Ok(req
                .into_response(refusal.error_response())
                .map_into_right_body());
        }
    };
    // The slot is given back when the answer's body is dropped (sent, the client left, or the
    // server stops).
    Ok(next
        .call(req)
        .await?
        .map_body(|_, body| {
            EitherBody::right(BoxBody::new(Holding {
                body: BoxBody::new(body),
                _held: slot,
            }))
        })
        .map_into_left_body())
}

/// Reads a request's body through a timer (a body silent for `http.body_idle_timeout_secs` is
/// refused), and holds the request's own payload until the answer has gone: actix closes a
/// connection whose body was not read to its end while the payload is held, where it would
/// otherwise read (drain) all of a refused body — gigabytes, if the client keeps sending. It
/// wraps every check (a 401, 421 or 429 refuses a body unread too), so it sits just inside the
/// request log.
pub(crate) async fn hold_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, Error> {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        req.set_payload(payload);
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let limits = &req
        .app_data::<web::Data<AppState>>()
        .expect("the application has its state")
        .limits()
        .limits;
    let (idle, min_rate) = (limits.body_idle_timeout, limits.body_min_bytes_per_sec);
    let payload = Rc::new(RefCell::new(payload));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Silence::new(Rc::clone(&payload), idle, min_rate)),
    });
    Ok(next
        .call(req)
        .await?
        .map_body(|_, body| {
            BoxBody::new(Holding {
                body: BoxBody::new(body),
                _held: payload,
            })
        })
        .map_into_right_body())
}

/// A request body that fails once it has sent nothing for `idle`, or, past `idle` from when it
/// was first read, once it has sent less than `min_rate` bytes a second on average (a client
/// sending a byte every few seconds, never silent for long, held its connection for ever; many
/// such held every connection the process could open).
struct Silence {
    payload: Rc<RefCell<Payload>>,
    idle: Duration,
    min_rate: u32,
    /// When the body was first read (its handler may wait before it reads, e.g. for memory,
    /// while TCP holds the client back: not the client's slowness), and how much came since.
    started: Option<tokio::time::Instant>,
    received: u64,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Silence {
    fn new(payload: Rc<RefCell<Payload>>, idle: Duration, min_rate: u32) -> Self {
        Self {
            payload,
            idle,
            min_rate,
            started: None,
            received: 0,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn deadline(
        &self,
        started: tokio::time::Instant,
        now: tokio::time::Instant,
    ) -> tokio::time::Instant {
        body_deadline(started, now, self.received, self.idle, self.min_rate)
    }
}

impl futures_util::Stream for Silence {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let now = tokio::time::Instant::now();
        let started = match self.started {
            Some(started) => started,
            None => {
                // The clock starts at the first read, not when the request came in.
                self.started = Some(now);
                let deadline = self.deadline(now, now);
                self.timer.as_mut().reset(deadline);
                now
            }
        };
        let polled = self.payload.borrow_mut().poll_next_unpin(cx);
        match polled {
            Poll::Ready(item) => {
                if let Some(Ok(chunk)) = &item {
                    self.received += chunk.len() as u64;
                }
                let deadline = self.deadline(started, now);
                self.timer.as_mut().reset(deadline);
                Poll::Ready(item)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the body sent nothing, or too little, for too long",
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// When a body read since `started`, `received` bytes so far (the last at `last`), fails if
/// nothing more comes: after `idle` of silence, or when what came falls below `min_rate` bytes
/// a second on average (never before `idle` from its start).
fn body_deadline<I>(started: I, last: I, received: u64, idle: Duration, min_rate: u32) -> I
where
    I: std::ops::Add<Duration, Output = I> + Ord + Copy,
{
    let paced = Duration::from_secs_f64(received as f64 / f64::from(min_rate.max(1)));
    (last + idle).min(started + paced.max(idle))
}

/// A response body holding what must live as long as the answer: a stream's slot, or the
/// request's payload.
struct Holding<T> {
    body: BoxBody,
    _held: T,
}

impl<T: Unpin> MessageBody for Holding<T> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_trusted_proxy_names_the_client_and_nothing_else_does() {
        let trusted: Vec<IpNet> = ["127.0.0.1", "10.0.0.0/8", "fd00::/8"]
            .iter()
            .map(|t| proxy_network(t).unwrap())
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let client = |peer: &str, header: &[&str]| client_address(ip(peer), header, &trusted);
        // Behind one proxy: the address it received the request from.
        assert_eq!(client("127.0.0.1", &["203.0.113.7"]), ip("203.0.113.7"));
        // What the client wrote itself, left of what the proxy appended, is never read.
        assert_eq!(
            client("127.0.0.1", &["198.51.100.1", " 203.0.113.7"]),
            ip("203.0.113.7")
        );
        // Behind two trusted proxies, and with a port as some proxies write it.
        assert_eq!(
            client(
                "127.0.0.1",
                &["198.51.100.1", "203.0.113.7:41234", "10.1.2.3"]
            ),
            ip("203.0.113.7")
        );
        assert_eq!(client("fd00::2", &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        // A peer that is not a trusted proxy is the client, whatever it says.
        assert_eq!(client("192.0.2.9", &["203.0.113.7"]), ip("192.0.2.9"));
        // No header, or an entry that is not an address: the last trusted proxy.
        assert_eq!(client("10.0.0.5", &[]), ip("10.0.0.5"));
        assert_eq!(client("10.0.0.5", &["unknown"]), ip("10.0.0.5"));
        assert_eq!(
            client("127.0.0.1", &["203.0.113.7", "garbage", "10.0.0.5"]),
            ip("10.0.0.5")
        );
        // An IPv4 peer seen through an IPv6 socket is still the IPv4 proxy.
        assert_eq!(
            client("::ffff:127.0.0.1", &["203.0.113.7"]),
            ip("203.0.113.7")
        );
        for refused in ["", "localhost", "10.0.0.0/33", "http://10.0.0.1"] {
            assert_eq!(proxy_network(refused), None, "{refused}");
        }
    }

    #[test]
    fn a_body_fails_when_silent_or_below_the_least_pace() {
        use std::time::Duration as D;
        let deadline = |last: u64, received: u64| {
            super::body_deadline(
                D::ZERO,
                D::from_secs(last),
                received,
                D::from_secs(10),
                1024,
            )
        };
        // Nothing yet: the idle time, from the first read.
        assert_eq!(deadline(0, 0), D::from_secs(10));
        // A byte now and then: the grace, however recent the byte.
        assert_eq!(deadline(9, 9), D::from_secs(10));
        // At the pace, the body may go on for as long as its bytes pay for, silence aside.
        assert_eq!(deadline(30, 40 * 1024), D::from_secs(40));
        assert_eq!(deadline(30, 100 * 1024), D::from_secs(40));
        // Below it, it fails when its average does.
        assert_eq!(deadline(30, 20 * 1024), D::from_secs(20));
    }

    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn exports_streams_and_bodies_are_what_holds_a_slot() {
        let kind = |request: TestRequest| long_answer(&request.to_srv_request());
        assert_eq!(
            kind(TestRequest::get().uri("/runs/events")),
            Some(LongAnswer::EventStream)
        );
        assert_eq!(
            kind(TestRequest::get().uri("/runs/r1/items/3/stream")),
            Some(LongAnswer::EventStream)
        );
        assert_eq!(
            kind(TestRequest::get().uri("/runs/r1/export?format=csv")),
            Some(LongAnswer::Download)
        );
        assert_eq!(
            kind(TestRequest::get().uri("/runs?status=failed&format=csv")),
            Some(LongAnswer::Download)
        );
        assert_eq!(kind(TestRequest::get().uri("/runs?limit=5")), None);
        // Anything that may send a body holds one while it comes.
        assert_eq!(
            kind(TestRequest::post().uri("/runs/r1/export")),
            Some(LongAnswer::Upload)
        );
        assert_eq!(
            kind(TestRequest::delete().uri("/auth/session")),
            Some(LongAnswer::Upload)
        );
        assert_eq!(
            kind(TestRequest::default().method(Method::HEAD).uri("/runs")),
            None
        );
    }

    #[test]
    fn a_client_runs_a_few_exports_at_once_beside_its_streams() {
        let enforcer = Enforcer::new(Limits {
            streams_per_client: Some(1),
            ..Limits::none()
        });
        let downloads: Vec<Slot> = (0..DOWNLOADS_PER_CLIENT)
            .map(|_| {
                enforcer
                    .open_slot(LongAnswer::Download, "token `ci`")
                    .unwrap()
            })
            .collect();
        let refused = enforcer
            .open_slot(LongAnswer::Download, "token `ci`")
            .err()
            .unwrap();
        assert!(refused.to_string().contains("exports running"), "{refused}");
        // Another client, and this client's streams, are counted apart.
        enforcer
            .open_slot(LongAnswer::Download, "token `other`")
            .unwrap();
        let _stream = enforcer
            .open_slot(LongAnswer::EventStream, "token `ci`")
            .unwrap();
        drop(downloads);
        enforcer
            .open_slot(LongAnswer::Download, "token `ci`")
            .unwrap();
    }
}
