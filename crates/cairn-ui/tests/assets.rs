//! The embedded asset table against the files on disk and the references between them: every
//! file under `assets/` is embedded, every URL the HTML, CSS and scripts reference resolves to an
//! embedded file with the right content type, and nothing is fetched from another origin.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// Every file under `dir`, as `/`-separated paths relative to `root`.
fn files_under(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read assets dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_under(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            let parts: Vec<_> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            out.insert(parts.join("/"));
        }
    }
}

fn expected_content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        other => panic!("no content type expected for extension {other:?} of {path}"),
    }
}

fn text(path: &str) -> &'static str {
    let asset = cairn_ui::asset(path).unwrap_or_else(|| panic!("{path} is embedded"));
    std::str::from_utf8(asset.bytes).unwrap_or_else(|e| panic!("{path} is UTF-8: {e}"))
}

/// Resolves `reference` (as written in `from`) to an embedded path, without a leading `/`.
fn resolve(from: &str, reference: &str) -> String {
    let reference = reference.split(['?', '#']).next().unwrap_or_default();
    if let Some(absolute) = reference.strip_prefix('/') {
        return absolute.to_owned();
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for segment in reference.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Every (referencing file, reference) pair: HTML `src`/`href`, CSS `url()`, JS imports.
fn references() -> Vec<(&'static str, String)> {
    let html_attr = Regex::new(r#"(?:src|href)="([^"]+)""#).expect("regex");
    let css_url = Regex::new(r#"url\(\s*['"]?([^'")]+)['"]?\s*\)"#).expect("regex");
    let js_import = Regex::new(r#"(?m)^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]"#)
        .expect("regex");
    let mut out = Vec::new();
    for path in cairn_ui::paths() {
        let body = text(path);
        let found: Vec<String> = if path.ends_with(".html") {
            html_attr
                .captures_iter(body)
                .map(|c| c[1].to_owned())
                .collect()
        } else if path.ends_with(".css") {
            css_url
                .captures_iter(body)
                .map(|c| c[1].to_owned())
                .collect()
        } else if path.ends_with(".js") {
            js_import
                .captures_iter(body)
                .filter_map(|c| c.get(1).or(c.get(2)).or(c.get(3)))
                .map(|m| m.as_str().to_owned())
                .collect()
        } else {
            Vec::new()
        };
        out.extend(found.into_iter().map(|r| (path, r)));
    }
    out
}

#[test]
fn every_file_on_disk_is_embedded_and_nothing_else() {
    let mut on_disk = BTreeSet::new();
    files_under(&assets_dir(), &assets_dir(), &mut on_disk);
    let embedded: BTreeSet<String> = cairn_ui::paths().map(str::to_owned).collect();
    assert_eq!(on_disk, embedded);
}

#[test]
fn embedded_bytes_match_the_files_and_content_types_follow_extensions() {
    for path in cairn_ui::paths() {
        let asset = cairn_ui::asset(path).expect("embedded");
        let on_disk = std::fs::read(assets_dir().join(path)).expect("file");
        assert_eq!(asset.bytes, on_disk.as_slice(), "{path}");
        assert_eq!(asset.content_type, expected_content_type(path), "{path}");
        assert!(!asset.bytes.is_empty(), "{path} is empty");
    }
}

#[test]
fn every_reference_resolves_to_an_embedded_asset_of_the_right_type() {
    let refs = references();
    // The entry page references the stylesheet, the icon and the app module at least.
    let from_index: BTreeSet<String> = refs
        .iter()
        .filter(|(from, _)| *from == cairn_ui::INDEX)
        .map(|(from, r)| resolve(from, r))
        .filter(|r| !r.starts_with("api/") && r != "traces" && !r.starts_with('#'))
        .collect();
    for needed in ["assets/app.css", "assets/favicon.svg", "assets/js/app.js"] {
        assert!(
            from_index.contains(needed),
            "index.html references {needed}"
        );
    }

    let mut checked = 0;
    for (from, reference) in &refs {
        assert!(
            !reference.starts_with("http:")
                && !reference.starts_with("https:")
                && !reference.starts_with("//"),
            "{from} references another origin: {reference}"
        );
        let target = resolve(from, reference);
        // Links to pages and to the API are served by the router or the server, not as files.
        if !target.contains('.') && !target.starts_with("assets/") {
            continue;
        }
        let asset = cairn_ui::asset(&target)
            .unwrap_or_else(|| panic!("{from} references {reference}, which is not embedded"));
        assert_eq!(
            asset.content_type,
            expected_content_type(&target),
            "{target}"
        );
        if from.ends_with(".js") {
            assert!(
                target.ends_with(".js"),
                "{from} imports a non-module {target}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} asset references found");
}

#[test]
fn every_module_is_reachable_from_the_entry_point() {
    let refs = references();
    let mut reached = BTreeSet::from(["assets/js/app.js".to_owned()]);
    let mut frontier = vec!["assets/js/app.js".to_owned()];
    while let Some(module) = frontier.pop() {
        for (from, reference) in &refs {
            if *from == module {
                let target = resolve(from, reference);
                if reached.insert(target.clone()) {
                    frontier.push(target);
                }
            }
        }
    }
    let modules: BTreeSet<String> = cairn_ui::paths()
        .filter(|p| p.ends_with(".js"))
        .map(str::to_owned)
        .collect();
    assert_eq!(reached, modules, "unreachable or missing modules");
}

#[test]
fn index_declares_a_module_script_and_no_inline_code() {
    let index = text(cairn_ui::INDEX);
    assert!(index.contains(r#"<script type="module" src="/assets/js/app.js"></script>"#));
    // Everything executable lives in the embedded modules (a strict CSP stays possible).
    assert_eq!(index.matches("<script").count(), 1);
    assert!(!index.contains(" onclick="));
}
