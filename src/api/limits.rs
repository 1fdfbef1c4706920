//! Limits against abuse and overload, around the whole router:
//!
//! * a request target longer than `http.max_uri_bytes` is a 414, a request
//!   head larger than `http.max_header_bytes` or with more than
//!   [`MAX_HEADERS`] fields a 431 (hyper refuses heads four times larger
//!   before they reach here; `daemon::http` puts those refusals in the
//!   envelope too);
//! * at most `http.max_concurrent_requests` requests are handled at once;
//!   the next one is refused at once with 503 `overloaded` and
//!   `Retry-After`, instead of waiting in an unbounded queue;
//! * a request not answered within `http.request_timeout_secs` is a 503
//!   `timeout`.
//!
//! Slow and idle connections are closed by the connection's header read
//! timeout (`daemon::serve_http`).

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::{BoxError, Router};
use tower::ServiceBuilder;

use super::error::ApiError;
use crate::config::HttpConfig;

/// Header fields a request may have: hyper's own default, kept, but refused
/// here so that the answer is the envelope and is counted (hyper's parser
/// is given room for more, see `daemon::http`).
pub const MAX_HEADERS: usize = 100;

/// Wraps `inner` (routes, state applied) in the limits of `http`.
pub fn wrap(inner: Router, http: &HttpConfig) -> Router {
    let max_concurrent = http.max_concurrent_requests;
    let timeout_secs = http.request_timeout_secs;
    let limited = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |e: BoxError| async move {
            refusal(e, max_concurrent, timeout_secs).into_response()
        }))
        .load_shed()
        .concurrency_limit(max_concurrent)
        .timeout(Duration::from_secs(timeout_secs))
        .service(inner);
    let (max_uri, max_head) = (http.max_uri_bytes, http.max_header_bytes);
    Router::new()
        .fallback_service(limited)
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| async move {
                match check_sizes(&request, max_uri, max_head) {
                    Ok(()) => next.run(request).await,
                    Err(e) => e.into_response(),
                }
            },
        ))
}

fn refusal(e: BoxError, max_concurrent: usize, timeout_secs: u64) -> ApiError {
    if e.is::<tower::load_shed::error::Overloaded>() {
        ApiError::Overloaded {
            limit: max_concurrent,
        }
    } else if e.is::<tower::timeout::error::Elapsed>() {
        ApiError::Timeout {
            seconds: timeout_secs,
        }
    } else {
        ApiError::Internal(anyhow::anyhow!("request failed: {e}"))
    }
}

fn check_sizes(request: &Request, max_uri: usize, max_head: usize) -> Result<(), ApiError> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target > max_uri {
        return Err(ApiError::UriTooLong { limit: max_uri });
    }
    let head: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if head > max_head || request.headers().len() > MAX_HEADERS {
        return Err(ApiError::HeadersTooLarge {
            limit: max_head,
            max_headers: MAX_HEADERS,
        });
    }
    Ok(())
}
