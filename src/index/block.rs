//! The stored form of a block: the lines of one block document, packed into
//! one byte string.
//!
//! A block is [`BLOCK_LINES`](super::schema::BLOCK_LINES) consecutive lines
//! of a run (the last block of a run may be shorter). Line numbers are not
//! stored: a block's lines are numbered from its first line on. Each line is
//! `level u8, source u8, timestamp length u16 LE, timestamp, text length
//! u32 LE, text`. Decoding checks every length, and a body that does not
//! decode is an error, never an empty or partial answer.

use super::search::IndexedLine;
use super::{IndexError, Result};
use crate::parse::{Level, Source};

/// Packs lines into a block body.
pub fn encode(lines: &[IndexedLine]) -> Vec<u8> {
    let size: usize = lines
        .iter()
        .map(|l| 8 + l.text.len() + l.timestamp.as_ref().map_or(0, String::len))
        .sum();
    let mut out = Vec::with_capacity(size);
    for l in lines {
        out.push(l.level.as_u64() as u8);
        out.push(l.source.as_u64() as u8);
        // Timestamps are RFC 3339 strings the parser made: far below 64 KiB.
        let ts = l.timestamp.as_deref().unwrap_or("");
        let ts = &ts[..ts.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(ts.len() as u16).to_le_bytes());
        out.extend_from_slice(ts.as_bytes());
        // Lines longer than 4 GiB cannot be read into memory in the first place.
        let text = &l.text[..l.text.len().min(u32::MAX as usize)];
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// Unpacks a block body whose first line is `first_line`.
pub fn decode(body: &[u8], first_line: u64) -> Result<Vec<IndexedLine>> {
    let malformed = || IndexError::Malformed("block body does not decode");
    fn take<'a>(n: usize, rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Some(head)
    }
    let mut lines = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let head = take(4, &mut rest).ok_or_else(malformed)?;
        let level = Level::from_u64(head[0] as u64).ok_or_else(malformed)?;
        let source = Source::from_u64(head[1] as u64).ok_or_else(malformed)?;
        let ts_len = u16::from_le_bytes([head[2], head[3]]) as usize;
        let ts = take(ts_len, &mut rest).ok_or_else(malformed)?;
        let ts = std::str::from_utf8(ts).map_err(|_| malformed())?;
        let len = take(4, &mut rest).ok_or_else(malformed)?;
        let text_len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let text = take(text_len, &mut rest).ok_or_else(malformed)?;
        let text = std::str::from_utf8(text).map_err(|_| malformed())?;
        lines.push(IndexedLine {
            line: first_line + lines.len() as u64,
            level,
            source,
            timestamp: (!ts.is_empty()).then(|| ts.to_owned()),
            text: text.to_owned(),
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, ts: Option<&str>, text: &str) -> IndexedLine {
        IndexedLine {
            line: n,
            level: Level::Warning,
            source: Source::TestRunner,
            timestamp: ts.map(str::to_owned),
            text: text.to_owned(),
        }
    }

    #[test]
    fn round_trip_keeps_every_field_and_numbers_from_the_first_line() {
        let lines = vec![
            line(129, Some("2025-03-09T23:55:02Z"), "[WARN] café €"),
            line(130, None, ""),
            line(131, None, &"x".repeat(5000)),
        ];
        let body = encode(&lines);
        assert_eq!(decode(&body, 129).unwrap_or_default(), lines);
        assert_eq!(decode(&[], 1).unwrap_or_default(), vec![]);
    }

    #[test]
    fn a_cut_or_corrupt_body_is_an_error() {
        let body = encode(&[line(1, None, "hello")]);
        for cut in 1..body.len() {
            assert!(decode(&body[..cut], 1).is_err(), "cut at {cut}");
        }
        let mut bad = body.clone();
        bad[0] = 9; // no such level
        assert!(decode(&bad, 1).is_err());
    }
}
