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

/// The built page: served only through [`page`], never as the file it is.
const INDEX: &str = "index.html";

/// The application's page as built: its assets named relatively (`./assets/…`).
fn index() -> Asset {
    file(INDEX).expect("the dashboard is built (cargo xtask web)")
}

/// The application's page, for every path that is not an asset, for a dashboard served at
/// `{base_path}/ui/` (`base_path` empty, or `/` and segments without a trailing `/`, holding no
/// character HTML or a URL would escape): its assets named by absolute paths (the page is served
/// at every depth below `/ui/`, where relative names would point elsewhere), and the base path
/// given to the application in `<meta name="evalboard-base">`, where its API is.
pub fn page(base_path: &str) -> String {
    let built = std::str::from_utf8(index().bytes).expect("the built page is UTF-8");
    let meta = format!("<meta name=\"evalboard-base\" content=\"{base_path}\" />\n  </head>");
    built
        .replace("\"./assets/", &format!("\"{base_path}/ui/assets/"))
        .replacen("</head>", &meta, 1)
}

/// The file at `path` (relative to the application's base, e.g. `assets/index-1a2b3c.js`).
/// The built page is none: as built it names no base path, and the application would look for
/// its API at the host's root ([`page`] is the page).
pub fn asset(path: &str) -> Option<Asset> {
    if path == INDEX {
        return None;
    }
    file(path)
}

fn file(path: &str) -> Option<Asset> {
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
        for base in ["", "/tools/evalboard"] {
            let page = page(base);
            let below = format!("{base}/ui/");
            // Every address the page names is absolute, below the base path, and embedded.
            let names: Vec<&str> = page
                .split(['"', '\''])
                .filter(|text| text.contains("assets/"))
                .collect();
            assert_eq!(names.len(), 2, "a script and a style sheet: {page}");
            for name in names {
                let path = name
                    .strip_prefix(below.as_str())
                    .unwrap_or_else(|| panic!("{name} is not below {below}"));
                let asset = asset(path).expect("the asset it names is embedded");
                assert!(asset.immutable);
            }
            let script = page
                .split("src=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert_eq!(
                asset(script.strip_prefix(below.as_str()).unwrap())
                    .unwrap()
                    .content_type,
                "text/javascript; charset=utf-8"
            );
            assert!(
                page.contains(&format!(
                    "<meta name=\"evalboard-base\" content=\"{base}\" />"
                )),
                "{page}"
            );
        }
        assert!(super::asset("assets/missing.js").is_none());
        assert!(
            super::asset("index.html").is_none(),
            "served through page() only"
        );
    }
}
