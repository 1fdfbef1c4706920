//! TEMPORARY stand-in for the parser (being written in parallel); replaced wholesale.
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
    pub fn as_u64(self) -> u64 {
        self as u64
    }
    pub fn from_u64(v: u64) -> Option<Level> {
        Self::ALL.get(v as usize).copied()
    }
}
impl std::str::FromStr for Level {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownValue(s.into()))
    }
}
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
    pub fn as_u64(self) -> u64 {
        self as u64
    }
    pub fn from_u64(v: u64) -> Option<Source> {
        Self::ALL.get(v as usize).copied()
    }
}
impl std::str::FromStr for Source {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownValue(s.into()))
    }
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub pattern: String,
    pub level: Option<Level>,
    pub source: Option<Source>,
}
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("bad")]
    EmptyRule { index: usize },
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseState {
    pub next_line: u64,
    pub section: Section,
}
impl Default for ParseState {
    fn default() -> Self {
        ParseState {
            next_line: 1,
            section: Section::Runner,
        }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Runner,
}
impl Section {
    pub fn as_u8(self) -> u8 {
        0
    }
    pub fn from_u8(_v: u8) -> Option<Section> {
        Some(Section::Runner)
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    pub line: u64,
    pub level: Level,
    pub source: Source,
    pub timestamp: Option<String>,
    pub message: String,
}
pub struct Parser;
impl Parser {
    pub fn new(_rules: &[RuleConfig]) -> Result<Parser, ParseError> {
        Ok(Parser)
    }
    pub fn parse(
        &self,
        state: &mut ParseState,
        bytes: &[u8],
        eof: bool,
    ) -> (Vec<ParsedLine>, usize) {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let (end, next) = match bytes[pos..].iter().position(|&b| b == b'\n') {
                Some(i) => (pos + i, pos + i + 1),
                None if eof => (bytes.len(), bytes.len()),
                None => break,
            };
            let mut line = &bytes[pos..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let text = decode_line(line).into_owned();
            let level = if text.starts_with("[ERROR]") || text.starts_with("ERROR") {
                Level::Error
            } else if text.starts_with("[WARN]") {
                Level::Warning
            } else {
                Level::Info
            };
            out.push(ParsedLine {
                line: state.next_line,
                level,
                source: Source::Worker,
                timestamp: None,
                message: text,
            });
            state.next_line += 1;
            pos = next;
        }
        (out, pos)
    }
}
pub fn decode_line(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}
