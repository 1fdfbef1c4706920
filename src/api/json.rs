//! JSON bodies written into a buffer sized for them up front, and the
//! writing of a page of lines by hand.
//!
//! axum's `Json` starts from a 128-byte buffer; a page of 100 lines (about
//! 20 KB) then grows and copies it eight times. A handler that knows about
//! how large its page is says so here.
//!
//! A page of lines is most of what the API serves, and serde_json escapes a
//! string byte by byte: that was the largest single cost of a plain page
//! (14% of the daemon's CPU). [`write_str`] first checks the whole string
//! in a form the compiler vectorizes, and copies it as it is when nothing
//! needs escaping (nearly every log line); otherwise serde_json escapes it.

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
            Ok(()) => json_response(body),
            Err(e) => ApiError::Internal(e.into()).into_response(),
        }
    }
}

/// A response of JSON already written.
pub fn json_response(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Writes `value` as a JSON string, exactly as serde_json does.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    // No early exit: the loop then compiles to vector compares.
    let escape = value.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escape {
        // Writing into a Vec cannot fail, and a str always serializes.
        let _ = serde_json::to_writer(&mut *out, value);
    } else {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// Writes an unsigned integer as JSON.
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
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

    #[test]
    fn strings_are_written_as_serde_json_writes_them() -> anyhow::Result<()> {
        let cases = [
            "",
            "plain [INFO] line",
            "quote \" and backslash \\",
            "tab\tnewline\ncr\r nul\u{0} unit\u{1f} del\u{7f}",
            "café € 𝄞 \u{2028}",
            "</script>",
        ];
        for case in cases {
            let mut out = Vec::new();
            write_str(&mut out, case);
            assert_eq!(out, serde_json::to_vec(case)?, "{case:?}");
        }
        for n in [0, 7, 10, 4000, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n)?);
        }
        Ok(())
    }
}
