//! The HTTP API: routes, shared state, and the middleware around them.
//!
//! * [`logs`]: one run's lines, `GET /api/v1/runs/{run_id}/logs`;
//! * [`raw`]: one run's file, `GET /api/v1/runs/{run_id}/logs/raw`;
//! * [`search`]: across runs, `GET /api/v1/logs` and `GET /api/v1/logs/search`;
//! * [`health`]: `/healthz` and `/readyz`;
//! * [`ops`]: `/metrics` and the OpenAPI document; [`limits`]: timeouts and
//!   caps around the whole router.
//!
//! Handlers stay thin: [`params`] turns a request into a checked request,
//! [`access`] decides who may call, the index answers,
//! and [`error::ApiError`] is the one place errors become responses.
//! [`api_response_headers`] keeps every answer under `/api/v1` out of caches
//! and out of content sniffing.

pub mod access;
pub mod cursor;
pub mod error;
pub mod health;
pub mod json;
pub mod lanes;
pub mod limits;
pub mod logs;
pub mod ops;
pub mod params;
pub mod ratelimit;
pub mod raw;
pub mod search;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::bucket::Bucket;
use crate::config::HttpConfig;
use crate::index::LogIndex;
use crate::ingest::Ingestor;
use crate::store::Store;
use cursor::CursorKey;
use error::ApiError;
use ratelimit::TokenLimiter;

/// What every handler can reach: cloned for every request (by each
/// extractor and middleware that takes it), so one shared allocation.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub store: Arc<Store>,
    pub index: Arc<LogIndex>,
    pub ingestor: Arc<Ingestor>,
    /// The GCS bucket, when one is configured.
    pub bucket: Option<Arc<Bucket>>,
    pub limiter: Arc<TokenLimiter>,
    pub cursor_key: CursorKey,
    /// The index's directory, whose size `/metrics` reports.
    pub index_dir: PathBuf,
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
        .merge(crate::web::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(ops::count_request))
        .with_state(state);
    limits::wrap(inner, http)
        // Outside the limits, so that their refusals get the headers too.
        .layer(axum::middleware::from_fn(api_response_headers))
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
        .with_state(state)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    let mut r = ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
