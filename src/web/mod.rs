//! The web viewer: a search page (`/`) and one run's log (`/runs/{run_id}`).
//!
//! The pages are static files compiled into the binary; everything they show
//! comes from the same API a script would call, with the bearer token the
//! reader types once (kept in the tab's `sessionStorage`). The pages need no
//! token themselves. Every response here carries a strict
//! Content-Security-Policy: scripts and styles only from this origin, no
//! inline code, no framing, and requests only to this origin. The one
//! thing that leaves it is the raw download of a run the bucket serves: the
//! page asks the API for the signed URL (`logs/raw?link=true`) and navigates
//! there, which `connect-src` does not govern and which needs no token.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::AppState;

/// The policy sent with every page and asset.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("assets/index.html");
const RUN_HTML: &str = include_str!("assets/run.html");

/// Files under `/assets/`: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/common.js"),
    ),
    (
        "search.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/search.js"),
    ),
    (
        "run.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/run.js"),
    ),
];

/// The viewer's routes, to be merged into the API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index_page))
        .route("/runs/{run_id}", get(run_page))
        .route("/assets/{name}", get(asset))
}

async fn index_page() -> Response {
    page(INDEX_HTML)
}

async fn run_page(Path(run_id): Path<String>) -> Response {
    if run_id.is_empty() || !run_id.bytes().all(|b| b.is_ascii_digit()) {
        return with_headers(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "A run id is a number, as in /runs/9405.\n",
        );
    }
    page(RUN_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => with_headers(StatusCode::OK, content_type, body),
        None => with_headers(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no such asset\n",
        ),
    }
}

fn page(body: &'static str) -> Response {
    with_headers(StatusCode::OK, "text/html; charset=utf-8", body)
}

fn with_headers(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    (status, headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_names_only_assets_that_exist() {
        for html in [INDEX_HTML, RUN_HTML] {
            for part in html.split("/assets/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == name),
                    "{name} is linked but not embedded"
                );
            }
            assert!(!html.contains("<script>"), "no inline scripts");
            assert!(!html.contains("style="), "no inline styles");
        }
    }
}
