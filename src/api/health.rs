//! `/healthz` (the process serves) and `/readyz` (the start-up scan is
//! indexed; the body also reports the bucket sync, which does not gate
//! readiness: a daemon whose bucket is down still serves what it has).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let p = &state.ingestor.progress;
    let ready = p.ready.load(Ordering::Acquire);
    let (runs, lines) = state.store.totals().map_err(ApiError::internal)?;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        Json(json!({
            "ready": ready,
            "runs": runs,
            "lines": lines,
            "files_total": p.files_total.load(Ordering::Relaxed),
            "files_done": p.files_done.load(Ordering::Relaxed),
            "bytes_done": p.bytes_done.load(Ordering::Relaxed),
            "rebuild": p.rebuild(),
            // Entries named like logs that are not read, by reason (only
            // regular files inside the log folder are).
            "skipped": state.ingestor.skipped().report(),
            "gcs": state.bucket.as_ref().map(|b| b.status()),
        })),
    ))
}
