//! `GET /browser-harness/schemas/…`: the JSON Schemas of the pack payload and the capture
//! bundle, for harness authors to check a bundle before they send it.

use actix_web::{HttpResponse, get};

/// The media type JSON Schema documents are served as.
const SCHEMA_JSON: &str = "application/schema+json";

/// The published text of the schema in `file` (as committed under docs/schemas/).
fn schema(file: &str) -> HttpResponse {
    let (_, text) = evalboard_harness::schema_documents()
        .iter()
        .find(|(name, _)| *name == file)
        .expect("every route serves a published schema");
    HttpResponse::Ok()
        .content_type(SCHEMA_JSON)
        .body(text.as_str())
}

/// The JSON Schema (2020-12) of a capture bundle, the body of `POST /browser-harness/imports`.
/// Whatever it refuses the import refuses too (at the same JSON Pointer when a bundle is wrong in
/// one place); the import also checks
/// what no schema can (the signature, that captures match the pack, times).
#[utoipa::path(
    tag = "browser-harness",
    responses(
        (status = 200, description = "The capture bundle's JSON Schema", body = Object, content_type = "application/schema+json"),
    )
)]
#[get("/browser-harness/schemas/capture-bundle.v1.json")]
pub(crate) async fn capture_bundle() -> HttpResponse {
    schema("capture-bundle.v1.json")
}

/// The JSON Schema (2020-12) of a pack's payload: the JSON inside a pack envelope's base64
/// `payload`.
#[utoipa::path(
    tag = "browser-harness",
    responses(
        (status = 200, description = "The pack payload's JSON Schema", body = Object, content_type = "application/schema+json"),
    )
)]
#[get("/browser-harness/schemas/pack-payload.v1.json")]
pub(crate) async fn pack_payload() -> HttpResponse {
    schema("pack-payload.v1.json")
}
