//! The dashboard, served under `/ui/` (`/` redirects there): the embedded assets, and the
//! application's page for every other path below `/ui/`, so that each page of the application
//! has its own address (the application routes in the browser). API paths never answer HTML.
//! Browsers reach all of it below the server's base path (`http.base_path`, base_path.rs).

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, CacheControl, CacheDirective},
    web,
};

use crate::{base_path::BasePath, error::ApiError, state::AppState};

/// Where the dashboard lives, below the base path.
pub(crate) const BASE: &str = "/ui/";

/// The application's page for this server's base path, made once.
struct Page(web::Bytes);

/// Registers `/`, `/ui` and everything below `/ui/`, for a server reached below `base_path`.
pub(crate) fn routes(base_path: &BasePath) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let page = Page(evalboard_dashboard::page(base_path.as_str()).into());
    move |cfg| {
        cfg.app_data(web::Data::new(page))
            .route("/", web::get().to(to_dashboard))
            .route("/ui", web::get().to(to_dashboard))
            .route("/ui/{path:.*}", web::get().to(serve));
    }
}

async fn to_dashboard(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, state.base_path().url(BASE)))
        .finish()
}

async fn serve(
    req: HttpRequest,
    path: web::Path<String>,
    page: web::Data<Page>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    if let Some(asset) = evalboard_dashboard::asset(&path) {
        return Ok(respond(
            web::Bytes::from_static(asset.bytes),
            asset.content_type,
            asset.immutable,
        ));
    }
    // A missing asset is a 404, not the page (a stale page asking for an old script must not
    // get HTML as JavaScript).
    if path.starts_with("assets/") {
        return Err(ApiError::NotFound(format!(
            "no dashboard asset `{}`",
            req.path()
        )));
    }
    Ok(respond(page.0.clone(), "text/html; charset=utf-8", false))
}

/// What the dashboard's pages may load and who may frame them: its own scripts, styles, workers
/// and API only (the icon is a `data:` image), never inside another site's frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn respond(body: web::Bytes, content_type: &str, immutable: bool) -> HttpResponse {
    // Hashed names change with their content: cached for ever. The page is checked every time,
    // so that a new version of the server serves its new assets at once.
    let cache = if immutable {
        vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(31_536_000),
            CacheDirective::Extension("immutable".into(), None),
        ]
    } else {
        vec![CacheDirective::NoCache]
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(CacheControl(cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}
