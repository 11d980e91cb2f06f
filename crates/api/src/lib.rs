#![doc = include_str!("../README.md")]

mod auth;
mod base_path;
mod body;
mod csv_cells;
mod cursor;
mod dashboard;
pub mod dto;
mod encoding;
mod error;
mod events;
mod fallback;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handlers;
mod head;
mod limits;
mod openapi;
mod params;
mod request_log;
mod serde_message;
mod signed;
mod state;
mod streaming;
#[cfg(feature = "testing")]
pub mod testing;

use actix_web::{
    App, Error,
    body::MessageBody,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::{Condition, from_fn},
    web,
};

pub use auth::{Access, AccessToken, Actor, Role, TOKEN_PREFIX, TokenDigest, pasted_token};
pub use base_path::{BasePath, BasePathError};
pub use error::{ApiError, Problem, ProblemItem};
pub use events::{EventHub, EventStreamConfig};
pub use limits::{Limits, proxy_network};
pub use openapi::{openapi, openapi_json};
pub use state::{AppState, FIX_UNTRUSTED_SIGNER, HarnessKeys, MetricsRenderer};

/// Declares the API's counters and gauges at zero in the installed metrics recorder, so that
/// they exist before their first event (see `evalboard_persistence::declare_metrics`).
pub fn declare_metrics() {
    for reason in events::Dropped::ALL {
        metrics::counter!(events::STREAMS_DROPPED, "reason" => reason.label()).increment(0);
    }
    metrics::gauge!(limits::SUBSCRIBERS).increment(0.0);
}

/// Largest JSON request body accepted.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// The whole evalboard application over `state`: every documented route, problem+json for
/// malformed input and unknown routes, and `GET /openapi.json`.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let (app, document) = openapi::routed_app();
    let cors = auth::cors(state.access().cors_origins());
    let fallback = fallback::Fallback::from_document(&document);
    let document_json = openapi::to_json(&document);
    let dashboard = dashboard::routes(state.base_path());
    app.app_data(web::Data::new(state))
        .app_data(web::Data::new(fallback))
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BYTES)
                .error_handler(error::json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .route(
            "/openapi.json",
            web::get().to(move || {
                let body = document_json.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
        .configure(dashboard)
        .default_service(web::to(fallback::respond))
        // Innermost: the middlewares around it (authorization, limits, the request's log) see
        // the method the client sent.
        .wrap(from_fn(head::route_as_get))
        .wrap(from_fn(encoding::refuse_encoded_bodies))
        .wrap(from_fn(encoding::refuse_undecodable_queries))
        .wrap(from_fn(auth::refuse_simple_posts))
        .wrap(from_fn(limits::limit))
        .wrap(from_fn(auth::authorize))
        .wrap(Condition::new(cors.is_some(), cors.unwrap_or_default()))
        .wrap(from_fn(limits::hold_body))
        // Every answer, refusals included: a browser must not read a JSON answer that echoes
        // input (`no run `<script>…``) as anything but JSON.
        .wrap(
            actix_web::middleware::DefaultHeaders::new()
                .add((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")),
        )
        // Outside every middleware that reads the path, inside the request's log (which names
        // the path as it came).
        .wrap(from_fn(base_path::route_below_base))
        .wrap(from_fn(request_log::log_request))
        .wrap(tracing_actix_web::TracingLogger::<request_log::RequestSpan>::new())
}
