//! `HEAD` is answered wherever `GET` is (RFC 9110 §9.3.2: the same status and headers, no
//! body). Actix routes a `GET` route for `GET` alone, so without this a load balancer's or a
//! monitor's `HEAD /healthz` was a 405.

use actix_web::{
    Error, HttpMessage,
    body::{self, BodySize, EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
};

/// Marks a request that came as `HEAD` and is routed as `GET`, so that an answer which names
/// the method (a 405) names the one the client sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SentAsHead;

/// The method a request was sent with, before [`route_as_get`] routed a `HEAD` as `GET`.
pub(crate) fn sent_method(req: &actix_web::HttpRequest) -> Method {
    if req.extensions().contains::<SentAsHead>() {
        Method::HEAD
    } else {
        req.method().clone()
    }
}

/// Routes a `HEAD` request as `GET`; the middlewares around this one still see `HEAD`.
pub(crate) async fn route_as_get<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B, body::None>>, Error> {
    if req.method() != Method::HEAD {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    // `head_mut` needs the only reference to the request: nothing outside this middleware
    // keeps one before the handler runs (as for actix's own `NormalizePath`).
    req.head_mut().method = Method::GET;
    req.extensions_mut().insert(SentAsHead);
    let response = next.call(req).await?;
    // The connection sends no body for a `HEAD` request (actix-http notes the method as it reads
    // the request), but it would still poll a stream's body to its end: an event stream would
    // hold the connection, and its subscription, open for as long as it runs.
    Ok(response.map_body(|_, body| match body.size() {
        BodySize::Stream => EitherBody::right(body::None::new()),
        BodySize::None | BodySize::Sized(_) => EitherBody::left(body),
    }))
}
