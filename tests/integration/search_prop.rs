//! Exactness of `contains`, shown rather than assumed: for random runs and
//! random needles, the per-run walk and the search across runs answer exactly
//! what a plain scan of the lines answers. The oracle here knows each line's
//! text because it wrote it, and matches with `to_lowercase` + `contains`,
//! the rule the API promises; it shares no code with the index.
//!
//! Covered: needles of 1 to 2 characters (per run), non-ASCII text and
//! needles, lines written in Windows-1252 (invalid UTF-8), lines over 4,000
//! characters (matched in full, served cut), and runs that grow between two
//! pages of a walk. Real server on 127.0.0.1, real index on disk.

use std::sync::LazyLock;

use crate::common::enc;
use crate::common::prop::PropServer;
use proptest::prelude::*;
use serde_json::Value;

static SHARED: LazyLock<PropServer> = LazyLock::new(|| PropServer::start(1000));

/// Words lines are made of: ASCII, non-ASCII, and characters Windows-1252
/// has (so a line of them can be written in that encoding).
const WORDS: &[&str] = &[
    "alpha",
    "Beta",
    "GAMMA",
    "segfault",
    "Segmentation",
    "fault",
    "café",
    "€",
    "Straße",
    "x",
    "ab",
    "ERROR",
    "naïve",
    "ÉTÉ",
    "[INFO]",
    "libtesseract.so.5",
];

/// A line as the oracle knows it, and whether it is written in Windows-1252.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    cp1252: bool,
}

fn line_strategy() -> impl Strategy<Value = Line> {
    prop_oneof![
        8 => (prop::collection::vec(prop::sample::select(WORDS), 0..8), any::<bool>())
            .prop_map(|(w, cp1252)| Line { text: w.join(" "), cp1252 }),
        // Over 4,000 characters, with a word placed past the cut.
        1 => (prop::sample::select(WORDS), 3990usize..4200)
            .prop_map(|(w, n)| Line { text: format!("{}{w}", "y".repeat(n)), cp1252: false }),
    ]
}

/// Encodes a line in Windows-1252; `None` when it has a character outside it.
fn cp1252(text: &str) -> Option<Vec<u8>> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    (!unmappable).then(|| bytes.into_owned())
}

fn file_bytes(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        match cp1252(&l.text).filter(|b| l.cp1252 && std::str::from_utf8(b).is_err()) {
            Some(bytes) => out.extend_from_slice(&bytes),
            None => out.extend_from_slice(l.text.as_bytes()),
        }
        out.push(b'\n');
    }
    out
}

fn needle_strategy(min_chars: usize) -> impl Strategy<Value = String> {
    let words: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    prop_oneof![
        // A piece of a word, in any case.
        (
            prop::sample::select(words),
            0usize..6,
            1usize..12,
            any::<bool>()
        )
            .prop_map(|(w, start, len, upper)| {
                let chars: Vec<char> = w.chars().collect();
                let start = start.min(chars.len().saturating_sub(1));
                let end = (start + len).min(chars.len());
                let s: String = chars[start..end].iter().collect();
                if upper {
                    s.to_uppercase()
                } else {
                    s
                }
            }),
        Just("segmentation fault".to_owned()),
        Just("a b".to_owned()),
        Just("zebra_unicorn".to_owned()),
        Just("yyyyalpha".to_owned()),
    ]
    .prop_filter("long enough", move |n| n.chars().count() >= min_chars)
}

fn matches(text: &str, needle: &str) -> bool {
    text.to_lowercase().contains(&needle.to_lowercase())
}

/// (line number, served message, truncated) of a line.
type Served = (u64, String, bool);

/// (run id, match count, first lines) of a run in a search across runs.
type RunHit = (u64, u64, Vec<Served>);

/// Every matching line.
fn expected(lines: &[Line], needle: &str) -> Vec<Served> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches(&l.text, needle))
        .map(|(i, l)| {
            let cut: String = l.text.chars().take(4000).collect();
            let truncated = cut.len() < l.text.len();
            (i as u64 + 1, cut, truncated)
        })
        .collect()
}

fn served(lines: &[Value]) -> Vec<Served> {
    lines
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap_or(0),
                l["message"].as_str().unwrap_or_default().to_owned(),
                l["truncated"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn get(path: &str) -> crate::common::Response {
    SHARED.get(path)
}

fn sync(run_id: u64) {
    SHARED.sync(run_id)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Walks one run page by page; the run may grow after the first page.
    #[test]
    fn per_run_contains_equals_a_plain_scan(
        first in prop::collection::vec(line_strategy(), 0..400),
        more in prop::collection::vec(line_strategy(), 0..300),
        needle in needle_strategy(1),
        limit in 1usize..=100,
        grow in any::<bool>(),
    ) {
        let shared = &*SHARED;
        let run_id = shared.take_runs(1);
        shared.dirs.write_log(run_id, file_bytes(&first));
        sync(run_id);

        let query = format!("limit={limit}&contains={}", enc(&needle));
        let page = |cursor: &Option<String>| {
            let mut url = format!("/api/v1/runs/{run_id}/logs?{query}");
            if let Some(c) = cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let r = get(&url);
            assert_eq!(r.status, 200, "{url}: {}", r.body);
            let lines = served(r.body["data"].as_array().map(Vec::as_slice).unwrap_or_default());
            let next = r.body["pagination"]["next_cursor"].as_str().map(str::to_owned);
            (lines, next)
        };
        let (mut got, mut next) = page(&None);
        let mut all = first.clone();
        if grow {
            // The log grows after the first page. A signed cursor goes on
            // into the new lines; a reader who had reached the end asks
            // again after the last line seen, with a numeric cursor.
            all.extend(more.iter().cloned());
            shared.dirs.write_log(run_id, file_bytes(&all));
            sync(run_id);
            if next.is_none() {
                next = Some(got.last().map_or(0, |l| l.0).to_string());
            }
        }
        while let Some(cursor) = next.take() {
            let (lines, more_pages) = page(&Some(cursor));
            got.extend(lines);
            next = more_pages;
        }
        prop_assert_eq!(got, expected(&all, &needle), "run {} query {}", run_id, query);
    }

    /// Searches a few runs at once and walks every page of runs.
    #[test]
    fn search_across_runs_equals_a_plain_scan(
        runs in prop::collection::vec(prop::collection::vec(line_strategy(), 0..300), 1..6),
        needle in needle_strategy(3),
        limit in 1usize..=3,
        lines_per_run in 0usize..=4,
    ) {
        let shared = &*SHARED;
        let first = shared.take_runs(runs.len() as u64);
        let ids: Vec<u64> = (first..first + runs.len() as u64).collect();
        for (id, lines) in ids.iter().zip(&runs) {
            shared.dirs.write_log(*id, file_bytes(lines));
            sync(*id);
        }
        // Newest (highest id) first; runs without a match are left out.
        let want: Vec<RunHit> = ids
            .iter()
            .zip(&runs)
            .rev()
            .filter_map(|(id, lines)| {
                let all = expected(lines, &needle);
                let n = all.len() as u64;
                (n > 0).then(|| (*id, n, all.into_iter().take(lines_per_run).collect()))
            })
            .collect();

        let query = format!(
            "contains={}&run_min={}&run_max={}&limit={limit}&lines_per_run={lines_per_run}",
            enc(&needle), ids[0], ids[ids.len() - 1]
        );
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut url = format!("/api/v1/logs/search?{query}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let r = get(&url);
            prop_assert_eq!(r.status, 200, "{}: {}", url, r.body);
            pages += 1;
            let data = r.body["data"].as_array().cloned().unwrap_or_default();
            let next = r.body["pagination"]["next_cursor"].as_str().map(str::to_owned);
            prop_assert_eq!(r.body["pagination"]["has_more"].as_bool(), Some(next.is_some()));
            if next.is_some() {
                prop_assert_eq!(data.len(), limit, "only the last page may be short");
            }
            for hit in data {
                let id = hit["run_id"].as_u64().unwrap_or(0);
                let lines = served(hit["lines"].as_array().map(Vec::as_slice).unwrap_or_default());
                got.push((id, hit["match_count"].as_u64().unwrap_or(0), lines));
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
            prop_assert!(pages <= runs.len() + 1, "the walk does not end");
        }
        prop_assert_eq!(got, want, "query {}", query);
    }
}
