//! `/healthz` (the process serves) and `/readyz` (the start-up scan is
//! indexed; the body also reports the bucket sync, which does not gate
//! readiness: a daemon whose bucket is down still serves what it has).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::service::status::Readiness;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Readiness>), ApiError> {
    let readiness = state.status.readiness()?;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(readiness)))
}
