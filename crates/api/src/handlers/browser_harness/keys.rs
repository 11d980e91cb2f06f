//! `GET /browser-harness/keys`: the public keys packs are signed with.

use actix_web::{HttpResponse, get, web};

use crate::{
    dto::{KeysDto, PublicKeyDto},
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// The public keys a harness verifies packs with: the active key, and retired keys whose packs
/// still import. Private keys never leave the server.
#[utoipa::path(
    tag = "browser-harness",
    responses(
        (status = 200, description = "The trusted public keys", body = KeysDto),
        (status = 503, description = "This server has no signing key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/browser-harness/keys")]
pub(crate) async fn list_keys(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
) -> Result<HttpResponse, ApiError> {
    let keys = state.harness()?;
    Ok(HttpResponse::Ok().json(KeysDto {
        keys: keys.ring().keys().map(PublicKeyDto::from).collect(),
    }))
}
