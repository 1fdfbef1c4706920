//! Property: for random log files and random filter sets, walking every page
//! with any `limit` from 1 to 100 yields exactly the lines that a direct filter
//! of the file yields, in order, with no duplicates and no gaps, and every
//! line object is what the line says (level, source, timestamp, message).
//!
//! The expected lines come from an oracle written here for the few line
//! shapes this test generates, not from runlogd's parser. The files mix
//! UTF-8 lines with Windows-1252 bytes that are not valid UTF-8, CRLF and LF
//! endings, and a last line with or without its newline. Real server on
//! 127.0.0.1, real index on disk.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use crate::common::enc;
use crate::common::prop::PropServer;
use proptest::prelude::*;
use serde_json::{json, Value};

static SHARED: LazyLock<PropServer> = LazyLock::new(|| PropServer::start(1));

/// Where the oracle stands in the file: it decides the source of a line
/// that names none.
#[derive(Clone, Copy)]
enum Section {
    /// The runner script: `worker`.
    Runner,
    /// Between the version markers: `build`.
    Version,
    /// After a bracketed test-runner line: `test_runner`.
    Tests,
}

/// A line's beginning, and what the README's rules make of it: level, source
/// (`None`: the section's), and the section from this line on.
struct Prefix {
    text: &'static str,
    level: Option<&'static str>,
    source: Option<&'static str>,
    next: Option<Section>,
}

const fn prefix(
    text: &'static str,
    level: Option<&'static str>,
    source: Option<&'static str>,
    next: Option<Section>,
) -> Prefix {
    Prefix {
        text,
        level,
        source,
        next,
    }
}

const PREFIXES: &[Prefix] = &[
    prefix(
        "[INFO] ",
        Some("info"),
        Some("test_runner"),
        Some(Section::Tests),
    ),
    prefix(
        "[WARN] ",
        Some("warning"),
        Some("test_runner"),
        Some(Section::Tests),
    ),
    prefix(
        "[ERROR] ",
        Some("error"),
        Some("test_runner"),
        Some(Section::Tests),
    ),
    prefix("ERROR build: ", Some("error"), Some("build"), None),
    prefix("WARNING web: ", Some("warning"), Some("web"), None),
    prefix(
        "CRITICAL orchestrator: ",
        Some("critical"),
        Some("orchestrator"),
        None,
    ),
    prefix("DEBUG worker: ", Some("debug"), Some("worker"), None),
    prefix(
        "=== CCExtractor Binary Version ===",
        Some("info"),
        Some("build"),
        Some(Section::Version),
    ),
    prefix(
        "=== End Version Info ===",
        Some("info"),
        Some("build"),
        Some(Section::Runner),
    ),
    prefix(
        "Posting testing - Running tests to the server:",
        Some("info"),
        Some("worker"),
        Some(Section::Runner),
    ),
    // No prefix: the words decide (a first word `ERROR` makes an error).
    prefix("", None, None, None),
];

/// Words as bytes: ASCII, UTF-8 (`café`), and Windows-1252 bytes that are
/// not valid UTF-8 (0xE9 is `é`, 0x80 is `€`). One such byte makes the whole
/// line Windows-1252.
const WORDS: &[&[u8]] = &[
    b"alpha",
    b"Beta",
    b"GAMMA",
    b"entry",
    "café".as_bytes(),
    b"caf\xe9",
    b"x",
    b"ERROR",
    b"Ab",
    b"\x80",
];

/// Optional timestamps before the line, and how the API renders them.
const STAMPS: &[(&str, Option<&str>)] = &[
    ("", None),
    ("", None),
    ("2025-03-09T23:55:02Z ", Some("2025-03-09T23:55:02Z")),
    ("[2025-03-09 23:55:02,5] ", Some("2025-03-09T23:55:02.5Z")),
    (
        "2025-03-09T23:55:02.123+01:00 ",
        Some("2025-03-09T23:55:02.123+01:00"),
    ),
];

const LEVELS: &[&str] = &["debug", "info", "warning", "error", "critical"];
const SOURCES: &[&str] = &["orchestrator", "worker", "build", "test_runner", "web"];

/// One generated line: indices into the tables above.
#[derive(Debug, Clone)]
struct Line {
    stamp: usize,
    prefix: usize,
    words: Vec<usize>,
}

impl Line {
    fn bytes(&self) -> Vec<u8> {
        let mut b = STAMPS[self.stamp].0.as_bytes().to_vec();
        b.extend_from_slice(PREFIXES[self.prefix].text.as_bytes());
        for (i, w) in self.words.iter().enumerate() {
            if i > 0 {
                b.push(b' ');
            }
            b.extend_from_slice(WORDS[*w]);
        }
        b
    }
}

/// Windows-1252 for the only non-ASCII bytes these files contain.
fn decode(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    bytes
        .iter()
        .map(|&b| match b {
            0x00..=0x7f => char::from(b),
            0x80 => '€',
            0xa9 => '©',
            0xc3 => 'Ã',
            0xe9 => 'é',
            _ => panic!("the generator made byte {b:#x}"),
        })
        .collect()
}

/// The line objects the API must return for `lines` written as `file`.
fn oracle(run_id: u64, lines: &[Line], file: &[u8]) -> Vec<Value> {
    // What the file holds, line by line: split at "\n", the "\r" of CRLF
    // dropped, and no line after a final newline.
    let mut raw: Vec<&[u8]> = file.split(|&b| b == b'\n').collect();
    if raw.last().is_some_and(|l| l.is_empty()) {
        raw.pop();
    }
    let mut section = Section::Runner;
    let mut out = Vec::new();
    for (i, bytes) in raw.iter().enumerate() {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let line = &lines[i];
        assert_eq!(bytes, line.bytes().as_slice(), "the oracle's own split");
        let p = &PREFIXES[line.prefix];
        if let Some(next) = p.next {
            section = next;
        }
        let first_word = line.words.first().map(|w| WORDS[*w]);
        let level = p.level.unwrap_or(if first_word == Some(b"ERROR") {
            "error"
        } else {
            "info"
        });
        let source = p.source.unwrap_or(match section {
            Section::Runner => "worker",
            Section::Version => "build",
            Section::Tests => "test_runner",
        });
        out.push(json!({
            "line": i + 1,
            "timestamp": STAMPS[line.stamp].1,
            "level": level,
            "source": source,
            "message": decode(bytes),
            "truncated": false,
            "run_id": run_id,
            "sample_id": null,
        }));
    }
    out
}

fn line_strategy() -> impl Strategy<Value = Line> {
    (
        0..STAMPS.len(),
        0..PREFIXES.len(),
        prop::collection::vec(0..WORDS.len(), 0..5),
    )
        .prop_map(|(stamp, prefix, words)| Line {
            stamp,
            prefix,
            words,
        })
}

/// The lines, and the file made of them.
fn file_strategy() -> impl Strategy<Value = (Vec<Line>, Vec<u8>)> {
    (
        prop::collection::vec(line_strategy(), 0..300),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, crlf, final_newline)| {
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut file = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    file.extend_from_slice(eol);
                }
                file.extend_from_slice(&l.bytes());
            }
            if final_newline && !lines.is_empty() {
                file.extend_from_slice(eol);
            }
            (lines, file)
        })
}

type Filters = (
    BTreeSet<&'static str>,
    BTreeSet<&'static str>,
    Option<String>,
);

fn filters_strategy() -> impl Strategy<Value = Filters> {
    (
        prop::collection::btree_set(prop::sample::select(LEVELS), 0..3),
        prop::collection::btree_set(prop::sample::select(SOURCES), 0..3),
        prop::option::of(prop::sample::select(vec![
            "a",
            "AL",
            "alpha",
            "beta gamma",
            "CAFÉ",
            "entry x",
            "error",
            "absent",
            "é",
            "€",
            "cafÃ",
            "02z",
        ])),
    )
        .prop_map(|(l, s, c)| (l, s, c.map(str::to_owned)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn walking_all_pages_equals_filtering_the_file(
        (lines, file) in file_strategy(),
        (levels, sources, contains) in filters_strategy(),
        limit in 1usize..=100,
    ) {
        let shared = &*SHARED;
        let run_id = shared.take_runs(1);
        shared.dirs.write_log(run_id, &file);

        let needle = contains.as_ref().map(|c| c.to_lowercase());
        let expected: Vec<Value> = oracle(run_id, &lines, &file)
            .into_iter()
            .filter(|l| levels.is_empty() || levels.contains(l["level"].as_str().unwrap_or_default()))
            .filter(|l| sources.is_empty() || sources.contains(l["source"].as_str().unwrap_or_default()))
            .filter(|l| {
                needle.as_ref().is_none_or(|n| {
                    l["message"].as_str().unwrap_or_default().to_lowercase().contains(n.as_str())
                })
            })
            .collect();

        let mut query = format!("limit={limit}");
        if !levels.is_empty() {
            let v: Vec<&str> = levels.iter().copied().collect();
            query.push_str(&format!("&level={}", v.join(",")));
        }
        if !sources.is_empty() {
            let v: Vec<&str> = sources.iter().copied().collect();
            query.push_str(&format!("&source={}", v.join(",")));
        }
        if let Some(c) = &contains {
            query.push_str(&format!("&contains={}", enc(c)));
        }
        let (got, pages) = shared
            .runtime
            .block_on(shared.server.walk(run_id, &query, &shared.token));
        prop_assert_eq!(&got, &expected, "query {}", query);
        prop_assert_eq!(pages, expected.len().div_ceil(limit).max(1));
    }
}
