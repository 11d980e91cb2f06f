//! `GET /providers`: the configured providers and their models.

use actix_web::{get, web};

use crate::{dto::ProviderDto, error::Problem, params::NoParameters, state::AppState};

/// Every configured provider with its kind, models and whether its key is available. Keys
/// themselves are never shown.
#[utoipa::path(
    tag = "providers",
    responses(
        (status = 200, description = "Providers by name", body = Vec<ProviderDto>),
        (status = 400, description = "A query parameter (it takes none)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/providers")]
pub(crate) async fn list_providers(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
) -> web::Json<Vec<ProviderDto>> {
    web::Json(
        state
            .providers
            .providers()
            .iter()
            .map(ProviderDto::from)
            .collect(),
    )
}
