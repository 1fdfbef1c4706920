//! The HTTP API: routes, shared state, and the middleware around them.
//!
//! * [`logs`]: one run's lines, `GET /api/v1/runs/{run_id}/logs`;
//! * [`raw`]: one run's file, `GET /api/v1/runs/{run_id}/logs/raw`;
//! * [`search`]: across runs, `GET /api/v1/logs` and `GET /api/v1/logs/search`;
//! * [`signatures`]: failure signatures, of one run and across runs;
//! * [`health`]: `/healthz` and `/readyz`;
//! * [`ops`]: `/metrics` and the OpenAPI document; [`limits`]: timeouts and
//!   caps around the whole router.
//!
//! Handlers stay thin: [`extract`] turns a request into a checked request
//! (rules in [`params`] and [`query`]), [`access`] decides who may call, the
//! services of [`crate::service`] answer, [`pagination`] and [`cursor`] say
//! where the next page starts, and [`error::ApiError`] is the one place
//! errors become responses ([`error::report_failures`] logs and counts
//! them).
//! [`api_response_headers`] keeps every answer under `/api/v1` out of caches
//! and out of content sniffing.

pub mod access;
pub mod cursor;
pub mod error;
pub mod extract;
pub mod health;
mod highlight;
pub mod json;
pub mod lanes;
pub mod limits;
pub mod logs;
pub mod ops;
pub mod pagination;
pub mod params;
pub mod query;
pub mod ratelimit;
pub mod raw;
pub mod search;
pub mod signatures;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Tokens;
use crate::config::HttpConfig;
use crate::service::{RunLogs, Services, Signatures, Status};
use cursor::CursorKey;
use error::ApiError;
use ratelimit::TokenLimiter;

/// What every handler can reach: cloned for every request (by each
/// extractor and middleware that takes it), so one shared allocation.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(services: Services, limiter: Arc<TokenLimiter>, cursor_key: CursorKey) -> AppState {
        AppState(Arc::new(Shared {
            runs: services.runs,
            signatures: services.signatures,
            status: services.status,
            tokens: services.tokens,
            limiter,
            cursor_key,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds: the services, and what only HTTP needs (the
/// per-token rate limits and the key cursors are signed with).
pub struct Shared {
    pub runs: Arc<RunLogs>,
    pub signatures: Arc<Signatures>,
    pub status: Arc<Status>,
    pub tokens: Arc<Tokens>,
    pub limiter: Arc<TokenLimiter>,
    pub cursor_key: CursorKey,
}

/// The limits the web pages check before they ask, as the API states them.
pub fn viewer_limits() -> crate::web::ApiLimits {
    crate::web::ApiLimits {
        min_search_chars: params::MIN_SEARCH_CONTAINS_CHARS,
        max_page_lines: params::MAX_LIMIT,
        max_message_chars: logs::MAX_MESSAGE_CHARS,
    }
}

/// Every route under `/api/v1` that needs a token with `system:read`.
/// This table and [`public_routes`] are the one list of what is served;
/// a test checks it against `schema/openapi.yaml`.
pub fn api_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/runs/{run_id}/logs", get(logs::get_logs)),
        ("/runs/{run_id}/logs/raw", get(raw::get_raw)),
        ("/logs", get(search::list_logs)),
        ("/logs/search", get(search::search_logs)),
        ("/runs/{run_id}/signatures", get(signatures::run_signatures)),
        ("/signatures", get(signatures::list_signatures)),
        (
            "/signatures/{signature}/runs",
            get(signatures::signature_runs),
        ),
    ]
}

/// Routes that need no token, with their full paths. `/metrics` is added by
/// [`app`] where the configuration puts it.
pub fn public_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        ("/api/v1/openapi.yaml", get(ops::openapi_yaml)),
        ("/api/v1/openapi.json", get(ops::openapi_json_handler)),
    ]
}

pub const API_BASE: &str = "/api/v1";
pub const METRICS_PATH: &str = "/metrics";

/// Every path a daemon serving `/metrics` on its main address answers.
pub fn served_paths() -> Vec<String> {
    let api = api_routes()
        .into_iter()
        .map(|(p, _)| format!("{API_BASE}{p}"));
    let public = public_routes().into_iter().map(|(p, _)| p.to_owned());
    api.chain(public)
        .chain(std::iter::once(METRICS_PATH.to_owned()))
        .collect()
}

/// The whole API with the default limits and `/metrics`.
pub fn router(state: AppState) -> Router {
    app(state, &HttpConfig::default(), true)
}

/// The whole API: routes, then the limits of `http` around them.
/// `with_metrics` serves `/metrics` here too.
pub fn app(state: AppState, http: &HttpConfig, with_metrics: bool) -> Router {
    let mut api = Router::new();
    for (path, route) in api_routes() {
        api = api.route(path, route);
    }
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        access::require_system_read,
    ));
    let mut routes = Router::new();
    for (path, route) in public_routes() {
        routes = routes.route(path, route);
    }
    if with_metrics {
        routes = routes.route(METRICS_PATH, get(ops::metrics));
    }
    let inner = routes
        .nest(API_BASE, api)
        // The web pages: static, embedded, no token (their API calls need one).
        .merge(crate::web::router(viewer_limits()))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(ops::count_request))
        .with_state(state);
    limits::wrap(inner, http)
        // Outside the limits, so that their refusals get the headers too,
        // and are reported.
        .layer(axum::middleware::from_fn(api_response_headers))
        .layer(axum::middleware::from_fn(error::report_failures))
        .layer(TraceLayer::new_for_http())
}

/// `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` on every
/// answer under [`API_BASE`], errors and redirects included: pages and raw
/// downloads carry log text that no cache may keep (nor a signed URL, which
/// expires), and a raw log, which may hold anything, must never be sniffed
/// into something a browser would run.
pub async fn api_response_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let under_api = path
        .strip_prefix(API_BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let mut response = next.run(request).await;
    if under_api {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    response
}

/// `/metrics` alone, for `metrics.listen`.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route(METRICS_PATH, get(ops::metrics))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(error::report_failures))
        .with_state(state)
}

/// A panic is an internal error like any other (logged by
/// [`error::report_failures`]).
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal(anyhow::anyhow!("request handler panicked")).into_response()
}
