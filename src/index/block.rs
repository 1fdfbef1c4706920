//! The stored form of a block: the lines of one block document, packed into
//! one string.
//!
//! A block is [`BLOCK_LINES`](super::schema::BLOCK_LINES) consecutive lines
//! of a run (the last block of a run may be shorter). Line numbers are not
//! stored: a block's lines are numbered from its first line on. Each line is
//! its level and source as one digit each, then the timestamp and the text,
//! each as a decimal byte length, `:`, and the bytes:
//! `31 20:2025-03-09T23:55:02Z 14:[WARN] café` (without the spaces).
//!
//! The body is text, not bytes, for speed: tantivy reads a stored string in
//! one copy and one UTF-8 check, but a stored byte string one byte at a time
//! (measured: a third of the CPU of a filtered page went there), and the
//! lines are then sliced from the checked string without checking each
//! again. Decoding checks every length and boundary, and a body that does
//! not decode is an error, never an empty or partial answer.
//!
//! The codec owns its line type, [`IndexedLine`]: what it packs and what it
//! unpacks. Writing and searching take it from here, and the codec depends
//! on neither.

use super::{IndexError, Result};
use crate::parse::{Level, LineView, ParsedLine, Source};

/// A line as read back from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedLine {
    pub line: u64,
    pub level: Level,
    pub source: Source,
    pub timestamp: Option<String>,
    pub text: String,
}

/// Packs lines into a block body.
pub fn encode(lines: &[IndexedLine]) -> String {
    let size: usize = lines
        .iter()
        .map(|l| 16 + l.text.len() + l.timestamp.as_ref().map_or(0, String::len))
        .sum();
    let mut out = String::with_capacity(size);
    for l in lines {
        push_line(&mut out, &l.as_ref());
    }
    out
}

/// Appends one line to a block body being built; returns where its text
/// starts in `out` (the text is the last `line.text.len()` bytes).
pub fn push_line(out: &mut String, line: &LineRef<'_>) -> usize {
    push_digit(out, line.level.as_u64());
    push_digit(out, line.source.as_u64());
    push_field(out, line.timestamp);
    push_field(out, line.text);
    out.len() - line.text.len()
}

/// A code of one digit (levels and sources have fewer than ten).
fn push_digit(out: &mut String, code: u64) {
    out.push(char::from(b'0' + (code % 10) as u8));
}

/// `len:value`. Written by hand: formatting machinery per line was a
/// measurable part of indexing.
fn push_field(out: &mut String, value: &str) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = value.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
    out.push(':');
    out.push_str(value);
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

impl IndexedLine {
    pub fn as_ref(&self) -> LineRef<'_> {
        let stamp = self.timestamp.as_deref();
        LineRef::new(self.line, (self.level, self.source), stamp, &self.text)
    }
}

impl<'a> From<&'a ParsedLine> for LineRef<'a> {
    fn from(l: &'a ParsedLine) -> LineRef<'a> {
        let stamp = l.timestamp.as_deref();
        LineRef::new(l.line, (l.level, l.source), stamp, &l.message)
    }
}

impl<'a> From<&'a LineView<'_>> for LineRef<'a> {
    fn from(l: &'a LineView<'_>) -> LineRef<'a> {
        let stamp = l.timestamp.as_deref();
        LineRef::new(l.line, (l.level, l.source), stamp, &l.message)
    }
}

impl<'a> LineRef<'a> {
    /// A line whose timestamp may be missing: a missing one is stored as
    /// an empty one.
    fn new(
        line: u64,
        (level, source): (Level, Source),
        timestamp: Option<&'a str>,
        text: &'a str,
    ) -> LineRef<'a> {
        LineRef {
            line,
            level,
            source,
            timestamp: timestamp.unwrap_or(""),
            text,
        }
    }
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
pub fn lines(body: &str, first_line: u64) -> Lines<'_> {
    Lines {
        rest: body,
        next: first_line,
    }
}

pub struct Lines<'a> {
    rest: &'a str,
    next: u64,
}

impl<'a> Lines<'a> {
    /// The code digit at the front.
    fn digit(&mut self) -> Result<u64> {
        let d = self.rest.as_bytes().first().ok_or_else(malformed)?;
        if !d.is_ascii_digit() {
            return Err(malformed());
        }
        self.rest = &self.rest[1..];
        Ok(u64::from(d - b'0'))
    }

    /// A length, then `:`, then that many bytes. One pass over the digits:
    /// every line of every block read goes through here twice.
    fn field(&mut self) -> Result<&'a str> {
        let bytes = self.rest.as_bytes();
        let mut len: usize = 0;
        let mut at = 0;
        loop {
            match bytes.get(at) {
                Some(&b':') if at > 0 => break,
                Some(&d) if d.is_ascii_digit() && at < 20 => {
                    len = len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(usize::from(d - b'0')))
                        .ok_or_else(malformed)?;
                    at += 1;
                }
                _ => return Err(malformed()),
            }
        }
        let start = at + 1;
        let end = start.checked_add(len).ok_or_else(malformed)?;
        let value = self.rest.get(start..end).ok_or_else(malformed)?;
        self.rest = &self.rest[end..];
        Ok(value)
    }

    /// The next line whose level and source codes are in the masks (bit
    /// `code` set), skipping the others after reading only their codes and
    /// lengths: a filtered page passes over most lines of the blocks it reads.
    pub fn next_of_kinds(&mut self, levels: u32, sources: u32) -> Option<Result<LineRef<'a>>> {
        loop {
            let rest = self.rest;
            if rest.is_empty() {
                return None;
            }
            let Some(codes) = rest.as_bytes().get(..2) else {
                return self.next();
            };
            let wanted =
                |code: u8, mask: u32| code.is_ascii_digit() && mask & (1 << (code - b'0')) != 0;
            if wanted(codes[0], levels) && wanted(codes[1], sources) {
                return self.next();
            }
            if !(codes[0].is_ascii_digit() && codes[1].is_ascii_digit()) {
                // Not a line: decoding it reports the error.
                return self.next();
            }
            self.rest = &self.rest[2..];
            if let Err(e) = self.field().and_then(|_| self.field()) {
                self.rest = "";
                return Some(Err(e));
            }
            self.next += 1;
        }
    }

    fn line(&mut self) -> Result<LineRef<'a>> {
        let level = Level::from_u64(self.digit()?).ok_or_else(malformed)?;
        let source = Source::from_u64(self.digit()?).ok_or_else(malformed)?;
        let timestamp = self.field()?;
        let text = self.field()?;
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
            self.rest = "";
        }
        Some(item)
    }
}

fn malformed() -> IndexError {
    IndexError::Malformed("block body does not decode")
}

/// Unpacks a whole block body whose first line is `first_line`.
pub fn decode(body: &str, first_line: u64) -> Result<Vec<IndexedLine>> {
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
            // Text that looks like the format itself.
            line(132, None, "12:34 5:x\r"),
        ];
        let body = encode(&lines);
        assert_eq!(decode(&body, 129).unwrap_or_default(), lines);
        assert_eq!(decode("", 1).unwrap_or_default(), vec![]);
    }

    #[test]
    fn the_format_is_the_documented_one() {
        let body = encode(&[line(1, Some("2025-03-09T23:55:02Z"), "[WARN] café")]);
        let code = |l: Level, s: Source| format!("{}{}", l.as_u64(), s.as_u64());
        let want = format!(
            "{}20:2025-03-09T23:55:02Z12:[WARN] café",
            code(Level::Warning, Source::TestRunner)
        );
        assert_eq!(body, want);
    }

    #[test]
    fn a_body_built_line_by_line_is_the_encoded_body() -> Result<()> {
        let lines = vec![
            line(129, Some("2025-03-09T23:55:02Z"), "[WARN] café"),
            line(130, None, ""),
            line(131, None, &"x".repeat(1000)),
        ];
        let mut body = String::new();
        for l in &lines {
            let at = push_line(&mut body, &l.as_ref());
            assert_eq!(
                body.get(at..),
                Some(l.text.as_str()),
                "where its text starts"
            );
        }
        assert_eq!(body, encode(&lines));
        assert_eq!(decode(&body, 129)?, lines);
        Ok(())
    }

    #[test]
    fn a_cut_or_corrupt_body_is_an_error() {
        let body = encode(&[line(1, None, "héllo")]);
        for cut in (1..body.len()).filter(|&c| body.is_char_boundary(c)) {
            assert!(decode(&body[..cut], 1).is_err(), "cut at {cut}");
        }
        let bad = format!("9{}", &body[1..]); // no such level
        assert!(decode(&bad, 1).is_err());
        // A length that ends inside a character.
        let split = body.replacen("6:h", "2:h", 1);
        assert!(decode(&split, 1).is_err(), "{split}");
        assert!(decode("32x:abc", 1).is_err());
        assert!(decode("320:99999999999999999999999:", 1).is_err());
    }

    #[test]
    fn lines_of_kinds_are_the_lines_that_pass_the_masks() -> Result<()> {
        let all: Vec<IndexedLine> = (0..40u64)
            .map(|i| IndexedLine {
                line: 10 + i,
                level: Level::ALL[(i % 5) as usize],
                source: Source::ALL[(i / 3 % 5) as usize],
                timestamp: (i % 4 == 0).then(|| format!("t{i}")),
                text: format!("line {i} {}", "é".repeat(i as usize)),
            })
            .collect();
        let body = encode(&all);
        let mask = |codes: &[u64]| codes.iter().fold(0u32, |m, c| m | 1 << c);
        for (levels, sources) in [
            (mask(&[Level::Error.as_u64()]), u32::MAX),
            (
                u32::MAX,
                mask(&[Source::TestRunner.as_u64(), Source::Worker.as_u64()]),
            ),
            (
                mask(&[Level::Warning.as_u64(), Level::Critical.as_u64()]),
                mask(&[Source::ALL[1].as_u64()]),
            ),
            (0, u32::MAX),
            (u32::MAX, u32::MAX),
        ] {
            let want: Vec<IndexedLine> = all
                .iter()
                .filter(|l| levels & (1 << l.level.as_u64()) != 0)
                .filter(|l| sources & (1 << l.source.as_u64()) != 0)
                .cloned()
                .collect();
            let mut lines = lines(&body, 10);
            let mut got = Vec::new();
            while let Some(line) = lines.next_of_kinds(levels, sources) {
                got.push(line?.to_owned_line());
            }
            assert_eq!(got, want, "levels {levels:b} sources {sources:b}");
        }
        // A body cut inside a skipped line is still an error.
        let end = (0..body.len() - 2)
            .rev()
            .find(|&i| body.is_char_boundary(i))
            .unwrap_or(0);
        let cut = &body[..end];
        let mut lines = lines(cut, 10);
        let mut failed = false;
        while let Some(line) = lines.next_of_kinds(0, 0) {
            failed |= line.is_err();
        }
        assert!(failed);
        Ok(())
    }
}
