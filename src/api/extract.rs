//! Requests as types: each extractor reads and checks what its handler
//! needs (the path's run id, the query under [`RawParams`]'s rules, a cursor
//! against the key), so a handler starts from a valid request or never runs.
//! Every rejection is an [`ApiError`], in the envelope.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::error::ApiError;
use super::params::{
    self, ListRequest, LogRequest, RawParams, RunSignaturesRequest, SearchRequest,
    SignatureRunsRequest, SignaturesRequest,
};
use super::AppState;

/// The path's `{run_id}`, raw; what it must be is checked with the rest of
/// the request it belongs to.
async fn raw_run_id(parts: &mut Parts, state: &AppState) -> Result<String, ApiError> {
    Path::<String>::from_request_parts(parts, state)
        .await
        .map(|Path(id)| id)
        // Only a route without `{run_id}` could get here.
        .map_err(|_| ApiError::RouteNotFound)
}

fn query(parts: &Parts) -> RawParams {
    RawParams::parse(parts.uri.query())
}

impl FromRequestParts<AppState> for LogRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let run_id = raw_run_id(parts, state).await?;
        params::validate(&run_id, &query(parts), &state.cursor_key)
    }
}

/// `GET /api/v1/runs/{run_id}/logs/raw`: the run, and whether the caller
/// asked where the file is (`link=true`) rather than for the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadRequest {
    pub run_id: u64,
    pub link: bool,
}

impl FromRequestParts<AppState> for DownloadRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let run_id = raw_run_id(parts, state).await?;
        let run_id = params::parse_run_id(&run_id).map_err(|m| ApiError::invalid("run_id", m))?;
        let link = params::validate_link(&query(parts))?;
        Ok(DownloadRequest { run_id, link })
    }
}

impl FromRequestParts<AppState> for SearchRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        params::validate_search(&query(parts), &state.cursor_key)
    }
}

impl FromRequestParts<AppState> for ListRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        params::validate_list(&query(parts), &state.cursor_key)
    }
}

impl FromRequestParts<AppState> for RunSignaturesRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let run_id = raw_run_id(parts, state).await?;
        params::validate_run_signatures(&run_id, &query(parts), &state.cursor_key)
    }
}

impl FromRequestParts<AppState> for SignaturesRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        params::validate_signatures(&query(parts), &state.cursor_key)
    }
}

impl FromRequestParts<AppState> for SignatureRunsRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let signature = Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(s)| s)
            .map_err(|_| ApiError::RouteNotFound)?;
        params::validate_signature_runs(&signature, &query(parts), &state.cursor_key)
    }
}
