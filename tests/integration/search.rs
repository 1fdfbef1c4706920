//! `GET /api/v1/logs/search` and `GET /api/v1/logs` against a real server on
//! 127.0.0.1 (real index and SQLite on disk), and the rebuild of an index at
//! start when it was written by an earlier layout or under other parser rules.

use std::time::{Duration, SystemTime};

use crate::common::{enc, Dirs, TestServer};
use runlogd::parse::{Level, RuleConfig};
use serde_json::Value;

fn run_ids(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|r| r["run_id"].as_u64().unwrap_or(0))
        .collect()
}

/// 2026-11-20T00:00:00Z and a day.
const NOV_20: u64 = 1_795_132_800;
const DAY: u64 = 86_400;

/// Five runs: 10, 11 and 13 print a segfault (13 twice), 12 does not;
/// 14 has a critical line from the build.
fn write_runs(dirs: &Dirs) {
    dirs.write_log(
        10,
        "[INFO] Starting with entry 1 of 2\n[ERROR] Segmentation fault (core dumped)\n[INFO] done\n",
    );
    dirs.write_log(
        11,
        "[INFO] a\n[INFO] b\n[ERROR] segmentation FAULT in ccx_demuxer\n",
    );
    dirs.write_log(12, "[INFO] all good\n[WARN] slow entry\n");
    let mut big: String = (1..=300).map(|i| format!("[INFO] entry {i}\n")).collect();
    big.push_str("[ERROR] Segmentation fault at entry 300\n");
    big.push_str("[INFO] retrying\n[ERROR] Segmentation fault again\n");
    dirs.write_log(13, big);
    dirs.write_log(
        14,
        "CRITICAL build: compiler crashed\nINFO build: cleanup\n",
    );
    for (i, run) in [10, 11, 12, 13, 14].into_iter().enumerate() {
        dirs.set_mtime(
            run,
            SystemTime::UNIX_EPOCH + Duration::from_secs(NOV_20 + i as u64 * DAY),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_runs_newest_first_with_exact_counts_and_first_lines() {
    let dirs = Dirs::new();
    write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();

    let r = s
        .get(
            "/api/v1/logs/search?contains=segmentation%20fault&lines_per_run=1",
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(run_ids(&r.body), [13, 11, 10]);
    let counts: Vec<u64> = r.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["match_count"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(counts, [2, 1, 1]);
    let first = &r.body["data"][0];
    assert_eq!(first["lines_total"], 303);
    assert_eq!(first["landed_at"], "2026-11-23T00:00:00Z");
    let lines = first["lines"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 1, "lines_per_run=1");
    assert_eq!(lines[0]["line"], 301);
    assert_eq!(lines[0]["level"], "error");
    assert_eq!(lines[0]["source"], "test_runner");
    assert_eq!(lines[0]["run_id"], 13);
    assert_eq!(
        lines[0]["message"],
        "[ERROR] Segmentation fault at entry 300"
    );
    assert_eq!(lines[0]["truncated"], false);
    assert!(lines[0]["timestamp"].is_null());
    assert!(lines[0]["sample_id"].is_null());
    assert_eq!(r.body["pagination"]["has_more"], false);
    assert!(r.body["pagination"]["next_cursor"].is_null());
    assert_eq!(r.body["pagination"]["limit"], 20);

    // Default: the first three matching lines; zero is allowed.
    let r = s
        .get("/api/v1/logs/search?contains=segmentation", Some(&t))
        .await;
    assert_eq!(r.body["data"][0]["lines"].as_array().map(Vec::len), Some(2));
    let r = s
        .get(
            "/api/v1/logs/search?contains=segmentation&lines_per_run=0",
            Some(&t),
        )
        .await;
    assert_eq!(r.body["data"][0]["lines"].as_array().map(Vec::len), Some(0));
    assert_eq!(r.body["data"][0]["match_count"], 2);

    // Level alone, level with source, and run ranges.
    let r = s.get("/api/v1/logs/search?level=critical", Some(&t)).await;
    assert_eq!(run_ids(&r.body), [14]);
    assert_eq!(r.body["data"][0]["lines"][0]["source"], "build");
    let r = s
        .get(
            "/api/v1/logs/search?level=error,critical&source=build",
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [14]);
    let r = s
        .get(
            "/api/v1/logs/search?level=error&contains=fault&run_min=11&run_max=12",
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [11]);
    let r = s
        .get("/api/v1/logs/search?contains=zebra_unicorn", Some(&t))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(run_ids(&r.body), Vec::<u64>::new());
    assert_eq!(r.body["pagination"]["has_more"], false);

    // since/until select on when the log landed: [since, until).
    let r = s
        .get(
            &format!(
                "/api/v1/logs/search?contains=segmentation&since={}&until={}",
                enc("2026-11-21T00:00:00Z"),
                enc("2026-11-23T00:00:00Z")
            ),
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [11]);
    let r = s
        .get(
            &format!(
                "/api/v1/logs/search?contains=segmentation&since={}",
                enc("2026-11-21T00:00:00+00:00")
            ),
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [13, 11]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_are_stable_while_runs_land_and_change() {
    let dirs = Dirs::new();
    write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let q = "/api/v1/logs/search?contains=segmentation&limit=1";
    let r = s.get(q, Some(&t)).await;
    assert_eq!(run_ids(&r.body), [13]);
    assert_eq!(r.body["pagination"]["has_more"], true);
    let c1 = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("cursor: {}", r.body))
        .to_owned();

    // A new run lands (a higher id) and run 10 is replaced without a match.
    dirs.write_log(40, "[ERROR] Segmentation fault in a new run\n");
    dirs.write_log(10, "[INFO] clean now\n");
    for run in [40, 10] {
        s.daemon_parts
            .ingestor
            .sync_run(run)
            .unwrap_or_else(|e| panic!("sync {run}: {e}"));
    }
    let r = s.get(&format!("{q}&cursor={c1}"), Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        run_ids(&r.body),
        [11],
        "below the last run served, new runs do not shift"
    );
    // Run 10 no longer matches: 11 is the last page.
    assert_eq!(r.body["pagination"]["has_more"], false);
    // A fresh search sees the new run first.
    assert_eq!(run_ids(&s.get(q, Some(&t)).await.body), [40]);

    // The cursor is bound to the query: other parameters are a 400.
    for other in [
        "contains=segmentatio&limit=1",
        "contains=segmentation&level=error&limit=1",
        "contains=segmentation&lines_per_run=2&limit=1",
        "contains=segmentation&run_max=50&limit=1",
    ] {
        let r = s
            .get(
                &format!("/api/v1/logs/search?{other}&cursor={c1}"),
                Some(&t),
            )
            .await;
        assert_eq!(r.status, 400, "{other}");
        assert_eq!(r.error_code(), "validation_error");
        assert!(
            r.body["details"]["fields"]["cursor"].is_string(),
            "{}",
            r.body
        );
    }
    // The page size may change between pages.
    let r = s
        .get(
            &format!("/api/v1/logs/search?contains=segmentation&limit=5&cursor={c1}"),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A listing cursor is not a search cursor.
    let l = s.get("/api/v1/logs?limit=1", Some(&t)).await;
    let lc = l.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!lc.is_empty());
    let r = s.get(&format!("{q}&cursor={lc}"), Some(&t)).await;
    assert_eq!(r.status, 400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_search_and_listing_parameters_are_named_in_one_400() {
    let dirs = Dirs::new();
    write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let fields = |r: &crate::common::Response| -> Vec<String> {
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error_code(), "validation_error");
        let mut names: Vec<String> = r.body["details"]["fields"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let r = s.get("/api/v1/logs/search", Some(&t)).await;
    assert_eq!(fields(&r), ["contains", "level"]);
    let r = s.get("/api/v1/logs/search?contains=ab", Some(&t)).await;
    assert_eq!(fields(&r), ["contains"]);
    let r = s
        .get(
            &format!(
                "/api/v1/logs/search?contains={}&level=fatal&source=db&run_min=0&run_max=x\
                 &since=yesterday&until=2026-13-01&limit=101&lines_per_run=21&offset=3&cursor=zz",
                "x".repeat(101)
            ),
            Some(&t),
        )
        .await;
    assert_eq!(
        fields(&r),
        [
            "contains",
            "cursor",
            "level",
            "limit",
            "lines_per_run",
            "offset",
            "run_max",
            "run_min",
            "since",
            "source",
            "until"
        ]
    );
    assert_eq!(r.body["details"]["allowed"]["level"][0], "debug");
    let r = s
        .get(
            "/api/v1/logs/search?level=error&run_min=20&run_max=10",
            Some(&t),
        )
        .await;
    assert_eq!(fields(&r), ["run_min"]);
    let r = s
        .get(
            &format!(
                "/api/v1/logs?since={}&until={}",
                enc("2026-11-22T00:00:00Z"),
                enc("2026-11-21T00:00:00Z")
            ),
            Some(&t),
        )
        .await;
    assert_eq!(fields(&r), ["since"]);
    let r = s
        .get("/api/v1/logs?limit=0&run_min=-1&cursor=12", Some(&t))
        .await;
    assert_eq!(fields(&r), ["cursor", "limit", "run_min"]);

    // Authentication comes first, as on the per-run endpoint.
    for path in ["/api/v1/logs", "/api/v1/logs/search?contains=abc"] {
        let r = s.get(path, None).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.error_code(), "unauthorized");
        let r = s.get(path, Some(&s.token(&["runs:read"]))).await;
        assert_eq!(r.status, 403, "{path}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_shows_every_indexed_log_newest_first() {
    let dirs = Dirs::new();
    write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let r = s.get("/api/v1/logs", Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(run_ids(&r.body), [14, 13, 12, 11, 10]);
    assert_eq!(r.body["pagination"]["limit"], 50);
    let run13 = &r.body["data"][1];
    let size13 = std::fs::metadata(dirs.log_path(13))
        .unwrap_or_else(|e| panic!("{e}"))
        .len();
    assert_eq!(run13["bytes"], size13);
    assert_eq!(run13["lines_total"], 303);
    assert_eq!(
        run13["levels"],
        serde_json::json!({"debug": 0, "info": 301, "warning": 0, "error": 2, "critical": 0})
    );
    assert_eq!(run13["origin"], "local");
    assert_eq!(run13["landed_at"], "2026-11-23T00:00:00Z");
    assert_eq!(r.body["data"][2]["levels"]["warning"], 1);

    // Pages of two, then the rest; a run landing meanwhile does not shift them.
    let r = s.get("/api/v1/logs?limit=2", Some(&t)).await;
    assert_eq!(run_ids(&r.body), [14, 13]);
    let c = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    dirs.write_log(99, "[INFO] new\n");
    s.daemon_parts
        .ingestor
        .sync_run(99)
        .unwrap_or_else(|e| panic!("{e}"));
    let r = s
        .get(&format!("/api/v1/logs?limit=2&cursor={c}"), Some(&t))
        .await;
    assert_eq!(run_ids(&r.body), [12, 11]);
    let c = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let r = s
        .get(&format!("/api/v1/logs?limit=2&cursor={c}"), Some(&t))
        .await;
    assert_eq!(run_ids(&r.body), [10]);
    assert_eq!(r.body["pagination"]["has_more"], false);

    let r = s
        .get(
            &format!(
                "/api/v1/logs?run_max=13&until={}",
                enc("2026-11-22T00:00:00Z")
            ),
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [11, 10]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_from_an_earlier_layout_or_other_rules_is_rebuilt_at_start() {
    let dirs = Dirs::new();
    dirs.write_log(5, "[WARN] harmless noise\n[ERROR] real trouble\n");
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let r = s.get("/readyz", None).await;
    assert!(
        r.body["rebuild"].is_null(),
        "a new data directory: {}",
        r.body
    );
    let r = s.get("/api/v1/runs/5/logs", Some(&t)).await;
    assert_eq!(r.body["data"][0]["level"], "warning");
    let r = s.get("/api/v1/runs/5/logs?limit=1", Some(&t)).await;
    let cursor = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("cursor: {}", r.body))
        .to_owned();
    s.stop().await;

    // An index recorded as written by an earlier layout: rebuilt, tokens kept.
    let db = rusqlite::Connection::open(dirs.data().join("state.sqlite3"))
        .unwrap_or_else(|e| panic!("{e}"));
    let changed = db
        .execute(
            "UPDATE meta SET value = CAST('lines-v0 rules:0' AS BLOB) WHERE key = 'index_layout'",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changed, 1, "the layout is recorded in the state database");
    drop(db);
    let s = TestServer::start(dirs.config()).await;
    assert_eq!(s.scan.indexed, 1, "every run indexed again");
    let r = s.get("/readyz", None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["rebuild"]
            .as_str()
            .is_some_and(|m| m.contains("version")),
        "{}",
        r.body
    );
    let r = s.get("/api/v1/runs/5/logs", Some(&t)).await;
    assert_eq!(r.status, 200, "the old token still works: {}", r.body);
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(2));
    let r = s
        .get(
            &format!("/api/v1/runs/5/logs?limit=1&cursor={cursor}"),
            Some(&t),
        )
        .await;
    assert_eq!(
        r.status, 200,
        "a cursor from before the rebuild goes on: {}",
        r.body
    );
    assert_eq!(r.body["data"][0]["message"], "[ERROR] real trouble");
    s.stop().await;

    // Unchanged restart: nothing is rebuilt.
    let s = TestServer::start(dirs.config()).await;
    assert_eq!(s.scan.indexed, 0);
    assert!(s.get("/readyz", None).await.body["rebuild"].is_null());
    s.stop().await;

    // A new operator rule re-classifies what is already indexed.
    let mut config = dirs.config();
    config.parser.rules = vec![RuleConfig {
        pattern: "harmless".into(),
        level: Some(Level::Debug),
        source: None,
    }];
    let s = TestServer::start(config).await;
    assert_eq!(s.scan.indexed, 1);
    let r = s.get("/readyz", None).await;
    assert!(
        r.body["rebuild"]
            .as_str()
            .is_some_and(|m| m.contains("parser rules")),
        "{}",
        r.body
    );
    let r = s.get("/api/v1/runs/5/logs?level=debug", Some(&t)).await;
    assert_eq!(r.body["data"][0]["message"], "[WARN] harmless noise");
    let r = s.get("/api/v1/logs", Some(&t)).await;
    assert_eq!(r.body["data"][0]["levels"]["debug"], 1);
    assert_eq!(r.body["data"][0]["levels"]["warning"], 0);
    s.stop().await;
}

/// The README's examples, on the example repository bundled in the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_answer_on_the_bundled_runs() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.repository = None;
    let s = TestServer::start(config).await;
    let t = s.reader();
    let count = |file: &str, needle: &str| -> u64 {
        let path = s.repo.join("LogFiles").join(file);
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")))
            .to_lowercase();
        text.lines().filter(|l| l.contains(needle)).count() as u64
    };

    let r = s
        .get("/api/v1/logs/search?contains=libtesseract", Some(&t))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(run_ids(&r.body), [9402]);
    assert_eq!(
        r.body["data"][0]["match_count"],
        count("9402.txt", "libtesseract")
    );
    assert_eq!(r.body["data"][0]["lines"].as_array().map(Vec::len), Some(3));

    // The regex examples, counted with the regex crate over the files.
    let regex_count = |file: &str, pattern: &str| -> u64 {
        let path = s.repo.join("LogFiles").join(file);
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")))
            .into_owned();
        let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{e}"));
        text.lines().filter(|l| re.is_match(l)).count() as u64
    };
    let r = s
        .get(
            "/api/v1/logs/search?regex=libtesseract%5C.so%5C.%5Cd%2B&highlight=true",
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [9402], "{}", r.body);
    let line = &r.body["data"][0]["lines"][0];
    let [from, to] = [0, 1].map(|i| line["matches"][0][i].as_u64().unwrap_or(0) as usize);
    let message: Vec<u16> = line["message"]
        .as_str()
        .unwrap_or_default()
        .encode_utf16()
        .collect();
    assert_eq!(
        String::from_utf16_lossy(&message[from..to]),
        "libtesseract.so.5"
    );
    let nonzero = r"exit code: -?[1-9]";
    let r = s
        .get(
            "/api/v1/logs/search?regex=exit%20code%3A%20-%3F%5B1-9%5D&lines_per_run=1",
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [9405, 9403, 9402], "{}", r.body);
    for (i, run) in [9405, 9403, 9402].into_iter().enumerate() {
        assert_eq!(
            r.body["data"][i]["match_count"],
            regex_count(&format!("{run}.txt"), nonzero)
        );
    }
    let r = s
        .get(
            "/api/v1/runs/9405/logs?regex=exit%20code%3A%20-%3F%5B1-9%5D",
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"].as_array().map(Vec::len),
        Some(regex_count("9405.txt", nonzero).min(100) as usize)
    );

    let r = s
        .get(
            "/api/v1/logs/search?contains=maximum%20time%20elapsed&lines_per_run=1",
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [9405, 9403]);
    assert_eq!(
        r.body["data"][0]["match_count"],
        count("9405.txt", "maximum time elapsed")
    );
    assert_eq!(
        r.body["data"][1]["match_count"],
        count("9403.txt", "maximum time elapsed")
    );
    let line = &r.body["data"][0]["lines"][0];
    assert_eq!(line["level"], "warning");
    assert_eq!(line["source"], "test_runner");
    assert!(line["message"]
        .as_str()
        .is_some_and(|m| m.contains("maximum time elapsed")));

    let r = s
        .get(
            "/api/v1/logs/search?level=critical&run_min=9400&run_max=9410&since=2025-03-01T00:00:00Z",
            Some(&t),
        )
        .await;
    assert_eq!(run_ids(&r.body), [9404]);
    let line = &r.body["data"][0]["lines"][0];
    assert_eq!(line["source"], "orchestrator");
    assert_eq!(line["timestamp"], "2025-03-09T23:56:12Z");

    let r = s.get("/api/v1/logs?limit=2", Some(&t)).await;
    assert_eq!(run_ids(&r.body), [9405, 9404]);
    assert_eq!(r.body["pagination"]["has_more"], true);
    println!(
        "{}",
        serde_json::to_string_pretty(&r.body).unwrap_or_default()
    );
    s.stop().await;
}
