//! Recognising a timestamp at the start of a line.
//!
//! The CI logs themselves carry none, but lines from other writers (the platform's
//! own logs, other instances) do. Only a timestamp at the very start counts, in
//! one of the shapes `2025-03-09T23:55:02Z`, `2025-03-09T23:55:02.123+01:00`,
//! `2025-03-09 23:55:02` (also with a `,123` fraction or a `+0100` offset), or
//! any of them in square brackets. A timestamp without an offset is taken as
//! UTC. An impossible date or time (`2025-02-30`, `24:00:00`) is not a
//! timestamp. The scan is by hand: it runs for every line and most lines are
//! rejected by their first byte.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Splits a leading timestamp off `text`.
///
/// Returns the timestamp and the rest of the line after the timestamp and any
/// blanks after it; `(None, text)` when the line does not start with one.
pub(crate) fn split(text: &str) -> (Option<OffsetDateTime>, &str) {
    match scan(text.as_bytes()) {
        // `end` is just past ASCII bytes, so it lies on a char boundary.
        Some((stamp, end)) => match text.get(end..) {
            Some(rest) => (Some(stamp), rest.trim_start_matches([' ', '\t'])),
            None => (None, text),
        },
        None => (None, text),
    }
}

/// RFC 3339 text of a parsed timestamp, with the offset it was written with
/// (`Z` for UTC).
pub(crate) fn format(stamp: OffsetDateTime) -> Option<String> {
    crate::time_format::format(stamp)
}

fn scan(b: &[u8]) -> Option<(OffsetDateTime, usize)> {
    let bracketed = b.first() == Some(&b'[');
    let mut i = usize::from(bracketed);
    // Cheapest possible rejection first: most lines are not timestamped.
    if b.len() < i + 19 || !b[i].is_ascii_digit() || b[i + 4] != b'-' {
        return None;
    }
    let year = digits(b, i, 4)?;
    let month = digits(b, i + 5, 2)?;
    let day = digits(b, i + 8, 2)?;
    let hour = digits(b, i + 11, 2)?;
    let minute = digits(b, i + 14, 2)?;
    let second = digits(b, i + 17, 2)?;
    if b[i + 7] != b'-'
        || !matches!(b[i + 10], b'T' | b't' | b' ')
        || b[i + 13] != b':'
        || b[i + 16] != b':'
    {
        return None;
    }
    i += 19;

    // Fraction: up to nanoseconds are kept, further digits are accepted and dropped.
    let mut nanos = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut scale = 100_000_000u32;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }

    let mut offset = UtcOffset::UTC;
    match b.get(i) {
        Some(b'Z' | b'z') => i += 1,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            // Both `+01:00` and `+0100` occur in the wild.
            let colon = usize::from(b.get(i + 3) == Some(&b':'));
            let om = digits(b, i + 3 + colon, 2)?;
            let (oh, om) = (i8::try_from(oh).ok()?, i8::try_from(om).ok()?);
            offset = if sign == b'-' {
                UtcOffset::from_hms(-oh, -om, 0).ok()?
            } else {
                UtcOffset::from_hms(oh, om, 0).ok()?
            };
            i += 5 + colon;
        }
        _ => {}
    }

    if bracketed {
        if b.get(i) != Some(&b']') {
            return None;
        }
        i += 1;
    } else if !matches!(b.get(i), None | Some(b' ' | b'\t')) {
        // `2025-03-09T23:55:02Zfoo` or `2025-03-09 23:55:02:12` is something else.
        return None;
    }

    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let clock = Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    Some((PrimitiveDateTime::new(date, clock).assume_offset(offset), i))
}

/// Reads exactly `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let field = b.get(at..at.checked_add(n)?)?;
    field.iter().try_fold(0u32, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}
