//! The web application for people who are not programmers (`web/app`), and the JavaScript verifier it runs
//! (`web/verifier`, with its two pinned `@noble` packages), embedded in the binary: a node serves the page with no
//! internet access and no other process. Read-only: the page only calls the API's GET routes.
//!
//! The packages are read from `web/verifier/node_modules` at build time (`npm ci --prefix web/verifier`, which the
//! scripts run before building; `build.rs` says so when they are missing).

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/", $file)),
        }
    };
}

/// Every file the page loads, by the path it is served at. The verifier's modules keep their relative imports
/// (`./deps.js` imports `./node_modules/@noble/…`), so they are served under `/verifier/` as laid out on disk.
const ASSETS: &[Asset] = &[
    asset!("/", "app/index.html", HTML),
    asset!("/app/app.css", "app/app.css", CSS),
    asset!("/app/app.js", "app/app.js", JS),
    asset!("/app/ui.js", "app/ui.js", JS),
    asset!("/app/network.js", "app/network.js", JS),
    asset!("/app/search.js", "app/search.js", JS),
    asset!("/app/record.js", "app/record.js", JS),
    asset!("/app/feed.js", "app/feed.js", JS),
    asset!("/app/verify.js", "app/verify.js", JS),
    asset!("/verifier/bytes.js", "verifier/bytes.js", JS),
    asset!("/verifier/codec.js", "verifier/codec.js", JS),
    asset!("/verifier/crypto.js", "verifier/crypto.js", JS),
    asset!("/verifier/deps.js", "verifier/deps.js", JS),
    asset!("/verifier/files.js", "verifier/files.js", JS),
    asset!("/verifier/genesis.js", "verifier/genesis.js", JS),
    asset!("/verifier/ids.js", "verifier/ids.js", JS),
    asset!("/verifier/json.js", "verifier/json.js", JS),
    asset!("/verifier/merkle.js", "verifier/merkle.js", JS),
    asset!("/verifier/procedures.js", "verifier/procedures.js", JS),
    asset!("/verifier/records.js", "verifier/records.js", JS),
    asset!("/verifier/verdict.js", "verifier/verdict.js", JS),
    asset!("/verifier/verify.js", "verifier/verify.js", JS),
    asset!(
        "/verifier/node_modules/@noble/ed25519/index.js",
        "verifier/node_modules/@noble/ed25519/index.js",
        JS
    ),
    asset!(
        "/verifier/node_modules/@noble/hashes/sha2.js",
        "verifier/node_modules/@noble/hashes/sha2.js",
        JS
    ),
    asset!(
        "/verifier/node_modules/@noble/hashes/_md.js",
        "verifier/node_modules/@noble/hashes/_md.js",
        JS
    ),
    asset!(
        "/verifier/node_modules/@noble/hashes/_u64.js",
        "verifier/node_modules/@noble/hashes/_u64.js",
        JS
    ),
    asset!(
        "/verifier/node_modules/@noble/hashes/utils.js",
        "verifier/node_modules/@noble/hashes/utils.js",
        JS
    ),
];

/// Scripts, styles and data from this node only; no inline script, no frames, no plug-ins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The paths the router sends here: `/`, `/app/…` and `/verifier/…`.
pub const PATHS: [&str; 3] = ["/", "/app/{file}", "/verifier/{*file}"];

/// Serves an embedded file, or the API's 404 body for any other path under the web routes.
pub async fn asset(uri: Uri) -> Response {
    match ASSETS.iter().find(|a| a.path == uri.path()) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                // The files change with the binary: revalidate rather than keep a stale page after an upgrade.
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            a.bytes,
        )
            .into_response(),
        None => super::ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no page or file at {}", uri.path()),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// Every relative import of every embedded module resolves to an embedded file: a missing one would leave
    /// the page blank in the browser while every Rust test passed.
    #[test]
    fn every_import_is_embedded() {
        // `… from './x.js'` and `import './x.js'`, wherever they sit (imports may span lines); bare specifiers
        // (in the packages' doc comments) are not loaded by the page.
        let relative_imports = |text: &str| -> Vec<String> {
            let mut out = Vec::new();
            for marker in ["from '", "from \"", "import '", "import \""] {
                for (at, _) in text.match_indices(marker) {
                    let rest = &text[at + marker.len()..];
                    let quote = marker.chars().last().unwrap_or('\'');
                    let spec = &rest[..rest.find(quote).unwrap_or(0)];
                    if spec.starts_with("./") || spec.starts_with("../") {
                        out.push(spec.to_string());
                    }
                }
            }
            out
        };
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(a.bytes).expect("UTF-8");
            let dir = &a.path[..a.path.rfind('/').expect("a directory")];
            for spec in relative_imports(text) {
                let mut parts: Vec<&str> = dir.split('/').collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|x| x.path == target),
                    "{} imports {spec} ({target}), which is not embedded",
                    a.path
                );
            }
        }
        let index = std::str::from_utf8(ASSETS[0].bytes).expect("UTF-8");
        for reference in ["/app/app.css", "/app/app.js"] {
            assert!(index.contains(reference), "index.html loads {reference}");
        }
    }
}
