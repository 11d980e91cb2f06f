//! The dashboard, served under `/ui/` (`/` redirects there): the embedded assets, and the
//! application's page for every other path below `/ui/`, so that each page of the application
//! has its own address (the application routes in the browser). API paths never answer HTML.

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, CacheControl, CacheDirective},
    web,
};

use crate::error::ApiError;

/// Where the dashboard lives.
pub(crate) const BASE: &str = "/ui/";

/// Registers `/`, `/ui` and everything below `/ui/`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(to_dashboard))
        .route("/ui", web::get().to(to_dashboard))
        .route("/ui/{path:.*}", web::get().to(serve));
}

async fn to_dashboard() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, BASE))
        .finish()
}

async fn serve(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    if let Some(asset) = evalboard_dashboard::asset(&path) {
        return Ok(respond(&asset));
    }
    // A missing asset is a 404, not the page (a stale page asking for an old script must not
    // get HTML as JavaScript).
    if path.starts_with("assets/") {
        return Err(ApiError::NotFound(format!(
            "no dashboard asset `{}`",
            req.path()
        )));
    }
    Ok(respond(&evalboard_dashboard::index()))
}

/// What the dashboard's pages may load and who may frame them: its own scripts, styles, workers
/// and API only (the icon is a `data:` image), never inside another site's frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn respond(asset: &evalboard_dashboard::Asset) -> HttpResponse {
    // Hashed names change with their content: cached for ever. The page is checked every time,
    // so that a new version of the server serves its new assets at once.
    let cache = if asset.immutable {
        vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(31_536_000),
            CacheDirective::Extension("immutable".into(), None),
        ]
    } else {
        vec![CacheDirective::NoCache]
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header(CacheControl(cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(asset.bytes)
}
