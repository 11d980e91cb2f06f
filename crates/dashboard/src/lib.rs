//! The dashboard's built assets (`web/dist`, built by `cargo xtask web` and committed), embedded
//! in the binary so that the server serves the dashboard without Node. The application's source
//! is `web/`; how it is built and served is in `docs/dashboard.md`.

use include_dir::{Dir, include_dir};

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web/dist");

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its media type.
    pub content_type: &'static str,
    /// Whether its name carries a hash of its content: it never changes, and may be cached
    /// for ever.
    pub immutable: bool,
}

/// The application's page, for every path that is not an asset.
pub fn index() -> Asset {
    asset("index.html").expect("the dashboard is built (cargo xtask web)")
}

/// The file at `path` (relative to the application's base, e.g. `assets/index-1a2b3c.js`).
pub fn asset(path: &str) -> Option<Asset> {
    let file = DIST.get_file(path)?;
    Some(Asset {
        bytes: file.contents(),
        content_type: content_type(path),
        immutable: path.starts_with("assets/"),
    })
}

fn content_type(path: &str) -> &'static str {
    match mime_guess::from_path(path).first_raw() {
        Some("text/html") => "text/html; charset=utf-8",
        Some("text/css") => "text/css; charset=utf-8",
        Some("application/javascript" | "text/javascript") => "text/javascript; charset=utf-8",
        Some(other) => other,
        None => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_embedded() {
        let index = index();
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert!(!index.immutable);
        let page = std::str::from_utf8(index.bytes).unwrap();
        let script = page
            .split("src=\"/ui/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page loads its script from /ui/");
        let asset = asset(script).expect("the script it names is embedded");
        assert!(asset.immutable);
        assert_eq!(asset.content_type, "text/javascript; charset=utf-8");
        assert!(super::asset("assets/missing.js").is_none());
    }
}
