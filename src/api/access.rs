//! Who may call, checked before anything else in the order the contract
//! fixes: authentication (401), scope (403), rate limit (429). Runs as a
//! middleware so the `X-RateLimit-*` headers land on every response a counted
//! request gets, whatever the handler answers. Every refused token gets the
//! same 401; only the debug log says why.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::ratelimit::Allowance;
use super::AppState;
use crate::auth::SCOPE_SYSTEM_READ;

pub async fn require_system_read(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let header_value = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let caller = match state.tokens.authenticate(header_value.as_deref()).await {
        Ok(c) => c,
        Err(e) => {
            // Why, for the operator only (the client gets one message for
            // every bad token); `AuthError` never holds the token itself.
            tracing::debug!(reason = %e, "bearer token refused");
            return ApiError::from(e).into_response();
        }
    };
    if !caller.has_scope(SCOPE_SYSTEM_READ) {
        return ApiError::Forbidden {
            required: SCOPE_SYSTEM_READ,
            token_scopes: caller.scopes,
        }
        .into_response();
    }
    let (allowance, mut response) = match state.limiter.check(caller.key) {
        Ok(allowance) => (allowance, next.run(request).await),
        Err(refusal) => (
            refusal.allowance,
            ApiError::RateLimited {
                retry_after: refusal.retry_after,
                limit: refusal.allowance.limit,
                window_seconds: super::ratelimit::WINDOW.as_secs(),
            }
            .into_response(),
        ),
    };
    add_allowance_headers(response.headers_mut(), allowance);
    response
}

fn add_allowance_headers(headers: &mut HeaderMap, a: Allowance) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(a.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(a.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(a.reset));
}
