//! The OpenAPI document, derived from the handlers as they are registered, so it cannot drift
//! from the routes.

use actix_web::{
    App,
    dev::{ServiceFactory, ServiceRequest},
};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::{
    dto::{
        ItemEndEventDto, ItemTextEventDto, ResetEventDto, RunItemEventDto, RunProgressEventDto,
        RunStatusEventDto,
    },
    error::{Problem, ProblemItem},
    handlers,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "evalboard",
        description = "Runs LLM evaluations and serves the dashboard that watches them: runs, \
            the active board, the archive, datasets and providers. Errors are RFC 9457 \
            `application/problem+json`; timestamps are RFC 3339 UTC with `Z`. `GET /runs/events` \
            streams `run_status`, `run_progress`, `run_item` and `reset` events whose payloads \
            are the `*EventDto` schemas (see docs/events.md); `GET /runs/{run_id}/items/{sequence}/stream` \
            streams one item's answer as `item_text` and `item_end`. This document is \
            generated from the code by `cargo xtask openapi`; do not edit it by hand.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "runs", description = "Create, list and inspect runs"),
        (name = "datasets", description = "Datasets runs draw their items from"),
        (name = "providers", description = "Configured providers and models"),
        (name = "browser-harness", description = "Signed prompt packs for models used in a browser, and imports of their captures as runs"),
        (name = "health", description = "Liveness and readiness"),
    ),
    components(schemas(
        Problem,
        ProblemItem,
        RunStatusEventDto,
        RunProgressEventDto,
        RunItemEventDto,
        ResetEventDto,
        ItemTextEventDto,
        ItemEndEventDto
    ))
)]
struct BaseDocument;

/// The application's routes, with the document collected from them.
pub(crate) fn routed_app() -> (
    App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
    >,
    utoipa::openapi::OpenApi,
) {
    let mut base = BaseDocument::openapi();
    base.info.version = env!("CARGO_PKG_VERSION").to_owned();
    App::new()
        .into_utoipa_app()
        .openapi(base)
        .configure(handlers::routes)
        .split_for_parts()
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routed_app().1
}

/// The document as `docs/openapi.json` holds it: pretty JSON, with a trailing newline.
pub fn openapi_json() -> String {
    to_json(&openapi())
}

pub(crate) fn to_json(document: &utoipa::openapi::OpenApi) -> String {
    let mut json = document.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
