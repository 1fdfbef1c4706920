//! Every error the API can answer, and the one place each becomes an HTTP
//! status and the published envelope `{"code", "message", "details"}`.
//!
//! Errors from below (the services, the store, the index) convert with
//! `From`, so handlers use `?`. Turning an error into a response has no side
//! effect: the response carries a [`Failure`] extension, and [`report`]
//! (run by the outermost middleware, and by the accept loop for what hyper
//! refuses itself) logs internal causes and counts refusals.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::auth::AuthError;
use crate::index::IndexError;
use crate::logfiles::SkipReason;
use crate::service::runs::{RunsError, GCS, LOCAL};
use crate::service::SignaturesError;
use crate::signature::SignatureId;
use crate::store::StoreError;

/// What a 503 for an unreachable bucket asks the client to wait.
const STORAGE_RETRY_AFTER_SECS: u64 = 5;
/// What a 503 for a platform that cannot check a token asks the client to
/// wait.
const AUTH_RETRY_AFTER_SECS: u64 = 5;
/// What a 503 for a full server asks the client to wait.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// One message for a missing, malformed, unknown, expired or revoked
    /// token, as the platform words it: telling them apart would confirm to
    /// the holder of an old token that it was real.
    #[error("Bearer token is missing, expired, or invalid.")]
    Unauthorized,
    /// The Sample Platform could not say whether its token is good: not a
    /// 401 (the token may well be good), not acceptance.
    #[error("the token could not be checked with the platform that issued it; retry shortly")]
    AuthUnavailable,
    #[error("this token lacks the required scope {required}")]
    Forbidden {
        required: &'static str,
        token_scopes: Vec<String>,
    },
    #[error("too many requests; retry after {retry_after} seconds")]
    RateLimited {
        retry_after: u64,
        limit: u32,
        window_seconds: u64,
    },
    #[error("invalid request parameters")]
    Validation {
        /// Parameter name → what is wrong with it.
        fields: BTreeMap<String, String>,
        /// Parameter name → its allowed values, where they are a closed set.
        allowed: BTreeMap<String, Vec<&'static str>>,
    },
    #[error("no log for run {run_id}")]
    LogNotFound {
        run_id: u64,
        checked: &'static [&'static str],
    },
    #[error("the log of run {run_id} cannot be served: {}", unreadable_why(*reason))]
    LogUnreadable { run_id: u64, reason: SkipReason },
    #[error("run {run_id} is not in the local folder and the GCS bucket could not be reached; retry later")]
    StorageUnavailable { run_id: u64 },
    #[error("no signature {signature} has been indexed")]
    SignatureNotFound { signature: SignatureId },
    #[error("no such endpoint")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the server is handling as many requests as it can; retry shortly")]
    Overloaded { limit: usize },
    #[error("the request was not answered within {seconds} seconds")]
    Timeout { seconds: u64 },
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("the request headers are larger than {limit} bytes or more than {max_headers} fields")]
    HeadersTooLarge { limit: usize, max_headers: usize },
    /// A request hyper could not parse (request line or header syntax).
    #[error("the request is not well-formed HTTP/1.1")]
    MalformedRequest,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A validation error about one parameter.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            fields: BTreeMap::from([(field.to_owned(), message.into())]),
            allowed: BTreeMap::new(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Validation { .. } | ApiError::MalformedRequest => StatusCode::BAD_REQUEST,
            ApiError::LogNotFound { .. }
            | ApiError::SignatureNotFound { .. }
            | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            // The entry exists, but its state forbids serving it: like a
            // 404 the client cannot fix it, unlike a 404 it is not absent.
            ApiError::LogUnreadable { .. } => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::StorageUnavailable { .. }
            | ApiError::AuthUnavailable
            | ApiError::Overloaded { .. }
            | ApiError::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::AuthUnavailable => "auth_unavailable",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Validation { .. } => "validation_error",
            ApiError::LogNotFound { .. } => "log_not_found",
            ApiError::SignatureNotFound { .. } => "signature_not_found",
            ApiError::LogUnreadable { .. } => "log_unreadable",
            ApiError::RouteNotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::StorageUnavailable { .. } => "storage_unavailable",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Timeout { .. } => "timeout",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::MalformedRequest => "malformed_request",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::Forbidden {
                required,
                token_scopes,
            } => json!({ "required_scope": required, "token_scopes": token_scopes }),
            ApiError::RateLimited {
                retry_after,
                limit,
                window_seconds,
            } => json!({ "retry_after": retry_after, "limit": limit, "window": window_seconds }),
            ApiError::Validation { fields, allowed } => {
                let mut d = Map::new();
                d.insert("fields".into(), json!(fields));
                if !allowed.is_empty() {
                    d.insert("allowed".into(), json!(allowed));
                }
                Value::Object(d)
            }
            ApiError::LogNotFound { run_id, checked } => {
                json!({ "run_id": run_id, "checked": checked })
            }
            ApiError::SignatureNotFound { signature } => {
                json!({ "signature": signature.to_string() })
            }
            ApiError::LogUnreadable { run_id, reason } => {
                json!({ "run_id": run_id, "reason": reason.as_str() })
            }
            ApiError::StorageUnavailable { run_id } => {
                json!({ "run_id": run_id, "checked": [LOCAL], "unavailable": [GCS] })
            }
            ApiError::Overloaded { limit } => {
                json!({ "max_concurrent_requests": limit, "retry_after": OVERLOADED_RETRY_AFTER_SECS })
            }
            ApiError::Timeout { seconds } => json!({ "timeout_seconds": seconds }),
            ApiError::AuthUnavailable => json!({ "retry_after": AUTH_RETRY_AFTER_SECS }),
            ApiError::UriTooLong { limit } => json!({ "limit_bytes": limit }),
            ApiError::HeadersTooLarge { limit, max_headers } => {
                json!({ "limit_bytes": limit, "max_headers": max_headers })
            }
            _ => json!({}),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Validation { fields, .. } => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("Invalid request parameters: {}", parts.join("; "))
            }
            other => other.to_string(),
        }
    }
}

/// Why a refused entry is not served, in words for the client (which entry
/// it is and what it points to stay in the operator's log).
fn unreadable_why(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::NotRegularFile => {
            "its entry in the log folder is not a regular file (a FIFO, socket, device or directory)"
        }
        SkipReason::OutsideLogFiles => {
            "its entry in the log folder is a symbolic link to a file outside the folder"
        }
        SkipReason::Unreadable => "its file cannot be read by the server",
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => ApiError::from(e),
            AuthError::PlatformUnavailable(_) => ApiError::AuthUnavailable,
            _ => ApiError::Unauthorized,
        }
    }
}

impl From<RunsError> for ApiError {
    fn from(e: RunsError) -> Self {
        match e {
            RunsError::NotFound { run_id, checked } => ApiError::LogNotFound { run_id, checked },
            RunsError::Unreadable { run_id, reason } => ApiError::LogUnreadable { run_id, reason },
            RunsError::StorageUnavailable { run_id } => ApiError::StorageUnavailable { run_id },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<SignaturesError> for ApiError {
    fn from(e: SignaturesError) -> Self {
        match e {
            SignaturesError::NotFound(signature) => ApiError::SignatureNotFound { signature },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(e.into())
    }
}

/// What a response made from an [`ApiError`] carries for [`report`].
#[derive(Clone)]
pub struct Failure {
    pub code: &'static str,
    /// Refused before a handler answered (limits, rate limit, hyper's own
    /// refusals): counted in `runlogd_http_rejections_total`.
    pub rejected: bool,
    /// An internal error's cause, for the log only.
    pub cause: Option<Arc<anyhow::Error>>,
}

/// Logs an internal error's cause (never sent to the client) and counts a
/// refusal: the side effects of an error response, in one place.
pub fn report(response: &Response) {
    let Some(failure) = response.extensions().get::<Failure>() else {
        return;
    };
    if let Some(cause) = &failure.cause {
        tracing::error!(error = format!("{cause:#}"), "request failed");
    }
    if failure.rejected {
        crate::metrics::http_rejected(failure.code);
    }
}

/// The middleware around everything that runs [`report`].
pub async fn report_failures(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    report(&response);
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let rejected = matches!(
            self,
            ApiError::RateLimited { .. }
                | ApiError::Overloaded { .. }
                | ApiError::Timeout { .. }
                | ApiError::UriTooLong { .. }
                | ApiError::HeadersTooLarge { .. }
                | ApiError::MalformedRequest
        );
        let status = self.status();
        let self_code = self.code();
        let body = json!({
            "code": self.code(),
            "message": self.message(),
            "details": self.details(),
        });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"runlogd\""),
                );
            }
            ApiError::RateLimited { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::StorageUnavailable { .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(STORAGE_RETRY_AFTER_SECS),
                );
            }
            ApiError::AuthUnavailable => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(AUTH_RETRY_AFTER_SECS),
                );
            }
            ApiError::Overloaded { .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(OVERLOADED_RETRY_AFTER_SECS),
                );
            }
            ApiError::UriTooLong { .. }
            | ApiError::HeadersTooLarge { .. }
            | ApiError::MalformedRequest => {
                // The rest of what the client sent is not read.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        let cause = match self {
            ApiError::Internal(e) => Some(Arc::new(e)),
            _ => None,
        };
        response.extensions_mut().insert(Failure {
            code: self_code,
            rejected,
            cause,
        });
        response
    }
}
