//! Reading a run's file from where indexing left off, parsing it a chunk at a
//! time and staging the lines in an index batch.
//!
//! Memory stays bounded by [`CHUNK_BYTES`] however large the log: a chunk is
//! parsed, its whole lines staged, and only the partial line at its end
//! carried into the next read. A line longer than
//! [`MAX_LINE_BYTES`](crate::parse::MAX_LINE_BYTES) is not carried whole:
//! its head is kept and the rest of it read past, so even one giant line
//! with no newline costs no more memory than a chunk.
//!
//! The file's first bytes decide its encoding ([`detect_encoding`]); a
//! byte-order mark is consumed, not parsed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use crate::index::block::LineRef;
use crate::index::WriteBatch;
use crate::parse::{detect_encoding, Encoding, ParseState, Parser, Section, MAX_LINE_BYTES};
use crate::parse::{message_of, LineView};
use crate::store::{RunRecord, RunSignatures};

/// Bytes read from a file per parse step; bounds memory for huge logs.
const CHUNK_BYTES: usize = 4 << 20;

/// Where parsing of a run's file starts.
#[derive(Debug, Clone)]
pub struct ParseFrom {
    pub offset: u64,
    pub state: ParseState,
    /// Lines of each level already indexed before `offset`.
    pub levels: [u64; 5],
}

impl ParseFrom {
    /// The top of the file.
    pub fn start() -> ParseFrom {
        ParseFrom {
            offset: 0,
            state: ParseState::default(),
            levels: [0; 5],
        }
    }

    /// Just after what `record` says was indexed.
    pub fn after(record: &RunRecord, section: Section) -> ParseFrom {
        ParseFrom {
            offset: record.bytes_indexed,
            state: ParseState {
                next_line: record.lines_indexed + 1,
                section,
            },
            levels: record.levels,
        }
    }
}

/// Where parsing stopped.
#[derive(Debug)]
pub struct ParsedTo {
    /// Bytes of the file consumed: whole lines, and the last line only when
    /// it was taken as complete.
    pub offset: u64,
    pub state: ParseState,
    pub levels: [u64; 5],
}

/// How far to parse.
#[derive(Debug, Clone, Copy)]
pub struct ParseUntil {
    /// The file's size when it was planned: a writer appending meanwhile
    /// gets its new lines picked up by the next change.
    pub size: u64,
    /// Take a last line without a newline as complete.
    pub take_tail: bool,
}

/// Parses `file` from `from` to `until` and stages the lines of `run_id` in
/// `batch`, counting them by signature in `signatures`. `on_bytes` hears of
/// the bytes parsed as they go (progress).
#[allow(clippy::too_many_arguments)]
pub fn parse_into(
    batch: &mut WriteBatch<'_>,
    signatures: &mut RunSignatures,
    parser: &Parser,
    run_id: u64,
    file: &mut File,
    from: ParseFrom,
    until: ParseUntil,
    on_bytes: &dyn Fn(u64),
) -> Result<ParsedTo, ReadError> {
    let ParseUntil { size, take_tail } = until;
    let (encoding, bom) = file_encoding(file)?;
    let mut offset = from.offset;
    if offset == 0 && (bom as u64) <= size {
        offset = bom as u64;
        on_bytes(offset);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = file.take(size.saturating_sub(offset));
    let mut state = from.state;
    let mut levels = from.levels;
    // A read of one byte past the expected end finds EOF without a second
    // pass; a small file never pays for a whole chunk of zeroes.
    let step = CHUNK_BYTES.min(size.saturating_sub(offset) as usize + 1);
    let mut buf: Vec<u8> = Vec::with_capacity(step);
    loop {
        let before = buf.len();
        buf.resize(before + step, 0);
        let n = reader.read(&mut buf[before..])?;
        buf.truncate(before + n);
        let eof = n == 0;
        let (lines, used) = parser.parse_views(&mut state, &buf, eof && take_tail, encoding);
        for l in &lines {
            tally(&mut levels, signatures, l);
        }
        batch.add_line_refs(run_id, lines.iter().map(LineRef::from))?;
        offset += used as u64;
        on_bytes(used as u64);
        buf.drain(..used);
        if eof {
            break;
        }
        if buf.len() > MAX_LINE_BYTES {
            // What is left is the start of one line longer than is indexed.
            let skipped = skip_line(&mut reader, encoding, &buf)?;
            if !skipped.ended && !take_tail {
                // Not finished yet: taken whole once it ends or goes quiet.
                break;
            }
            let line = parser.parse_head(&mut state, &buf, encoding);
            tally(&mut levels, signatures, &line);
            batch.add_line_refs(run_id, [LineRef::from(&line)])?;
            let used = buf.len() as u64 + skipped.bytes;
            offset += used;
            on_bytes(used);
            buf.clear();
            if !skipped.ended {
                break;
            }
        }
    }
    Ok(ParsedTo {
        offset,
        state,
        levels,
    })
}

/// Counts a parsed line by level and by signature.
fn tally(levels: &mut [u64; 5], signatures: &mut RunSignatures, l: &LineView<'_>) {
    let level = l.level.as_u64();
    levels[level as usize] += 1;
    signatures.count(
        l.signature,
        level as u8,
        l.source.as_u64() as u8,
        l.line,
        || message_of(&l.message),
    );
}

/// The file's encoding and byte-order mark length, from its first bytes.
pub fn file_encoding(file: &File) -> std::io::Result<(Encoding, usize)> {
    let mut first = [0u8; 3];
    let got = read_at_most(file, &mut first, 0)?;
    Ok(detect_encoding(&first[..got]))
}

/// Reads into `buf` from `at` until it is full or the file ends.
fn read_at_most(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], at + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// How much of a line [`skip_line`] read past.
struct Skipped {
    /// Bytes read past, the newline included when `ended`.
    bytes: u64,
    /// Whether the line's newline was found (else the file ended first).
    ended: bool,
}

/// Reads past the rest of a line whose first bytes, `held`, are already
/// read, up to and including its newline, [`SKIP_BYTES`] at a time.
fn skip_line(reader: &mut impl Read, encoding: Encoding, held: &[u8]) -> std::io::Result<Skipped> {
    let mut buf = vec![0u8; SKIP_BYTES];
    let mut skipped = 0u64;
    // UTF-16: the first byte of a code unit whose second is yet to come.
    let mut half = match (encoding, held) {
        (Encoding::Utf8, _) => None,
        (_, [.., last]) if held.len() % 2 == 1 => Some(*last),
        _ => None,
    };
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(Skipped {
                bytes: skipped,
                ended: false,
            });
        }
        let chunk = &buf[..n];
        let end = match encoding {
            Encoding::Utf8 => memchr::memchr(b'\n', chunk).map(|i| i + 1),
            Encoding::Utf16Le | Encoding::Utf16Be => {
                chunk.iter().enumerate().find_map(|(i, &b)| {
                    match half.take() {
                        Some(a) if encoding.line_end(&[a, b]) == Some(0) => return Some(i + 1),
                        Some(_) => {}
                        None => half = Some(b),
                    }
                    None
                })
            }
        };
        if let Some(end) = end {
            return Ok(Skipped {
                bytes: skipped + end as u64,
                ended: true,
            });
        }
        skipped += n as u64;
    }
}

/// What [`skip_line`] reads at a time.
const SKIP_BYTES: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
}
