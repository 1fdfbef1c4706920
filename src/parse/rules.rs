//! The built-in rules: what a line says about its own level and source.
//!
//! Every rule is a hand-written prefix or shape check rather than a regex: this
//! runs once per line over logs of hundreds of MB, and nearly every line is
//! decided (or rejected) by its first few bytes. The rules are tried in the
//! order of [`match_line`]; the README's rules table lists them in that order.
//!
//! A rule may leave the source open (`source: None`); the line then takes the
//! default source of the section it is in (see [`Section::default_source`]).
//! A rule may also move the parser into another section (`next`).

use super::{Level, Section, Source};

/// What a built-in rule decided about a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub level: Level,
    /// `None`: the section's default source.
    pub source: Option<Source>,
    /// `Some`: the section the parser is in from this line on.
    pub next: Option<Section>,
}

impl Verdict {
    const fn new(level: Level, source: Option<Source>, next: Option<Section>) -> Verdict {
        Verdict {
            level,
            source,
            next,
        }
    }
}

const VERSION_START: &str = "=== CCExtractor Binary Version ===";
const VERSION_END: &str = "=== End Version Info ===";

/// What the rules say about the text of a line after its timestamp (if
/// any), alone: a pure function of it.
///
/// The platform's `OK` reply has no newline of its own and can stick to the
/// next line (`OKUploading ...`), so a line starting with `OK` is first judged
/// by what follows the `OK`; only if that matches nothing is the whole line tried.
pub(crate) fn verdict(text: &str) -> Option<Verdict> {
    match text.strip_prefix("OK") {
        Some(after) => match_line(after).or_else(|| match_line(text)),
        None => match_line(text),
    }
}

/// A line's level and source from its verdict and the section it is in,
/// moving to the section the verdict names.
pub(crate) fn apply(section: &mut Section, verdict: Option<Verdict>) -> (Level, Source) {
    match verdict {
        Some(v) => {
            if let Some(next) = v.next {
                *section = next;
            }
            (v.level, v.source.unwrap_or(section.default_source()))
        }
        None => (Level::Info, section.default_source()),
    }
}

/// The ordered built-in rules (rows 1–23 of the README table); `None` when no
/// rule matches (row 24: a plain line).
fn match_line(text: &str) -> Option<Verdict> {
    if text.is_empty() {
        return None;
    }
    if let Some(v) = version_marker(text)
        .or_else(|| bracket_level(text))
        .or_else(|| runner_script(text))
        .or_else(|| level_shape(text))
    {
        return Some(v);
    }
    if let Some(level) = cmake(text) {
        return Some(Verdict::new(level, Some(Source::Build), None));
    }
    if let Some(level) = crash_start(text) {
        return Some(Verdict::new(level, None, None));
    }
    colon_shapes(text)
}

/// Rows 1–2: the markers around the binary's version block.
fn version_marker(text: &str) -> Option<Verdict> {
    if text.starts_with(VERSION_START) {
        Some(Verdict::new(
            Level::Info,
            Some(Source::Build),
            Some(Section::VersionBlock),
        ))
    } else if text.starts_with(VERSION_END) {
        Some(Verdict::new(
            Level::Info,
            Some(Source::Build),
            Some(Section::Runner),
        ))
    } else {
        None
    }
}

/// Row 3: the test runner's `[INFO] ...`; the first one starts its section.
fn bracket_level(text: &str) -> Option<Verdict> {
    let inner = text.strip_prefix('[')?;
    let (level, len) = level_word(inner.as_bytes())?;
    if inner.as_bytes().get(len) != Some(&b']') {
        return None;
    }
    Some(Verdict::new(
        level,
        Some(Source::TestRunner),
        Some(Section::TestRunner),
    ))
}

/// Rows 4–12: lines the runner script (`runCI` / `runCI.bat`) writes, including
/// (rows 4–5) the platform's replies it prints.
/// Each of them also ends the test runner's (or version block's) section: the
/// script only writes again once the program before it has finished.
fn runner_script(text: &str) -> Option<Verdict> {
    use Level::{Error, Info, Warning};
    let worker = |level| {
        Some(Verdict::new(
            level,
            Some(Source::Worker),
            Some(Section::Runner),
        ))
    };

    if text.trim_end() == "OK" {
        // The platform's reply body, printed by curl.
        return Some(Verdict::new(
            Info,
            Some(Source::Orchestrator),
            Some(Section::Runner),
        ));
    }
    if text.starts_with("Status posted") {
        // The script reporting the platform's answer to a status post.
        return Some(Verdict::new(
            Info,
            Some(Source::Orchestrator),
            Some(Section::Runner),
        ));
    }
    if text.starts_with("Posting ")
        || text.starts_with("Sending log to ")
        || text.starts_with("Uploading ")
    {
        return worker(Info);
    }
    if let Some(rest) = text.strip_prefix("Artifact ") {
        // `Artifact NAME: upload failed (...)` vs `Artifact NAME: no file at '', skipping`.
        let outcome = rest.split_once(": ").map_or("", |(_, outcome)| outcome);
        let failed = outcome.starts_with("upload failed") || outcome.starts_with("failed");
        return worker(if failed { Warning } else { Info });
    }
    if let Some(rest) = text.strip_prefix("Attempt ") {
        // Only `Attempt N/M ...`, so that prose starting with "Attempt" is left alone.
        let rest = skip_digits(rest)?.strip_prefix('/')?;
        let rest = skip_digits(rest)?;
        return worker(if rest.starts_with(" failed") {
            Warning
        } else {
            Info
        });
    }
    if text.starts_with("Retrying in ") {
        return worker(Warning);
    }
    if text.starts_with("ERROR: Failed to ") {
        // Checked before the generic `LEVEL:` shape so that it also ends the
        // test runner's section and is credited to the script.
        return worker(Error);
    }
    if let Some(code) = text.strip_prefix("Command exited with ") {
        let ok = code.trim().parse::<i64>() == Ok(0);
        return worker(if ok { Info } else { Error });
    }
    if is_echoed_command(text) {
        return worker(Info);
    }
    None
}

/// `runCI.bat` echoes each command before running it: `cd .`, `call ./rustx86.bat`,
/// `"C:\...\CCExtractorTester.exe" --entries ...`.
fn is_echoed_command(text: &str) -> bool {
    let b = text.as_bytes();
    text.trim_end() == "cd"
        || text.starts_with("cd ")
        || text.starts_with("call ")
        || (b.len() >= 4
            && b[0] == b'"'
            && b[1].is_ascii_alphabetic()
            && b[2] == b':'
            && b[3] == b'\\')
}

/// Rows 13–15: `LEVEL source: message`, `LEVEL: message` and `LEVEL message`.
///
/// The level word must be the line's first word, so that `error` in the
/// middle of a line never decides its level.
fn level_shape(text: &str) -> Option<Verdict> {
    let b = text.as_bytes();
    let (level, len) = level_word(b)?;
    match b.get(len) {
        // `ERROR: ...`, `Warning: ...`
        Some(b':') => Some(Verdict::new(level, None, None)),
        Some(b' ' | b'\t') => {
            let after = text
                .get(len..)
                .unwrap_or("")
                .trim_start_matches([' ', '\t']);
            if let Some(word) = source_word(after) {
                // `ERROR build: Failed`; an unknown word keeps the default source.
                return Some(Verdict::new(level, source_named(word), None));
            }
            // `ERROR something failed` counts only in capitals: "Error while ..."
            // or "info about ..." at the start of a line is prose.
            is_upper(&b[..len]).then_some(Verdict::new(level, None, None))
        }
        None => is_upper(b).then_some(Verdict::new(level, None, None)),
        _ => None,
    }
}

/// The word before `: ` (or before a final `:`) if the text starts with one.
fn source_word(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-')))
        .unwrap_or(b.len());
    if b.get(len) != Some(&b':') || !matches!(b.get(len + 1), None | Some(b' ' | b'\t')) {
        return None;
    }
    text.get(..len)
}

fn source_named(word: &str) -> Option<Source> {
    Source::ALL
        .into_iter()
        .find(|s| word.eq_ignore_ascii_case(s.as_str()))
        .or_else(|| {
            word.eq_ignore_ascii_case("test-runner")
                .then_some(Source::TestRunner)
        })
}

/// Recognises a level word at the start of `b`: the five level names (any case)
/// plus the common spellings `WARN`, `FATAL` (critical) and `TRACE` (debug).
/// Returns the level and the word's length; the caller checks what follows.
pub(crate) fn level_word(b: &[u8]) -> Option<(Level, usize)> {
    // Longer words first: `WARN` is a prefix of `WARNING`.
    const WORDS: [(&[u8], Level); 8] = [
        (b"WARNING", Level::Warning),
        (b"CRITICAL", Level::Critical),
        (b"ERROR", Level::Error),
        (b"FATAL", Level::Critical),
        (b"DEBUG", Level::Debug),
        (b"TRACE", Level::Debug),
        (b"INFO", Level::Info),
        (b"WARN", Level::Warning),
    ];
    // Cheap rejection: no level word starts with any other letter.
    if !matches!(
        b.first().map(u8::to_ascii_uppercase),
        Some(b'W' | b'C' | b'E' | b'F' | b'D' | b'T' | b'I')
    ) {
        return None;
    }
    WORDS.iter().find_map(|&(word, level)| {
        b.get(..word.len())
            .filter(|head| head.eq_ignore_ascii_case(word))
            .map(|_| (level, word.len()))
    })
}

/// Rows 16–17: CMake's diagnostics.
fn cmake(text: &str) -> Option<Level> {
    let rest = text.strip_prefix("CMake ")?;
    if rest.starts_with("Error") {
        Some(Level::Error)
    } else if rest.starts_with("Warning") || rest.starts_with("Deprecation Warning") {
        Some(Level::Warning)
    } else {
        None
    }
}

const CRASHES: [&str; 5] = [
    "Segmentation fault",
    "Bus error",
    "Illegal instruction",
    "Floating point exception",
    "Aborted",
];

/// Row 18: the shell's report of a program killed by a signal, at line start.
fn crash_start(text: &str) -> Option<Level> {
    let crashed = CRASHES.iter().any(|c| text.starts_with(c))
        || text.starts_with("core dumped")
        || text.starts_with("(core dumped)");
    // "Aborted" alone is too common a word; only the shell's exact report counts.
    let crashed = crashed && (!text.starts_with("Aborted") || is_aborted_report(text));
    crashed.then_some(Level::Critical)
}

fn is_aborted_report(text: &str) -> bool {
    let rest = text.trim_end();
    rest == "Aborted" || rest == "Aborted (core dumped)"
}

/// Rows 18–23: shapes that start with `WORD:` — compiler diagnostics
/// (`file.c:12:5: error: ...`, `file.c(12,5): error C2065: ...`), toolchain
/// messages (`collect2: error: ...`), `make: *** ...`, the shell's
/// `./script: line 42: 1234 Segmentation fault` and the dynamic loader's
/// `prog: error while loading shared libraries: ...`.
fn colon_shapes(text: &str) -> Option<Verdict> {
    let b = text.as_bytes();
    // A Windows drive letter's colon is part of the path, not the separator.
    let skip = if b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && matches!(b[2], b'\\' | b'/')
    {
        2
    } else {
        0
    };
    let colon = skip + text.get(skip..)?.find(':')?;
    let (prefix, after) = (text.get(..colon)?, text.get(colon + 1..)?);
    if prefix.is_empty() || prefix.starts_with([' ', '\t']) {
        return None;
    }
    let build = |level| Some(Verdict::new(level, Some(Source::Build), None));

    if after.starts_with(|c: char| c.is_ascii_digit()) {
        // gcc/clang: `file.c:12:5: warning: ...` (the column is optional).
        let rest = skip_digits(after)?;
        let rest = match rest.strip_prefix(':').and_then(skip_digits) {
            Some(r) => r,
            None => rest,
        };
        let diag = rest.strip_prefix(": ")?;
        return gcc_diagnostic(diag).and_then(build);
    }
    let after = after.strip_prefix(' ')?;
    let tool = tool_name(prefix);
    if is_make(tool) && after.starts_with("*** ") {
        return build(Level::Error);
    }
    if TOOLCHAIN.contains(&tool) {
        if let Some(level) = gcc_diagnostic(after) {
            return build(level);
        }
    }
    if let Some(level) = msvc_diagnostic(after) {
        return build(level);
    }
    if after.starts_with("error while loading shared libraries:") {
        return Some(Verdict::new(Level::Error, None, None));
    }
    shell_crash(after).map(|level| Verdict::new(level, None, None))
}

const TOOLCHAIN: [&str; 10] = [
    "collect2", "ld", "gcc", "g++", "cc", "c++", "clang", "clang++", "cc1", "cc1plus",
];

fn gcc_diagnostic(text: &str) -> Option<Level> {
    if text.starts_with("error:") || text.starts_with("fatal error:") {
        Some(Level::Error)
    } else if text.starts_with("warning:") {
        Some(Level::Warning)
    } else if text.starts_with("note:") {
        Some(Level::Info)
    } else {
        None
    }
}

/// MSVC / MSBuild: `warning C4996: ...`, `error MSB3073: ...`, `fatal error LNK1181: ...`.
fn msvc_diagnostic(text: &str) -> Option<Level> {
    let (level, rest) = if let Some(r) = text.strip_prefix("fatal error ") {
        (Level::Error, r)
    } else if let Some(r) = text.strip_prefix("error ") {
        (Level::Error, r)
    } else if let Some(r) = text.strip_prefix("warning ") {
        (Level::Warning, r)
    } else {
        return None;
    };
    let letters = rest.bytes().take_while(u8::is_ascii_uppercase).count();
    let rest = rest.get(letters..)?;
    let numbers = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest.get(numbers..)?;
    let well_formed = (1..=4).contains(&letters)
        && (3..=5).contains(&numbers)
        && (rest.starts_with(':') || rest.starts_with(" :"));
    well_formed.then_some(level)
}

/// `./runCI: line 42: 1234 Segmentation fault (core dumped) ./ccextractor ...`
fn shell_crash(after: &str) -> Option<Level> {
    let rest = after.strip_prefix("line ")?;
    let rest = skip_digits(rest)?.strip_prefix(':')?;
    let rest = skip_digits(rest.trim_start())?.trim_start();
    CRASHES
        .iter()
        .any(|c| rest.starts_with(c))
        .then_some(Level::Critical)
}

/// The program name of a `prefix:`: its last path component, without `.exe`
/// or make's recursion depth (`make[2]`).
fn tool_name(prefix: &str) -> &str {
    // Bytes, not chars: a char-set `rsplit` walked the prefix of every line
    // with a colon a character at a time (0.6% of the indexing CPU).
    let name = match memchr::memrchr2(b'/', b'\\', prefix.as_bytes()) {
        Some(at) => prefix.get(at + 1..).unwrap_or(prefix),
        None => prefix,
    };
    let name = name.strip_suffix(".exe").unwrap_or(name);
    match name.split_once('[') {
        Some((head, depth)) if depth.ends_with(']') => head,
        _ => name,
    }
}

fn is_make(tool: &str) -> bool {
    matches!(tool, "make" | "gmake" | "mingw32-make")
}

/// Skips one or more ASCII digits; `None` when there is none.
fn skip_digits(text: &str) -> Option<&str> {
    let n = text.bytes().take_while(u8::is_ascii_digit).count();
    (n > 0).then(|| text.get(n..)).flatten()
}

fn is_upper(word: &[u8]) -> bool {
    word.iter().all(|c| !c.is_ascii_lowercase())
}
