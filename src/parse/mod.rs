//! The line parser: turns a run log's bytes into numbered, classified lines.
//!
//! A run log (`LogFiles/{run_id}.txt`, see `log-format.md`) has no level or
//! module names of its own: it is the concatenated console output of the VM's
//! runner script, the CCExtractor binary's version block and the test runner.
//! The API filters lines by `level` and `source`, so this module decides both
//! for every line from two things:
//!
//! * **the line itself** — the built-in rules in [`rules`] (a bracketed level
//!   such as `[WARN] `, a `LEVEL source: message` shape, the runner script's own
//!   phrases, compiler and `make` diagnostics, crash reports), tried after any
//!   operator rules from the configuration;
//! * **where it stands in the file** — the [`Section`]. The version block's
//!   lines (`=== CCExtractor Binary Version ===` … `=== End Version Info ===`,
//!   markers included) belong to `build`; once the test runner has printed its
//!   first bracketed line, the unmarked lines that follow (the tested program's
//!   output, stack traces) belong to `test_runner` until the runner script
//!   speaks again (`Posting ...`, `Sending log to ...`, `Uploading ...`, ...).
//!   Everything else defaults to `worker`, the runner script.
//!
//! The section is the only thing carried from one line to the next, so it lives
//! in [`ParseState`] together with the next line number: a file that grows can be
//! parsed chunk by chunk, and a chunk boundary never changes a line's verdict.
//! Operator rules decide level and/or source but never the section, so adding a
//! rule cannot make the parser lose track of where it is.
//!
//! A line with no sign of its level is `info`. Level words only count at the
//! start of a line (after an optional timestamp) or in brackets; the word
//! `error` in the middle of a line does not make it an error (the platform's
//! old keyword search did exactly that), except inside the compiler and `make`
//! shapes that put it there.

mod decode;
mod recent;
mod rules;
mod timestamp;

pub use decode::{decode_line, detect_encoding, Encoding};

/// A line is indexed, and searched, in its first this many bytes; the rest
/// of a longer line is skipped. It bounds what one line costs the index and
/// every page that serves it (a 200 MB line with no newline made every page
/// of its run cost 0.35 s). A line cut here still has over 4,000 characters
/// (at most 4 bytes each), so it is served as the API serves any long line:
/// its first 4,000 characters, with `truncated: true`.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

use std::borrow::Cow;

use regex::Regex;

use crate::signature::{signature_of, SignatureId};
use serde::{Deserialize, Serialize};

/// How serious a line is. The order is the severity order (used for sorting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }

    /// Stable code stored in the index: never renumber.
    pub fn as_u64(self) -> u64 {
        match self {
            Level::Debug => 0,
            Level::Info => 1,
            Level::Warning => 2,
            Level::Error => 3,
            Level::Critical => 4,
        }
    }

    pub fn from_u64(v: u64) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_u64() == v)
    }
}

impl std::str::FromStr for Level {
    type Err = UnknownValue;

    /// Accepts exactly the lowercase names of the API.
    fn from_str(s: &str) -> Result<Level, UnknownValue> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownValue(s.to_owned()))
    }
}

/// Who wrote a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Orchestrator,
    Worker,
    Build,
    TestRunner,
    Web,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Orchestrator,
        Source::Worker,
        Source::Build,
        Source::TestRunner,
        Source::Web,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Orchestrator => "orchestrator",
            Source::Worker => "worker",
            Source::Build => "build",
            Source::TestRunner => "test_runner",
            Source::Web => "web",
        }
    }

    /// Stable code stored in the index: never renumber.
    pub fn as_u64(self) -> u64 {
        match self {
            Source::Orchestrator => 0,
            Source::Worker => 1,
            Source::Build => 2,
            Source::TestRunner => 3,
            Source::Web => 4,
        }
    }

    pub fn from_u64(v: u64) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_u64() == v)
    }
}

impl std::str::FromStr for Source {
    type Err = UnknownValue;

    /// Accepts exactly the lowercase names of the API.
    fn from_str(s: &str) -> Result<Source, UnknownValue> {
        Source::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownValue(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

/// An operator rule from the config file ([[parser.rules]] in TOML).
///
/// `pattern` is a regex (Rust `regex` syntax) searched anywhere in the whole
/// line, timestamp included; anchor it with `^` to match at the start.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub pattern: String,
    pub level: Option<Level>,
    pub source: Option<Source>,
}

/// A configuration's rules that cannot be used. `index` is the rule's 0-based
/// position in the list given to [`Parser::new`].
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("parser rule {index} has an invalid pattern: {source}")]
    BadPattern {
        index: usize,
        #[source]
        source: regex::Error,
    },
    #[error("parser rule {index} sets neither level nor source")]
    EmptyRule { index: usize },
}

/// Where in the file the parser stands; carried from one chunk to the next so an
/// appended file can be parsed from where the last parse stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseState {
    /// The 1-based number the next line gets.
    pub next_line: u64,
    pub section: Section,
}

impl Default for ParseState {
    fn default() -> ParseState {
        ParseState {
            next_line: 1,
            section: Section::default(),
        }
    }
}

/// The part of the log the parser is in; decides the source of unmarked lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    /// The runner script's own output (and the commands it runs): `worker`.
    #[default]
    Runner,
    /// Between the version markers: `build`.
    VersionBlock,
    /// After the test runner's first bracketed line, until the runner script
    /// writes again: `test_runner`.
    TestRunner,
}

impl Section {
    /// Stable code stored in SQLite: never renumber (`Runner` must stay 0).
    pub fn as_u8(self) -> u8 {
        match self {
            Section::Runner => 0,
            Section::VersionBlock => 1,
            Section::TestRunner => 2,
        }
    }

    pub fn from_u8(v: u8) -> Option<Section> {
        match v {
            0 => Some(Section::Runner),
            1 => Some(Section::VersionBlock),
            2 => Some(Section::TestRunner),
            _ => None,
        }
    }

    /// The source of a line in this section that names no source of its own.
    pub(crate) fn default_source(self) -> Source {
        match self {
            Section::Runner => Source::Worker,
            Section::VersionBlock => Source::Build,
            Section::TestRunner => Source::TestRunner,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    /// 1-based line number in the file.
    pub line: u64,
    pub level: Level,
    pub source: Source,
    /// RFC 3339 (e.g. "2025-03-09T23:55:02Z") when the line starts with a timestamp.
    pub timestamp: Option<String>,
    /// The whole line, decoded, without its line ending (never cut, never
    /// stripped of prefixes such as the timestamp).
    pub message: String,
    /// The base signature of the line's message (see [`message_of`]).
    pub signature: SignatureId,
}

/// A parsed line whose text borrows from the bytes it was parsed from
/// wherever they are already UTF-8, as nearly all lines are. Indexing takes
/// lines in this form: with a `String` per line, allocated by the parser and
/// freed once its block was written, allocation was about 7% of the
/// indexing CPU (2% after).
#[derive(Debug, Clone, PartialEq)]
pub struct LineView<'a> {
    /// 1-based line number in the file.
    pub line: u64,
    pub level: Level,
    pub source: Source,
    /// As [`ParsedLine::timestamp`]: rare in CI logs, so owned.
    pub timestamp: Option<String>,
    /// As [`ParsedLine::message`].
    pub message: Cow<'a, str>,
    pub signature: SignatureId,
}

impl LineView<'_> {
    pub fn into_owned(self) -> ParsedLine {
        ParsedLine {
            line: self.line,
            level: self.level,
            source: self.source,
            timestamp: self.timestamp,
            message: self.message.into_owned(),
            signature: self.signature,
        }
    }
}

/// The part of a line a signature is computed from: the line after its
/// leading timestamp, if any (a timestamp is never part of a message's
/// shape). The one place that says so, for the parser and the index.
pub fn message_of(text: &str) -> &str {
    timestamp::split(text).1
}

/// The base signature of a whole line: [`signature_of`] its message.
pub fn line_signature(text: &str) -> SignatureId {
    signature_of(message_of(text))
}

/// One compiled operator rule.
#[derive(Debug)]
struct OperatorRule {
    regex: Regex,
    level: Option<Level>,
    source: Option<Source>,
}

/// The compiled built-in and operator rules; cheap to share between threads.
#[derive(Debug)]
pub struct Parser {
    // A list of single regexes rather than one `RegexSet`: operator rules are
    // few, the first rule deciding both fields stops the search early, and a
    // bad pattern is reported with its own index.
    operator: Vec<OperatorRule>,
}

impl Parser {
    /// Compiles the operator rules (the built-in ones need no compiling).
    pub fn new(rules: &[RuleConfig]) -> Result<Parser, RulesError> {
        let operator = rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                if rule.level.is_none() && rule.source.is_none() {
                    return Err(RulesError::EmptyRule { index });
                }
                let regex = Regex::new(&rule.pattern)
                    .map_err(|source| RulesError::BadPattern { index, source })?;
                Ok(OperatorRule {
                    regex,
                    level: rule.level,
                    source: rule.source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Parser { operator })
    }

    /// Parses the complete lines of `bytes` (each ending in "\n"; a "\r" right before the "\n" is stripped too), and,
    /// when `eof` is true, also the trailing bytes after the last "\n" as a final line (if non-empty; strip a trailing "\r" there too).
    /// Returns the parsed lines and how many bytes of `bytes` were consumed (so the caller can
    /// resume later at that byte offset with the same `state`). `state` is advanced.
    pub fn parse(
        &self,
        state: &mut ParseState,
        bytes: &[u8],
        eof: bool,
    ) -> (Vec<ParsedLine>, usize) {
        self.parse_encoded(state, bytes, eof, Encoding::Utf8)
    }

    /// [`Parser::parse`] for bytes in `encoding` (`bytes` starts at a line
    /// start, after any byte-order mark).
    pub fn parse_encoded(
        &self,
        state: &mut ParseState,
        bytes: &[u8],
        eof: bool,
        encoding: Encoding,
    ) -> (Vec<ParsedLine>, usize) {
        let (lines, used) = self.parse_views(state, bytes, eof, encoding);
        (lines.into_iter().map(LineView::into_owned).collect(), used)
    }

    /// [`Parser::parse_encoded`], with each line's text borrowed from
    /// `bytes` where it can be.
    pub fn parse_views<'a>(
        &self,
        state: &mut ParseState,
        bytes: &'a [u8],
        eof: bool,
        encoding: Encoding,
    ) -> (Vec<LineView<'a>>, usize) {
        let mut lines = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let (raw, consumed) = match encoding.line_end(rest) {
                Some(end) => (&rest[..end], end + encoding.unit()),
                // An unterminated tail may still be being written: leave it for
                // the next call unless the caller says the file is complete.
                None if eof => (rest, rest.len()),
                None => break,
            };
            lines.push(self.parse_line(state, raw, encoding));
            pos += consumed;
        }
        (lines, pos)
    }

    /// Parses the first bytes of a line too long to hold (its end, not
    /// given, is skipped by the caller) as that line.
    pub fn parse_head<'a>(
        &self,
        state: &mut ParseState,
        head: &'a [u8],
        encoding: Encoding,
    ) -> LineView<'a> {
        self.parse_line(state, head, encoding)
    }

    /// Classifies one decoded line given the state (used by parse; public for tests/benches).
    ///
    /// `text` is the whole line without its line ending. Advances
    /// `state.section` as the line requires; does not touch `state.next_line`.
    pub fn classify(&self, state: &mut ParseState, text: &str) -> (Level, Source) {
        let (_, rest) = timestamp::split(text);
        self.classify_with(state, text, rules::verdict(rest))
    }

    /// `raw` is the line without its newline.
    fn parse_line<'a>(
        &self,
        state: &mut ParseState,
        raw: &'a [u8],
        encoding: Encoding,
    ) -> LineView<'a> {
        // Only the "\r" of a CRLF ending goes; a lone "\r" inside stays.
        let raw = encoding.strip_cr(raw);
        let raw = encoding.cut(raw, MAX_LINE_BYTES);
        let text = encoding.decode(raw);
        let (stamp, rest) = timestamp::split(&text);
        let decided = recent::decide(rest);
        let (level, source) = self.classify_with(state, &text, decided.verdict);
        // Formatted only here, so that `classify` never allocates.
        let timestamp = stamp.and_then(timestamp::format);
        let signature = decided.signature;
        let line = state.next_line;
        state.next_line = state.next_line.saturating_add(1);
        LineView {
            line,
            level,
            source,
            timestamp,
            message: text,
            signature,
        }
    }

    /// `text` is the whole line (what operator rules see), `verdict` what the
    /// built-in rules say about the part after its timestamp.
    fn classify_with(
        &self,
        state: &mut ParseState,
        text: &str,
        verdict: Option<rules::Verdict>,
    ) -> (Level, Source) {
        // The built-in rules always apply, even when operator rules decide
        // both fields: they are what keeps the section right.
        let (builtin_level, builtin_source) = rules::apply(&mut state.section, verdict);
        let (mut level, mut source) = (None, None);
        for rule in &self.operator {
            if level.is_some() && source.is_some() {
                break;
            }
            let wants_level = level.is_none() && rule.level.is_some();
            let wants_source = source.is_none() && rule.source.is_some();
            if (wants_level || wants_source) && rule.regex.is_match(text) {
                level = level.or(rule.level);
                source = source.or(rule.source);
            }
        }
        (
            level.unwrap_or(builtin_level),
            source.unwrap_or(builtin_source),
        )
    }
}

#[cfg(test)]
mod tests;
