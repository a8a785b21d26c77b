//! The web dashboard at `/ui`: plain HTML, JavaScript and CSS from `ui/`, built into the binary
//! (no CDN, no build step). The page itself is public; everything it shows comes from the Docker
//! API of the same origin, called with the token the user signs in with.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

/// One file of the dashboard.
#[derive(Debug)]
pub struct Asset {
    /// The name under `/ui/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// The dashboard's files; the first is the page served at `/ui`.
pub const ASSETS: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_bytes!("../../ui/index.html") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../ui/app.js") },
    Asset { name: "style.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../ui/style.css") },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", body: include_bytes!("../../ui/favicon.svg") },
];

/// What the page may load and call: its own origin only. The token lives in the page, so no
/// inline script, no framing, no referrer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Each asset's entity tag: a digest of its bytes, so a new binary's files are fetched again.
static ETAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..20])).collect());

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ui", get(index)).route("/ui/", get(index)).route("/ui/{file}", get(asset))
}

/// The dashboard page.
#[utoipa::path(get, path = "/ui", tag = "Dashboard", security(()),
    responses((status = 200, description = "The dashboard's HTML page (public; its API calls send the user's token)",
               body = String, content_type = "text/html")))]
pub async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

/// A file of the dashboard: `app.js`, `style.css`, `favicon.svg` (and `index.html`).
#[utoipa::path(get, path = "/ui/{file}", tag = "Dashboard", security(()),
    params(("file" = String, Path, description = "The file's name")),
    responses((status = 200, description = "The file, with its content type",
               content((String = "text/javascript"), (String = "text/css"), (String = "image/svg+xml"),
                       (String = "text/html"))),
              (status = 304, description = "Not modified (If-None-Match)"),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == file) {
        Some(i) => serve(i, &headers),
        None => ApiError::not_found(format!("no such dashboard file: {file}")).into_response(),
    }
}

/// The asset's reply, or 304 when the client holds the same version.
fn serve(i: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[i];
    let etag = &ETAGS[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // Revalidate every time (cheap: a 304), so an upgraded daemon never runs a stale script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, value);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type_and_revalidates() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            let response = serve(i, &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::CONTENT_TYPE], a.content_type);
            let etag = response.headers()[header::ETAG].clone();
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, etag);
            assert_eq!(serve(i, &headers).status(), StatusCode::NOT_MODIFIED);
        }
        assert_eq!(ASSETS[0].name, "index.html");
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        for needle in ["http://", "https://", "<script>", " style=\"", "onclick="] {
            assert!(
                !html.contains(needle),
                "index.html contains {needle:?}: the CSP forbids it or it leaves the binary"
            );
        }
        for a in &ASSETS[1..] {
            assert!(html.contains(&format!("/ui/{}", a.name)), "index.html does not load {}", a.name);
        }
    }
}
