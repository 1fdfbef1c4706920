//! Property: for random log files and random filter sets, walking every page
//! with any `limit` from 1 to 100 yields exactly the lines that a direct filter
//! of the parsed file yields, in order, with no duplicates and no gaps.
//! Real server on 127.0.0.1, real index on disk.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use common::{enc, Dirs, TestServer};
use proptest::prelude::*;
use runlogd::parse::{Level, ParseState, Parser, Source};

struct Shared {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    dirs: Dirs,
    token: String,
    next_run: AtomicU64,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let dirs = Dirs::new();
    let server = runtime.block_on(TestServer::start(dirs.config()));
    let token = server.reader();
    Shared {
        runtime,
        server,
        dirs,
        token,
        next_run: AtomicU64::new(1),
    }
});

const PREFIXES: &[&str] = &[
    "[INFO] ",
    "[WARN] ",
    "[ERROR] ",
    "ERROR build: ",
    "WARNING web: ",
    "CRITICAL orchestrator: ",
    "DEBUG worker: ",
    "=== CCExtractor Binary Version ===",
    "=== End Version Info ===",
    "Posting testing - Running tests to the server:",
    "",
];
const WORDS: &[&str] = &[
    "alpha", "Beta", "GAMMA", "entry", "café", "x", "ERROR", "Ab", "\u{80}",
];

fn line_strategy() -> impl Strategy<Value = String> {
    (
        prop::sample::select(PREFIXES),
        prop::collection::vec(prop::sample::select(WORDS), 0..5),
    )
        .prop_map(|(p, w)| format!("{p}{}", w.join(" ")))
}

fn file_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(line_strategy(), 0..300),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, crlf, final_newline)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            if final_newline && !lines.is_empty() {
                text.push_str(eol);
            }
            text.into_bytes()
        })
}

fn filters_strategy() -> impl Strategy<Value = (BTreeSet<Level>, BTreeSet<Source>, Option<String>)>
{
    (
        prop::collection::btree_set(prop::sample::select(Level::ALL.to_vec()), 0..3),
        prop::collection::btree_set(prop::sample::select(Source::ALL.to_vec()), 0..3),
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
        ])),
    )
        .prop_map(|(l, s, c)| (l, s, c.map(str::to_owned)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn walking_all_pages_equals_filtering_the_file(
        file in file_strategy(),
        (levels, sources, contains) in filters_strategy(),
        limit in 1usize..=100,
    ) {
        let shared = &*SHARED;
        let run_id = shared.next_run.fetch_add(1, Ordering::Relaxed);
        shared.dirs.write_log(run_id, &file);

        let parser = Parser::new(&[]).unwrap_or_else(|e| panic!("{e}"));
        let (parsed, _) = parser.parse(&mut ParseState::default(), &file, true);
        let needle = contains.as_ref().map(|c| c.to_lowercase());
        let expected: Vec<(u64, String)> = parsed
            .into_iter()
            .filter(|l| levels.is_empty() || levels.contains(&l.level))
            .filter(|l| sources.is_empty() || sources.contains(&l.source))
            .filter(|l| needle.as_ref().is_none_or(|n| l.message.to_lowercase().contains(n.as_str())))
            .map(|l| (l.line, l.message))
            .collect();

        let mut query = format!("limit={limit}");
        if !levels.is_empty() {
            let v: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
            query.push_str(&format!("&level={}", v.join(",")));
        }
        if !sources.is_empty() {
            let v: Vec<&str> = sources.iter().map(|s| s.as_str()).collect();
            query.push_str(&format!("&source={}", v.join(",")));
        }
        if let Some(c) = &contains {
            query.push_str(&format!("&contains={}", enc(c)));
        }
        let (lines, pages) = shared
            .runtime
            .block_on(shared.server.walk(run_id, &query, &shared.token));
        let got: Vec<(u64, String)> = lines
            .iter()
            .map(|l| {
                (
                    l["line"].as_u64().unwrap_or(0),
                    l["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        prop_assert_eq!(&got, &expected, "query {}", query);
        prop_assert_eq!(pages, expected.len().div_ceil(limit).max(1));
    }
}
