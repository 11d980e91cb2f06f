//! `GET /providers`: the configured providers and their models.

use actix_web::{get, web};

use crate::{dto::ProviderDto, state::AppState};

/// Every configured provider with its kind, models and whether its key is available. Keys
/// themselves are never shown.
#[utoipa::path(
    tag = "providers",
    responses((status = 200, description = "Providers by name", body = Vec<ProviderDto>))
)]
#[get("/providers")]
pub(crate) async fn list_providers(state: web::Data<AppState>) -> web::Json<Vec<ProviderDto>> {
    web::Json(
        state
            .providers
            .providers()
            .iter()
            .map(ProviderDto::from)
            .collect(),
    )
}
