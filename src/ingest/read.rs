//! Reading a run's file from where indexing left off, parsing it a chunk at a
//! time and staging the lines in an index batch.
//!
//! Memory stays bounded by [`CHUNK_BYTES`] however large the log: a chunk is
//! parsed, its whole lines staged, and only the partial line at its end
//! carried into the next read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use crate::index::WriteBatch;
use crate::parse::{ParseState, Parser, Section};
use crate::store::RunRecord;

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
/// `batch`. `on_bytes` hears of the bytes parsed as they go (progress).
pub fn parse_into(
    batch: &mut WriteBatch<'_>,
    parser: &Parser,
    run_id: u64,
    file: &mut File,
    from: ParseFrom,
    until: ParseUntil,
    on_bytes: &dyn Fn(u64),
) -> Result<ParsedTo, ReadError> {
    let ParseUntil { size, take_tail } = until;
    file.seek(SeekFrom::Start(from.offset))?;
    let mut reader = file.take(size.saturating_sub(from.offset));
    let mut state = from.state;
    let mut levels = from.levels;
    let mut offset = from.offset;
    // A read of one byte past the expected end finds EOF without a second
    // pass; a small file never pays for a whole chunk of zeroes.
    let step = CHUNK_BYTES.min(size.saturating_sub(from.offset) as usize + 1);
    let mut buf: Vec<u8> = Vec::with_capacity(step);
    loop {
        let before = buf.len();
        buf.resize(before + step, 0);
        let n = reader.read(&mut buf[before..])?;
        buf.truncate(before + n);
        let eof = n == 0;
        let (lines, used) = parser.parse(&mut state, &buf, eof && take_tail);
        for l in &lines {
            levels[l.level.as_u64() as usize] += 1;
        }
        batch.add_lines(run_id, lines)?;
        offset += used as u64;
        on_bytes(used as u64);
        buf.drain(..used);
        if eof {
            break;
        }
    }
    Ok(ParsedTo {
        offset,
        state,
        levels,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
}
