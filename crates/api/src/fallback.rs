//! Answers for requests no route takes: 405 with `Allow` when the path exists under other
//! methods, 404 otherwise, both as problem+json. `HEAD` is allowed wherever `GET` is (see
//! [`crate::head`]).

use actix_web::{HttpRequest, dev::ResourceDef, http::Method, web};

use crate::error::ApiError;

/// The documented paths and the methods each accepts.
pub(crate) struct Fallback {
    paths: Vec<(ResourceDef, Vec<Method>)>,
}

impl Fallback {
    pub(crate) fn from_document(document: &utoipa::openapi::OpenApi) -> Self {
        let mut paths: Vec<(ResourceDef, Vec<Method>)> = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let operations = [
                    (Method::GET, item.get.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                ];
                let methods = operations
                    .into_iter()
                    .filter_map(|(method, present)| present.then_some(method))
                    .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        paths.push((ResourceDef::new("/openapi.json"), vec![Method::GET]));
        Self { paths }
    }

    /// Whether a route takes `method` on `path`.
    pub(crate) fn routes(&self, method: &Method, path: &str) -> bool {
        self.paths
            .iter()
            .any(|(def, methods)| methods.contains(method) && def.is_match(path))
    }

    /// The methods `path` takes, in a fixed order; `HEAD` wherever `GET` is.
    fn allowed(&self, path: &str) -> Vec<Method> {
        [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ]
        .into_iter()
        .filter(|method| {
            let routed = if *method == Method::HEAD {
                &Method::GET
            } else {
                method
            };
            self.routes(routed, path)
        })
        .collect()
    }
}

pub(crate) async fn respond(
    req: HttpRequest,
    fallback: web::Data<Fallback>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let allow = fallback.allowed(req.path());
    Err(if allow.is_empty() {
        ApiError::NotFound(format!(
            "no route for {}",
            crate::params::shorten(req.path())
        ))
    } else {
        ApiError::MethodNotAllowed {
            method: crate::head::sent_method(&req),
            allow,
        }
    })
}
