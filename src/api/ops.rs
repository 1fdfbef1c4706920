//! What operators and tools read: `GET /metrics` (Prometheus text format),
//! the OpenAPI document (`/api/v1/openapi.yaml` and `.json`), and the
//! middleware that counts every request by route template and status.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::lanes::{self, Bound};
use super::AppState;

/// The document, as written in the repository, embedded at build time.
pub const OPENAPI_YAML: &str = include_str!("../../schema/openapi.yaml");

/// The document as JSON, converted once, on first request.
pub fn openapi_json() -> Result<&'static str, ApiError> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    JSON.get_or_init(|| {
        let doc: serde_json::Value =
            serde_norway::from_str(OPENAPI_YAML).map_err(|e| e.to_string())?;
        serde_json::to_string(&doc).map_err(|e| e.to_string())
    })
    .as_deref()
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("the embedded OpenAPI document: {e}")))
}

pub async fn openapi_yaml() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        )],
        OPENAPI_YAML,
    )
        .into_response()
}

pub async fn openapi_json_handler() -> Result<Response, ApiError> {
    let json = openapi_json()?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response())
}

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = lanes::run(Bound::Search, move || state.status.metrics_text())
        .await??
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no metrics recorder is installed")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// Counts the request under its route template (never the raw URI, so a
/// flood of distinct URLs cannot grow the label set) and its status.
pub async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    crate::metrics::http_request(
        &route,
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
