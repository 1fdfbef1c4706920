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

/// One line of a block body, borrowed from it: a candidate line is checked
/// without copying it, and only a line that is served is made owned.
#[derive(Debug, Clone, Copy)]
pub struct LineRef<'a> {
    pub line: u64,
    pub level: Level,
    pub source: Source,
    pub timestamp: &'a str,
    pub text: &'a str,
}

impl LineRef<'_> {
    pub fn to_owned_line(&self) -> IndexedLine {
        IndexedLine {
            line: self.line,
            level: self.level,
            source: self.source,
            timestamp: (!self.timestamp.is_empty()).then(|| self.timestamp.to_owned()),
            text: self.text.to_owned(),
        }
    }
}

/// The lines of a block body whose first line is `first_line`, in order.
pub fn lines(body: &[u8], first_line: u64) -> Lines<'_> {
    Lines {
        rest: body,
        next: first_line,
    }
}

pub struct Lines<'a> {
    rest: &'a [u8],
    next: u64,
}

impl<'a> Lines<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(malformed());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn line(&mut self) -> Result<LineRef<'a>> {
        let head = self.take(4)?;
        let level = Level::from_u64(head[0] as u64).ok_or_else(malformed)?;
        let source = Source::from_u64(head[1] as u64).ok_or_else(malformed)?;
        let ts_len = u16::from_le_bytes([head[2], head[3]]) as usize;
        let timestamp = std::str::from_utf8(self.take(ts_len)?).map_err(|_| malformed())?;
        let len = self.take(4)?;
        let text_len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let text = std::str::from_utf8(self.take(text_len)?).map_err(|_| malformed())?;
        let line = self.next;
        self.next += 1;
        Ok(LineRef {
            line,
            level,
            source,
            timestamp,
            text,
        })
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<LineRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.line();
        if item.is_err() {
            // A body that does not decode ends here, after its one error.
            self.rest = &[];
        }
        Some(item)
    }
}

fn malformed() -> IndexError {
    IndexError::Malformed("block body does not decode")
}

/// Unpacks a whole block body whose first line is `first_line`.
pub fn decode(body: &[u8], first_line: u64) -> Result<Vec<IndexedLine>> {
    lines(body, first_line)
        .map(|l| l.map(|l| l.to_owned_line()))
        .collect()
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
