//! The HTTP API: routes, shared state, and the middleware around them.
//!
//! * [`logs`]: one run's lines, `GET /api/v1/runs/{run_id}/logs`;
//! * [`raw`]: one run's file, `GET /api/v1/runs/{run_id}/logs/raw`;
//! * [`search`]: across runs, `GET /api/v1/logs` and `GET /api/v1/logs/search`;
//! * [`health`]: `/healthz` and `/readyz`.
//!
//! Handlers stay thin: [`params`] turns a request into a checked request,
//! [`access`] decides who may call, the index answers,
//! and [`error::ApiError`] is the one place errors become responses.

pub mod access;
pub mod cursor;
pub mod error;
pub mod health;
pub mod logs;
pub mod params;
pub mod ratelimit;
pub mod raw;
pub mod search;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::index::LogIndex;
use crate::ingest::Ingestor;
use crate::store::Store;
use crate::sync::Bucket;
use cursor::CursorKey;
use error::ApiError;
use ratelimit::TokenLimiter;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub index: Arc<LogIndex>,
    pub ingestor: Arc<Ingestor>,
    /// The GCS bucket, when one is configured.
    pub bucket: Option<Arc<Bucket>>,
    pub limiter: Arc<TokenLimiter>,
    pub cursor_key: CursorKey,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/runs/{run_id}/logs", get(logs::get_logs))
        .route("/runs/{run_id}/logs/raw", get(raw::get_raw))
        .route("/logs", get(search::list_logs))
        .route("/logs/search", get(search::search_logs))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::require_system_read,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api)
        .merge(crate::web::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    let mut r = ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
