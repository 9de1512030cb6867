//! Cairn's web UI, embedded in the binary.
//!
//! The UI is plain ES modules and hand-written CSS under `assets/`: no framework, no build step,
//! nothing fetched at run time. Every file is compiled into the binary with [`include_bytes!`], so
//! serving the UI needs neither Node.js nor files on disk. The UI talks to the query API with
//! same-origin relative URLs (`/api/v1/...`), so it must be mounted at `/` on the API port.
//!
//! # URL layout
//!
//! | URL | What |
//! |-----|------|
//! | `/` and every page URL (`/traces`, `/runs/{trace_id}`, `/conversations`, `/agents`, `/audit`, …) | `index.html`; the app routes on the client |
//! | `/assets/…` | the stylesheet, the scripts and the icon |
//!
//! # Fallback rule (single-page app)
//!
//! [`asset`] maps a request path to a file:
//!
//! 1. The path is taken without its query string, fragment and leading `/`; `""` is `index.html`.
//! 2. A path naming an embedded file returns that file.
//! 3. A path that is *reserved* returns `None`, so the server answers with its own 404: paths under
//!    `api/` or `tlog/` (unknown API URLs must get a JSON error, not HTML), paths under `assets/`
//!    and any path whose last segment has a file extension (a missing script served as HTML would
//!    fail with a confusing MIME-type error instead of a plain 404).
//! 4. Every other path returns `index.html`, so deep links such as `/runs/{trace_id}?span=…` work on
//!    reload.
//!
//! The server should register its own routes first and call [`asset`] from its fallback handler.
//! Assets are not content-hashed, so serve them with `Cache-Control: no-cache` (the browser
//! revalidates; an upgrade never mixes old and new scripts).

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

/// An embedded file: its bytes and the `Content-Type` to send with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The file's contents, exactly as in the source tree.
    pub bytes: &'static [u8],
    /// The MIME type for the `Content-Type` header, with a charset for text formats.
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Declares the embedded files: `path => content type`, paths relative to `assets/`.
macro_rules! assets {
    ($($path:literal => $content_type:expr),+ $(,)?) => {
        /// Every embedded file as `(path, asset)`, paths relative to the mount point.
        const ASSETS: &[(&str, Asset)] = &[
            $((
                $path,
                Asset {
                    bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
                    content_type: $content_type,
                },
            )),+
        ];
    };
}

assets! {
    "index.html" => HTML,
    "assets/app.css" => CSS,
    "assets/favicon.svg" => SVG,
    "assets/js/agents.js" => JS,
    "assets/js/api.js" => JS,
    "assets/js/app.js" => JS,
    "assets/js/audit.js" => JS,
    "assets/js/conversations.js" => JS,
    "assets/js/dom.js" => JS,
    "assets/js/format.js" => JS,
    "assets/js/model.js" => JS,
    "assets/js/run.js" => JS,
    "assets/js/spandetail.js" => JS,
    "assets/js/tlog.js" => JS,
    "assets/js/traces.js" => JS,
    "assets/js/virtual.js" => JS,
}

/// The path of the single-page app's entry document.
pub const INDEX: &str = "index.html";

/// Top-level path segments owned by the server, never answered with `index.html`.
const RESERVED_PREFIXES: &[&str] = &["api/", "tlog/", "assets/"];

/// Looks up the file for a request path, applying the fallback rule in the [crate docs](crate).
///
/// `path` is the request path as received (`/runs/abc?span=1` or `runs/abc`); query strings and
/// fragments are ignored. Returns `None` when the server should answer 404.
///
/// ```
/// let index = cairn_ui::asset("/").unwrap();
/// assert_eq!(index.content_type, "text/html; charset=utf-8");
/// assert_eq!(cairn_ui::asset("/runs/4bf92f3577b34da6a3ce929d0e0e4736"), Some(index));
/// assert!(cairn_ui::asset("/assets/app.css").unwrap().content_type.starts_with("text/css"));
/// assert_eq!(cairn_ui::asset("/assets/missing.js"), None);
/// assert_eq!(cairn_ui::asset("/api/v1/unknown"), None);
/// ```
pub fn asset(path: &str) -> Option<Asset> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() { INDEX } else { path };
    if let Some(found) = embedded(path) {
        return Some(found);
    }
    if is_reserved(path) {
        return None;
    }
    embedded(INDEX)
}

/// Every embedded file's path (relative to the mount point, no leading `/`), in a stable order.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(path, _)| *path)
}

fn embedded(path: &str) -> Option<Asset> {
    ASSETS
        .iter()
        .find(|(candidate, _)| *candidate == path)
        .map(|(_, asset)| *asset)
}

/// Whether an unknown `path` (no leading `/`) must not fall back to `index.html`.
fn is_reserved(path: &str) -> bool {
    let last_segment = path.rsplit('/').next().unwrap_or_default();
    RESERVED_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix) || path == prefix.trim_end_matches('/'))
        || last_segment.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_page_urls_serve_index() {
        let index = asset("/").expect("index");
        assert_eq!(index.content_type, HTML);
        assert!(std::str::from_utf8(index.bytes).is_ok_and(|s| s.contains("<!doctype html>")));
        for page in [
            "",
            "/traces",
            "/traces?agent=planner&status=error",
            "/runs/4bf92f3577b34da6a3ce929d0e0e4736",
            "/runs/4bf92f3577b34da6a3ce929d0e0e4736?span=00f067aa0ba902b7#x",
            "/conversations/conv-1",
            "/agents",
            "/audit?index=12",
            "index.html",
        ] {
            assert_eq!(asset(page), Some(index), "{page}");
        }
    }

    #[test]
    fn reserved_paths_never_fall_back() {
        for path in [
            "/api",
            "/api/v1/nope",
            "/tlog/tile/0/000",
            "/assets",
            "/assets/js/missing",
            "/assets/js/missing.js",
            "/favicon.ico",
            "/runs/abc/data.json",
        ] {
            assert_eq!(asset(path), None, "{path}");
        }
    }

    #[test]
    fn query_and_fragment_are_ignored_for_files() {
        let css = asset("/assets/app.css?v=2#top").expect("css");
        assert_eq!(css.content_type, CSS);
        assert_eq!(Some(css), asset("assets/app.css"));
    }

    #[test]
    fn paths_are_unique_and_relative() {
        let all: Vec<_> = paths().collect();
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(all.len(), dedup.len());
        assert!(all.iter().all(|p| !p.starts_with('/')));
        assert!(all.contains(&INDEX));
    }
}
