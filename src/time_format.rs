//! RFC 3339, the one format runlogd writes and reads times in: `landed_at`,
//! line timestamps, the bucket's sync times, `since`/`until`, token expiry
//! in the CLI. One place, so that every time a client sees is written alike
//! and every time it sends is read alike. Imports nothing from the crate.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `t` as RFC 3339, with the offset it carries (`Z` for UTC).
pub fn format(t: OffsetDateTime) -> Option<String> {
    t.format(&Rfc3339).ok()
}

/// The current time, in UTC.
pub fn now() -> String {
    format(OffsetDateTime::now_utc()).unwrap_or_default()
}

/// A Unix time in seconds, in UTC; `None` outside what RFC 3339 can write.
pub fn from_unix_seconds(secs: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(format)
}

/// A Unix time in nanoseconds, to the second (floored), in UTC.
pub fn from_unix_nanos(nanos: i64) -> Option<String> {
    from_unix_seconds(nanos.div_euclid(1_000_000_000))
}

/// RFC 3339 text (surrounding spaces allowed) as nanoseconds since the
/// epoch, saturated to `i64`.
pub fn parse_unix_nanos(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    Some(
        t.unix_timestamp_nanos()
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
    )
}

/// RFC 3339 text as seconds since the epoch (fractional).
pub fn parse_unix_seconds(text: &str) -> Option<f64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let since = SystemTime::from(t).duration_since(UNIX_EPOCH).ok()?;
    Some(since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_bounds() {
        assert_eq!(
            from_unix_seconds(100).as_deref(),
            Some("1970-01-01T00:01:40Z")
        );
        assert_eq!(
            from_unix_nanos(1_500_000_000).as_deref(),
            Some("1970-01-01T00:00:01Z")
        );
        assert_eq!(from_unix_nanos(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(from_unix_seconds(i64::MAX), None);
        assert_eq!(parse_unix_seconds("1970-01-01T00:01:40Z"), Some(100.0));
        assert_eq!(
            parse_unix_nanos(" 1970-01-01T00:00:01+01:00 "),
            Some(-3_599_000_000_000)
        );
        assert_eq!(parse_unix_nanos("yesterday"), None);
        assert!(now().ends_with('Z'));
    }
}
