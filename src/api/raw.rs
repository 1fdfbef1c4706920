//! `GET /api/v1/runs/{run_id}/logs/raw`: the whole log file, as the
//! platform serves it: a redirect to a V4 signed URL of the bucket's object
//! when there is one and it can be signed, otherwise the file streamed.
//!
//! Existence follows the same rules as the paged endpoint (a run indexed
//! nowhere is looked for in the bucket; 404 only when absent from both).
//!
//! `?link=true` answers with JSON naming where the file is instead: the
//! signed URL, or `null` when it is served from here. The web viewer needs
//! this: its Content-Security-Policy keeps its requests on its own origin, so
//! a fetch may not follow the redirect, and a navigation, which may leave
//! the origin, cannot carry the bearer token.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::error::ApiError;
use super::extract::DownloadRequest;
use super::AppState;

pub async fn get_raw(
    State(state): State<AppState>,
    request: DownloadRequest,
) -> Result<Response, ApiError> {
    let download = state.runs.download(request.run_id).await?;
    let run_id = download.run_id;
    if request.link {
        // Where the file is, with no redirect; still nothing any cache
        // should keep.
        let body = serde_json::json!({ "run_id": run_id, "url": download.signed_url });
        let mut r = Json(body).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(r);
    }
    if let Some(url) = &download.signed_url {
        return Ok(redirect(url));
    }
    let (file, len) = download.into_file()?;
    let file = tokio::fs::File::from_std(file);
    // A writer may still be appending: send the length announced, no more.
    let body = Body::from_stream(ReaderStream::new(file.take(len)));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let name = crate::logfiles::file_name(run_id);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, location);
            // Signed URLs expire: never let a cache hand one out later.
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => ApiError::Internal(e.into()).into_response(),
    }
}
