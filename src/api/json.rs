//! JSON bodies written into a buffer sized for them up front.
//!
//! axum's `Json` starts from a 128-byte buffer; a page of 100 lines (about
//! 20 KB) then grows and copies it eight times. A handler that knows about
//! how large its page is says so here.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// A JSON response body, with the buffer size to start from.
pub struct SizedJson<T> {
    pub value: T,
    pub capacity: usize,
}

/// Room for one served line's fields and JSON punctuation, besides its
/// message and timestamp.
pub const LINE_OVERHEAD: usize = 160;

impl<T: Serialize> IntoResponse for SizedJson<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(self.capacity);
        match serde_json::to_writer(&mut body, &self.value) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => ApiError::internal(e).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_is_the_value_whatever_the_capacity() -> anyhow::Result<()> {
        let value = serde_json::json!({ "data": ["é".repeat(300), "\"q\"".to_owned()], "n": 7 });
        for capacity in [0, 10, 1 << 16] {
            let response = SizedJson {
                value: value.clone(),
                capacity,
            }
            .into_response();
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            assert_eq!(serde_json::from_slice::<serde_json::Value>(&body)?, value);
        }
        Ok(())
    }
}
