//! Failure signatures through a real server on 127.0.0.1 (real index and
//! SQLite on disk): every answer of the four signature additions is
//! compared with a brute-force reference computed from the files as they
//! are, after the runs are first indexed, after an append, a replacement
//! and a deletion, and after an upgrade from a data directory that
//! predates signatures.
//!
//! The reference takes each line's level and source from the parser and
//! its base signature from `signature_of` (both tested on their own, with
//! exact templates); it recomputes everything the API aggregates (counts,
//! first lines, runs, first and last seen, `new`, examples) by walking
//! every line of every file, and groups templates with a fresh
//! [`Grouping`] of every template ever written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, SystemTime};

use crate::common::{enc, Dirs, TestServer};
use runlogd::parse::{Encoding, ParseState, Parser};
use runlogd::signature::{shape_of, Grouping, SignatureId};
use serde_json::Value;

const ALL_LEVELS: &str = "debug,info,warning,error,critical";

/// A line of a reference file.
#[derive(Debug, Clone)]
struct RefLine {
    line: u64,
    level: &'static str,
    source: &'static str,
    base: SignatureId,
    text: String,
}

/// What the files say.
#[derive(Default)]
struct Reference {
    runs: BTreeMap<u64, Vec<RefLine>>,
    /// Every template ever written (the store never forgets one).
    shapes: BTreeMap<SignatureId, String>,
}

impl Reference {
    fn set_run(&mut self, run_id: u64, content: &str) {
        let parser = Parser::new(&[]).unwrap_or_else(|e| panic!("{e}"));
        let mut state = ParseState::default();
        let (parsed, _) =
            parser.parse_encoded(&mut state, content.as_bytes(), true, Encoding::Utf8);
        let lines = parsed
            .into_iter()
            .map(|l| {
                let shape = shape_of(runlogd::parse::message_of(&l.message));
                assert_eq!(shape.id, l.signature, "the parser's id is the template's");
                self.shapes.insert(shape.id, shape.template);
                RefLine {
                    line: l.line,
                    level: l.level.as_str(),
                    source: l.source.as_str(),
                    base: l.signature,
                    text: l.message,
                }
            })
            .collect();
        self.runs.insert(run_id, lines);
    }

    fn grouping(&self) -> Grouping {
        let mut g = Grouping::new();
        g.add(self.shapes.iter().map(|(id, t)| runlogd::signature::Shape {
            id: *id,
            template: t.clone(),
        }));
        g
    }
}

/// A group's lines in one run: how many, the first, and all of them.
type RunLines = (u64, u64, Vec<u64>);
/// An item across runs: (group, level, source).
type WindowKey = (SignatureId, String, String);

/// The reference's answers, computed once per check.
struct Expected {
    grouping: Grouping,
    /// (run, group, level, source) → (lines, first line).
    items: BTreeMap<(u64, SignatureId, &'static str, &'static str), (u64, u64)>,
    /// group → run → (lines at any level, first line, line numbers).
    runs_of: BTreeMap<SignatureId, BTreeMap<u64, RunLines>>,
}

impl Expected {
    fn of(reference: &Reference) -> Expected {
        let grouping = reference.grouping();
        let mut items = BTreeMap::new();
        let mut runs_of: BTreeMap<SignatureId, BTreeMap<u64, RunLines>> = BTreeMap::new();
        for (&run, lines) in &reference.runs {
            for l in lines {
                let group = grouping.group_of(l.base).unwrap_or(l.base);
                let item = items
                    .entry((run, group, l.level, l.source))
                    .or_insert((0, l.line));
                item.0 += 1;
                let r =
                    runs_of
                        .entry(group)
                        .or_default()
                        .entry(run)
                        .or_insert((0, l.line, Vec::new()));
                r.0 += 1;
                r.2.push(l.line);
            }
        }
        Expected {
            grouping,
            items,
            runs_of,
        }
    }

    /// (runs holding it, first run, last run).
    fn seen(&self, group: SignatureId) -> (u64, Option<u64>, Option<u64>) {
        let runs = self.runs_of.get(&group);
        let ids: Vec<u64> = runs
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default();
        (ids.len() as u64, ids.first().copied(), ids.last().copied())
    }
}

fn id(v: &Value) -> SignatureId {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a signature id: {v}"))
}

/// Every item of a paged listing at `path` (which has a `?`).
async fn all_pages(s: &TestServer, t: &str, path: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = s.get(&url, Some(t)).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        out.extend(r.body["data"].as_array().cloned().unwrap_or_default());
        match r.body["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
    panic!("{path}: the pages do not end");
}

/// Compares every answer of the four additions with the reference.
async fn check_all(s: &TestServer, t: &str, reference: &Reference) {
    let expected = Expected::of(reference);
    for &run in reference.runs.keys() {
        check_run(s, t, &expected, run).await;
    }
    check_across(s, t, &expected, reference, None).await;
    let ids: Vec<u64> = reference.runs.keys().copied().collect();
    if ids.len() >= 3 {
        check_across(
            s,
            t,
            &expected,
            reference,
            Some((ids[1], ids[ids.len() - 2])),
        )
        .await;
    }
    for (&group, runs) in &expected.runs_of {
        let want: Vec<(u64, u64, u64)> = runs
            .iter()
            .rev()
            .map(|(&run, &(lines, first, _))| (run, lines, first))
            .collect();
        // The group's id and every member's answer the same.
        for asked in expected.grouping.members(group) {
            let items = all_pages(s, t, &format!("/api/v1/signatures/{asked}/runs?"), 2).await;
            let got: Vec<(u64, u64, u64)> = items
                .iter()
                .map(|r| {
                    let n = |k: &str| r[k].as_u64().unwrap_or(0);
                    (n("run_id"), n("count"), n("first_line"))
                })
                .collect();
            assert_eq!(got, want, "runs of {group} asked as {asked}");
        }
        // Its lines in each run, through ?signature=.
        for (&run, (_, _, lines)) in runs {
            let (got, _) = s.walk(run, &format!("signature={group}&limit=7"), t).await;
            let got: Vec<u64> = got
                .iter()
                .map(|l| l["line"].as_u64().unwrap_or(0))
                .collect();
            assert_eq!(&got, lines, "lines of {group} in run {run}");
        }
    }
}

async fn check_run(s: &TestServer, t: &str, expected: &Expected, run: u64) {
    let want: BTreeMap<(SignatureId, String, String), (u64, u64)> = expected
        .items
        .iter()
        .filter(|((r, ..), _)| *r == run)
        .map(|((_, g, l, so), v)| ((*g, l.to_string(), so.to_string()), *v))
        .collect();
    for sort in ["first", "count"] {
        let path = format!("/api/v1/runs/{run}/signatures?level={ALL_LEVELS}&sort={sort}");
        let items = all_pages(s, t, &path, 3).await;
        let mut got = BTreeMap::new();
        let mut order = Vec::new();
        for item in &items {
            let group = id(&item["signature"]);
            let key = (
                group,
                item["level"].as_str().unwrap_or("").to_owned(),
                item["source"].as_str().unwrap_or("").to_owned(),
            );
            let count = item["count"].as_u64().unwrap_or(0);
            let first = item["first_line"].as_u64().unwrap_or(0);
            assert!(
                got.insert(key, (count, first)).is_none(),
                "repeated: {item}"
            );
            order.push((count, first));
            let (runs, first_run, _) = expected.seen(group);
            assert_eq!(item["runs_seen"], runs, "{item}");
            assert_eq!(item["first_seen_run"].as_u64(), first_run, "{item}");
            assert_eq!(item["new"], first_run.is_none_or(|f| f >= run), "{item}");
            assert_eq!(
                item["template"].as_str(),
                expected.grouping.template(group).as_deref(),
                "{item}"
            );
            assert_eq!(item["example"]["line"], first, "{item}");
        }
        assert_eq!(got, want, "signatures of run {run}, sort={sort}");
        let mut sorted = order.clone();
        match sort {
            "first" => sorted.sort_by_key(|&(_, first)| first),
            _ => sorted.sort_by_key(|&(count, first)| (std::cmp::Reverse(count), first)),
        }
        assert_eq!(order, sorted, "run {run} in {sort} order");
    }
    // By default: errors and critical lines only.
    let items = all_pages(s, t, &format!("/api/v1/runs/{run}/signatures?"), 50).await;
    let levels: BTreeSet<&str> = items.iter().filter_map(|i| i["level"].as_str()).collect();
    let want_errors = want
        .keys()
        .filter(|(_, l, _)| l == "error" || l == "critical")
        .count();
    assert_eq!(items.len(), want_errors, "run {run}'s errors");
    assert!(levels.iter().all(|l| *l == "error" || *l == "critical"));
}

async fn check_across(
    s: &TestServer,
    t: &str,
    expected: &Expected,
    reference: &Reference,
    window: Option<(u64, u64)>,
) {
    // Every level, and the default: errors and critical lines.
    for levels in [Some(ALL_LEVELS), None] {
        check_across_levels(s, t, expected, reference, window, levels).await;
    }
}

async fn check_across_levels(
    s: &TestServer,
    t: &str,
    expected: &Expected,
    reference: &Reference,
    window: Option<(u64, u64)>,
    levels: Option<&str>,
) {
    let (lo, hi) = window.unwrap_or((1, u64::MAX));
    let wanted: Vec<&str> = levels.unwrap_or("error,critical").split(',').collect();
    // (group, level, source) → (runs, lines, newest run, its first line).
    let mut want: BTreeMap<WindowKey, (u64, u64, u64, u64)> = BTreeMap::new();
    for (&(run, group, level, source), &(lines, first)) in &expected.items {
        if run < lo || run > hi || !wanted.contains(&level) {
            continue;
        }
        let w = want
            .entry((group, level.to_owned(), source.to_owned()))
            .or_insert((0, 0, 0, 0));
        w.0 += 1;
        w.1 += lines;
        if run > w.2 {
            w.2 = run;
            w.3 = first;
        }
    }
    let range = match window {
        Some((lo, hi)) => format!("&run_min={lo}&run_max={hi}"),
        None => String::new(),
    };
    for sort in ["runs", "new"] {
        let level = levels.map(|l| format!("&level={l}")).unwrap_or_default();
        let path = format!("/api/v1/signatures?sort={sort}{range}{level}");
        let items = all_pages(s, t, &path, 4).await;
        let mut got = BTreeMap::new();
        let mut keys = Vec::new();
        for item in &items {
            let group = id(&item["signature"]);
            let n = |k: &str| item[k].as_u64().unwrap_or(0);
            let ex = &item["example"];
            got.insert(
                (
                    group,
                    item["level"].as_str().unwrap_or("").to_owned(),
                    item["source"].as_str().unwrap_or("").to_owned(),
                ),
                (
                    n("runs"),
                    n("lines"),
                    ex["run_id"].as_u64().unwrap_or(0),
                    ex["line"].as_u64().unwrap_or(0),
                ),
            );
            let (_, first_run, last_run) = expected.seen(group);
            assert_eq!(item["first_seen_run"].as_u64(), first_run, "{item}");
            assert_eq!(item["last_seen_run"].as_u64(), last_run, "{item}");
            // The example is the line the reference has there.
            let run = ex["run_id"].as_u64().unwrap_or(0);
            let line = ex["line"].as_u64().unwrap_or(0);
            let text = reference.runs[&run]
                .iter()
                .find(|l| l.line == line)
                .map(|l| l.text.clone());
            assert_eq!(ex["message"].as_str(), text.as_deref(), "{item}");
            keys.push(match sort {
                "runs" => u64::MAX - n("runs"),
                _ => u64::MAX - first_run.unwrap_or(0),
            });
        }
        assert_eq!(
            got, want,
            "signatures across {window:?}, sort={sort}, levels {levels:?}"
        );
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "sort={sort}: {keys:?}"
        );
    }
}

/// A deterministic run log: a few messages repeated with other values,
/// some shared between runs, some only in this one.
fn run_log(run: u64, lines: u64) -> String {
    let users = ["alice", "bob", "carol", "dave", "erin"];
    let mut out = String::new();
    let mut x = run.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in 1..=lines {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = x % 1000;
        let line = match x % 9 {
            0 => format!("[ERROR] Warning: Ignoring a broken PES packet (size {v})"),
            1 => format!("[INFO] Processing /repository/TestFiles/{v:x}a9f3e.ts took {v} ms"),
            2 => format!(
                "[ERROR] Invalid user {} from 10.0.{}.{}",
                users[(v % 5) as usize],
                v % 7,
                v % 250
            ),
            3 if run % 2 == 0 => format!("[ERROR] Output differs at line {v} of sample {run}"),
            4 => format!(
                "2025-03-09T23:55:{:02}Z ERROR build: step {v} failed",
                i % 60
            ),
            5 => format!("[WARN] slow entry {v}"),
            6 if run == 3 => "CRITICAL build: compiler crashed".to_owned(),
            _ => format!("[INFO] entry {i} of {lines}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_a_brute_force_count_of_the_files() {
    let dirs = Dirs::new();
    let mut reference = Reference::default();
    for run in 1..=5u64 {
        let log = run_log(run, 40 + run * 37);
        dirs.write_log(run, &log);
        dirs.set_mtime(
            run,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_132_800 + run * 3600),
        );
        reference.set_run(run, &log);
    }
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    check_all(&s, &t, &reference).await;

    let sync = |run: u64| {
        s.daemon_parts
            .ingestor
            .sync_run(run)
            .unwrap_or_else(|e| panic!("sync {run}: {e}"))
    };

    // An append: counts grow, first lines stay.
    let more =
        "[ERROR] Warning: Ignoring a broken PES packet (size 4242)\n[ERROR] Brand new failure 17\n";
    std::fs::OpenOptions::new()
        .append(true)
        .open(dirs.log_path(2))
        .and_then(|mut f| f.write_all(more.as_bytes()))
        .unwrap_or_else(|e| panic!("append: {e}"));
    assert!(matches!(
        sync(2),
        runlogd::ingest::Outcome::Appended { lines: 2 }
    ));
    let whole = std::fs::read_to_string(dirs.log_path(2)).unwrap_or_default();
    reference.set_run(2, &whole);
    check_all(&s, &t, &reference).await;

    // A replacement: run 1 now holds other messages (and loses its own).
    let replaced = run_log(101, 60);
    dirs.write_log(1, &replaced);
    assert!(matches!(sync(1), runlogd::ingest::Outcome::Indexed { .. }));
    reference.set_run(1, &replaced);
    check_all(&s, &t, &reference).await;

    // A deletion: run 3 and its compiler crash are gone; the crash's id
    // still answers, with no runs.
    let crash = runlogd::signature::signature_of("CRITICAL build: compiler crashed");
    std::fs::remove_file(dirs.log_path(3)).unwrap_or_else(|e| panic!("rm: {e}"));
    assert_eq!(sync(3), runlogd::ingest::Outcome::Removed);
    reference.runs.remove(&3);
    check_all(&s, &t, &reference).await;
    let r = s
        .get(&format!("/api/v1/signatures/{crash}/runs"), Some(&t))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"], serde_json::json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_from_before_signatures_is_upgraded_in_place() {
    let dirs = Dirs::new();
    let mut reference = Reference::default();
    for run in [7u64, 8] {
        let log = run_log(run, 90);
        dirs.write_log(run, &log);
        reference.set_run(run, &log);
    }
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let r = s.get("/api/v1/runs/7/logs?limit=5", Some(&t)).await;
    let cursor = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("cursor: {}", r.body))
        .to_owned();
    s.stop().await;

    // As a runlogd before signatures left it: schema version 3, no
    // signature tables, an index of layout v2.
    let db = rusqlite::Connection::open(dirs.data().join("state.sqlite3"))
        .unwrap_or_else(|e| panic!("{e}"));
    db.execute_batch(
        "DROP TABLE run_signatures; DROP TABLE signature_runs; DROP TABLE signatures;
         DROP TABLE signature_kinds;
         PRAGMA user_version = 3;
         UPDATE meta SET value = CAST('blocks-v2 rules:0' AS BLOB) WHERE key = 'index_layout';",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    drop(db);

    let s = TestServer::start(dirs.config()).await;
    assert_eq!(s.scan.indexed, 2, "every run indexed again");
    let r = s.get("/readyz", None).await;
    assert!(
        r.body["rebuild"]
            .as_str()
            .is_some_and(|m| m.contains("version")),
        "{}",
        r.body
    );
    // Tokens and cursors from before are kept.
    let r = s
        .get(
            &format!("/api/v1/runs/7/logs?limit=5&cursor={cursor}"),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["line"], 6);
    check_all(&s, &t, &reference).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_signatures_are_refused_in_the_envelope() {
    let dirs = Dirs::new();
    dirs.write_log(
        4,
        "[ERROR] Segmentation fault (core dumped)\n[ERROR] Bus error\nCRITICAL build: compiler crashed\n",
    );
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let unknown = "0123456789abcdef";
    for path in [
        format!("/api/v1/signatures/{unknown}/runs"),
        format!("/api/v1/runs/4/logs?signature={unknown}"),
    ] {
        let r = s.get(&path, Some(&t)).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.error_code(), "signature_not_found");
        assert_eq!(r.body["details"]["signature"], unknown);
    }
    for bad in [
        "0123456789ABCDEF",
        "123",
        "zzzzzzzzzzzzzzzz",
        "0123456789abcdef0",
    ] {
        for path in [
            format!("/api/v1/signatures/{}/runs", enc(bad)),
            format!("/api/v1/runs/4/logs?signature={}&limit=0", enc(bad)),
        ] {
            let r = s.get(&path, Some(&t)).await;
            assert_eq!(r.status, 400, "{path}: {}", r.body);
            assert_eq!(r.error_code(), "validation_error");
            assert!(
                r.body["details"]["fields"]["signature"].is_string(),
                "{}",
                r.body
            );
        }
    }
    // Every bad parameter in one 400.
    let r = s
        .get(
            "/api/v1/runs/0/signatures?sort=newest&level=fatal&limit=0&offset=1",
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 400);
    let fields: Vec<&String> = r.body["details"]["fields"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(fields, ["level", "limit", "offset", "run_id", "sort"]);
    assert_eq!(
        r.body["details"]["allowed"]["sort"],
        serde_json::json!(["first", "count"])
    );
    let r = s
        .get("/api/v1/signatures?sort=x&run_min=9&run_max=3", Some(&t))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["details"]["fields"]["run_min"].is_string());
    assert!(r.body["details"]["fields"]["sort"].is_string());
    // A cursor is bound to its query.
    for path in [
        "/api/v1/signatures?limit=1",
        "/api/v1/runs/4/signatures?limit=1",
    ] {
        let r = s.get(path, Some(&t)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let cursor = r.body["pagination"]["next_cursor"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {}", r.body))
            .to_owned();
        let r = s.get(&format!("{path}&cursor={cursor}"), Some(&t)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s
            .get(&format!("{path}&level=critical&cursor={cursor}"), Some(&t))
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.body["details"]["fields"]["cursor"].is_string(),
            "{}",
            r.body
        );
    }
    s.stop().await;
}

/// The bundled runs' warnings, errors and critical lines, signature by
/// signature: the platform's own line shapes, with their exact templates
/// (log-format.md) and counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_runs_read_as_their_distinct_problems() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = runlogd::config::Config {
        data: dir.path().join("data"),
        ..runlogd::config::Config::default()
    };
    config.rate_limit.requests_per_minute = 1_000_000;
    let s = TestServer::start(config).await;
    let t = s.reader();
    let expected: &[(u64, &str, u64, &str)] = &[
        (9401, "warning", 1, "[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)"),
        (9401, "error", 2, "[ERROR] Missing or invalid XDS packet, skipping"),
        (9401, "error", 3, "[ERROR] Warning: Ignoring a broken PES packet (size <*>)"),
        (9401, "error", 1, "[ERROR] Warning: Unable to find a known stream type in the first <*> bytes"),
        (9401, "warning", 1, "[WARN] Output differs only in trailing whitespace; treating as pass"),
        (9401, "error", 1, "[ERROR] Path is empty"),
        (9402, "error", 1, "<*> error while loading shared libraries: libtesseract.so.<*>: cannot open shared object file: No such file or directory"),
        (9402, "warning", 3, "Attempt <*> failed (curl exit: <*>, HTTP: <*>)"),
        (9402, "warning", 2, "Retrying in <*> seconds..."),
        (9402, "error", 1, "ERROR: Failed to post status after <*> attempts"),
        (9402, "warning", 1, "[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)"),
        (9402, "error", 2, "[ERROR] <*> error while loading shared libraries: libtesseract.so.<*>: cannot open shared object file: No such file or directory"),
        (9402, "error", 1, "[ERROR] Too many consecutive failures (<*>); the executable does not start. Aborting the test run."),
        (9402, "warning", 1, "Artifact combined_stdout: upload failed (curl exit <*>)"),
        (9403, "warning", 1, "[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)"),
        (9403, "error", 1, "[ERROR] Could not open <*> file name encoding"),
        (9403, "error", 1, "[ERROR] Warning: Caption page ‘<*>’ not found – using page <*>"),
        (9403, "warning", 1, "[WARN] Aborting CCExtractor, maximum time elapsed."),
        (9403, "error", 1, "[ERROR] The remote server returned an error: (<*>) INTERNAL SERVER ERROR."),
        (9403, "error", 1, "Command exited with <*>"),
        (9404, "error", 1, "CMake Error at CMakeLists.txt:<*> (message):"),
        (9404, "warning", 1, "WARNING worker: cmake failed, retrying the build without OCR"),
        (9404, "warning", 1, "<*>: warning: unused variable 'x' [-Wunused-variable]"),
        (9404, "warning", 1, "<*>: warning: comparison of integer expressions of different signedness: 'int' and 'unsigned int' [-Wsign-compare]"),
        (9404, "error", 1, "<*>: error: implicit declaration of function 'write_wrapped' [-Werror=<*>]"),
        (9404, "error", 1, "make[<*>]: *** [<*>: <*>] Error <*>"),
        (9404, "error", 1, "make[<*>]: *** [CMakeFiles/Makefile2:<*>: <*>] Error <*>"),
        (9404, "error", 1, "make: *** [Makefile:<*>] Error <*>"),
        (9404, "error", 1, "ERROR build: Failed"),
        (9404, "error", 1, "ERROR worker: Build step exited with <*>; no binary to test"),
        (9404, "warning", 1, "WARNING web: Status callback slow (<*> s)"),
        (9404, "critical", 1, "CRITICAL orchestrator: Run <*> marked as failed: build error"),
        (9405, "warning", 1, "[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)"),
        (9405, "error", 10, "[ERROR] Error: Failed to open output file: Permission denied"),
        (9405, "warning", 39, "[WARN] Output differs from the expected result at line <*>"),
        (9405, "error", 2516, "[ERROR] Warning: Ignoring a broken PES packet (size <*>)"),
        (9405, "error", 7, "[ERROR] Path is empty"),
        (9405, "error", 11, "[ERROR] The remote server returned an error: (<*>) INTERNAL SERVER ERROR."),
        (9405, "warning", 28, "[WARN] Aborting CCExtractor, maximum time elapsed."),
        (9405, "error", 12, "[ERROR] Warning: Unable to find a known stream type in the first <*> bytes"),
        (9405, "error", 5, "[ERROR] Missing or invalid XDS packet, skipping"),
        (9405, "error", 1, "[ERROR] Dump of bad packet: <*>"),
        (9405, "warning", 1, "Attempt <*> failed (curl exit: <*>, HTTP: <*>)"),
        (9405, "warning", 1, "Retrying in <*> seconds..."),
    ];
    let mut got = Vec::new();
    for run in 9401..=9405u64 {
        let path = format!("/api/v1/runs/{run}/signatures?level=warning,error,critical");
        for item in all_pages(&s, &t, &path, 100).await {
            got.push((
                run,
                item["level"].as_str().unwrap_or("").to_owned(),
                item["count"].as_u64().unwrap_or(0),
                item["template"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    let expected: Vec<(u64, String, u64, String)> = expected
        .iter()
        .map(|&(r, l, c, t)| (r, l.to_owned(), c, t.to_owned()))
        .collect();
    assert_eq!(got, expected);
    // 9405's errors: 2,562 lines, a handful of problems.
    let errors: u64 = got
        .iter()
        .filter(|(r, l, ..)| *r == 9405 && l == "error")
        .map(|(_, _, c, _)| c)
        .sum();
    assert_eq!(errors, 2562);
    s.stop().await;
}
