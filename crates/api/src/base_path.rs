//! Serving below a path (`http.base_path`): a reverse proxy that publishes evalboard at
//! `https://tools.example.com/evalboard/` rather than at the root of a host of its own.
//!
//! Requests are accepted with the path or without it — a proxy may pass the path on as it came
//! (`proxy_pass http://127.0.0.1:8080;`) or strip it (`proxy_pass http://127.0.0.1:8080/;`), and a
//! health check may reach the server directly — and are routed as if they came without it, so
//! that routes, roles and limits see one set of paths. What the server hands out to be followed
//! (redirects, `Location`, the session cookie's path, the dashboard's own addresses) is always
//! under the path: it is where the browser reaches the server.

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Uri,
        uri::{Parts, PathAndQuery},
    },
    middleware::Next,
    web,
};

use crate::state::AppState;

/// Longest base path accepted.
const MAX_BASE_PATH_LEN: usize = 100;

/// The first segments of the server's own paths: a base path starting with one would make
/// `/runs/…` (say) mean two things.
const OWN_SEGMENTS: [&str; 10] = [
    "auth",
    "browser-harness",
    "datasets",
    "healthz",
    "metrics",
    "openapi.json",
    "providers",
    "readyz",
    "runs",
    "ui",
];

/// The path every address the server hands out starts with: empty (the root of the host), or
/// `/` and segments of letters, digits, `-`, `_`, `.` and `~`, without a trailing `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasePath(String);

/// Why a text is not a [`BasePath`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{given}` is not a base path: {why} (give one such as /evalboard, or \"\" for the root \
     of the host)"
)]
pub struct BasePathError {
    given: String,
    why: &'static str,
}

impl BasePath {
    /// The base path `text` names: `""` or `"/"` is the root, a trailing `/` is dropped.
    pub fn new(text: &str) -> Result<Self, BasePathError> {
        let refuse = |why| {
            Err(BasePathError {
                given: text.to_owned(),
                why,
            })
        };
        let path = text.strip_suffix('/').unwrap_or(text);
        if path.is_empty() {
            return Ok(Self::default());
        }
        if path.len() > MAX_BASE_PATH_LEN {
            return refuse("longer than 100 characters");
        }
        let Some(segments) = path.strip_prefix('/') else {
            return refuse("it must start with `/`");
        };
        for segment in segments.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return refuse("empty, `.` and `..` segments are not paths of their own");
            }
            // Characters a URL carries as they are: the path is compared with requests' paths
            // byte for byte, and written into the page and headers unescaped.
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
            {
                return refuse("a segment holds only letters, digits, `-`, `_`, `.` and `~`");
            }
        }
        let first = segments.split('/').next().unwrap_or_default();
        if OWN_SEGMENTS.contains(&first) {
            return refuse("it starts like one of the server's own paths");
        }
        Ok(Self(path.to_owned()))
    }

    /// The path itself: `""` for the root.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `path` (starting with `/`) as the browser reaches it.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// What is left of `path` once the base path is taken off its front, when it is below it.
    fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        if self.0.is_empty() {
            return None;
        }
        match path.strip_prefix(self.0.as_str())? {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            // `/evalboardx` is not below `/evalboard`.
            _ => None,
        }
    }
}

/// Routes a request below the base path as if it came without it (see the module's doc).
pub(crate) async fn route_below_base<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    // Read through the shared state, nothing copied: every request passes here, and most
    // servers have no base path.
    let below = req.app_data::<web::Data<AppState>>().and_then(|state| {
        let rest = state.base_path().strip(req.path())?;
        let rest = match req.query_string() {
            "" => rest.to_owned(),
            query => format!("{rest}?{query}"),
        };
        with_path(&req.head().uri, &rest)
    });
    if let Some(uri) = below {
        // `head_mut` needs the only reference to the request: nothing outside this middleware
        // keeps one before the handler runs (as for actix's own `NormalizePath`).
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
    next.call(req).await
}

/// `uri` with its path and query replaced by `path_and_query`.
fn with_path(uri: &Uri, path_and_query: &str) -> Option<Uri> {
    let mut parts = Parts::default();
    parts.scheme = uri.scheme().cloned();
    parts.authority = uri.authority().cloned();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_path_is_a_plain_path_below_the_root() {
        for (given, kept) in [
            ("", ""),
            ("/", ""),
            ("/evalboard", "/evalboard"),
            ("/evalboard/", "/evalboard"),
            ("/tools/eval-board_2.x~y", "/tools/eval-board_2.x~y"),
            ("/run", "/run"),
        ] {
            assert_eq!(BasePath::new(given).unwrap().as_str(), kept, "{given}");
        }
        for given in [
            "evalboard",
            "//evalboard",
            "/a//b",
            "/a/../b",
            "/./a",
            "/eval board",
            "/eval%20board",
            "/é",
            "/a?b",
            "/a#b",
            "/runs",
            "/ui/x",
            "/openapi.json",
        ] {
            assert!(BasePath::new(given).is_err(), "{given}");
        }
        let long = format!("/{}", "a".repeat(MAX_BASE_PATH_LEN));
        assert!(BasePath::new(&long).is_err());
    }

    /// Every route's first segment is one a base path may not start like: a route added later
    /// and left out of the list would be shadowed by a base path named like it.
    #[test]
    fn the_servers_own_segments_are_every_routes() {
        let document = crate::openapi::openapi();
        for path in document.paths.paths.keys() {
            let first = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default();
            assert!(OWN_SEGMENTS.contains(&first), "{path}");
        }
    }

    #[test]
    fn only_paths_below_the_base_are_stripped() {
        let base = BasePath::new("/evalboard").unwrap();
        assert_eq!(base.strip("/evalboard"), Some("/"));
        assert_eq!(base.strip("/evalboard/"), Some("/"));
        assert_eq!(base.strip("/evalboard/runs/x"), Some("/runs/x"));
        assert_eq!(base.strip("/evalboardx/runs"), None);
        assert_eq!(base.strip("/runs"), None);
        assert_eq!(BasePath::default().strip("/runs"), None);
        assert_eq!(base.url("/ui/"), "/evalboard/ui/");
        assert_eq!(BasePath::default().url("/ui/"), "/ui/");
    }
}
