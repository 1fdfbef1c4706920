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

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

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

/// The API's limits that the pages check before they ask (a needle too
/// short to search across runs, the largest page, where messages are cut).
/// The server hands them over, in `data-` attributes of each page's
/// `<body>`, so that the pages never restate them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    pub min_search_chars: usize,
    pub max_page_lines: usize,
    pub max_message_chars: usize,
}

/// The viewer's routes, to be merged into the API router (any state: the
/// pages need none).
pub fn router<S: Clone + Send + Sync + 'static>(limits: ApiLimits) -> Router<S> {
    let index = render(INDEX_HTML, &limits);
    let run = render(RUN_HTML, &limits);
    Router::new()
        .route("/", get(move || std::future::ready(page(index.clone()))))
        .route(
            "/runs/{run_id}",
            get(move |Path(run_id): Path<String>| std::future::ready(run_page(&run_id, &run))),
        )
        .route("/assets/{name}", get(asset))
}

/// A page with the server's limits filled in where it names them
/// (`{{min_search_chars}}` and the like).
fn render(html: &str, limits: &ApiLimits) -> Bytes {
    let text = html
        .replace("{{min_search_chars}}", &limits.min_search_chars.to_string())
        .replace("{{max_page_lines}}", &limits.max_page_lines.to_string())
        .replace(
            "{{max_message_chars}}",
            &limits.max_message_chars.to_string(),
        );
    Bytes::from(text)
}

fn run_page(run_id: &str, html: &Bytes) -> Response {
    if run_id.is_empty() || !run_id.bytes().all(|b| b.is_ascii_digit()) {
        return with_headers(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"A run id is a number, as in /runs/9405.\n"),
        );
    }
    page(html.clone())
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => with_headers(
            StatusCode::OK,
            content_type,
            Bytes::from_static(body.as_bytes()),
        ),
        None => with_headers(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"no such asset\n"),
        ),
    }
}

fn page(body: Bytes) -> Response {
    with_headers(StatusCode::OK, "text/html; charset=utf-8", body)
}

fn with_headers(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
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

    #[test]
    fn pages_carry_the_limits_they_are_given() {
        let limits = ApiLimits {
            min_search_chars: 7,
            max_page_lines: 55,
            max_message_chars: 1234,
        };
        for html in [INDEX_HTML, RUN_HTML] {
            let page = render(html, &limits);
            let text = std::str::from_utf8(&page).unwrap_or_default();
            assert!(!text.contains("{{"), "every placeholder is filled");
            for attr in [
                "data-min-search-chars=\"7\"",
                "data-max-page-lines=\"55\"",
                "data-max-message-chars=\"1234\"",
            ] {
                assert!(text.contains(attr), "{attr} in the page");
            }
        }
    }
}
