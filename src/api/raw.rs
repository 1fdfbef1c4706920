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
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::error::ApiError;
use super::logs::find_run;
use super::params::parse_run_id;
use super::AppState;

pub async fn get_raw(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&run_id).map_err(|m| ApiError::invalid("run_id", m))?;
    let link = parse_link(query.as_deref())?;
    find_run(&state, run_id).await?;
    let source = state.ingestor.files().source(run_id);
    let mut signed = None;
    if let Some(bucket) = &state.bucket {
        match bucket.signed_url(run_id, source.as_deref()).await {
            Ok(url) => signed = url,
            // The file is still here to stream.
            Err(e) => tracing::warn!(run_id, error = %e, "cannot sign a download URL"),
        }
    }
    if link {
        // Where the file is, with no redirect; still nothing any cache
        // should keep.
        let body = serde_json::json!({ "run_id": run_id, "url": signed });
        let mut r = Json(body).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(r);
    }
    if let Some(url) = signed {
        return Ok(redirect(&url));
    }
    let not_found = || ApiError::LogNotFound {
        run_id,
        checked: if state.bucket.is_some() {
            vec!["local", "gcs"]
        } else {
            vec!["local"]
        },
    };
    let path = source.ok_or_else(not_found)?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
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

/// `link`: absent or `false` streams or redirects, `true` names the place.
/// Other parameters are ignored, as they always were.
fn parse_link(query: Option<&str>) -> Result<bool, ApiError> {
    let mut link = false;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == "link" {
            link = match v.as_ref() {
                "true" => true,
                "false" => false,
                _ => return Err(ApiError::invalid("link", "must be true or false")),
            };
        }
    }
    Ok(link)
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
        Err(e) => ApiError::internal(e).into_response(),
    }
}
