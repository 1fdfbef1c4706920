//! Fixtures shared by the index's unit tests: the parsed lines they feed the
//! index, built in one place rather than once per test module.

use crate::parse::{Level, ParsedLine, Source};

/// Line `n` as the parser hands it to the index, without a timestamp.
pub(crate) fn line(n: u64, level: Level, source: Source, message: impl Into<String>) -> ParsedLine {
    let message = message.into();
    ParsedLine {
        line: n,
        level,
        source,
        timestamp: None,
        signature: crate::parse::line_signature(&message),
        message,
    }
}

/// Line `n` from the test runner: an error when `n` is a multiple of
/// `errors_every`, otherwise info.
pub(crate) fn runner_line(n: u64, errors_every: u64, message: impl Into<String>) -> ParsedLine {
    let level = if n % errors_every == 0 {
        Level::Error
    } else {
        Level::Info
    };
    line(n, level, Source::TestRunner, message)
}
