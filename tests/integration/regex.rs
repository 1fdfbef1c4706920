//! The `regex` filter on `GET /api/v1/runs/{run_id}/logs` and
//! `GET /api/v1/logs/search`, against a real server on 127.0.0.1 (real
//! index and SQLite on disk). Every answer is checked against the `regex`
//! crate run over the files' lines.

use crate::common::{enc, Dirs, TestServer};
use serde_json::Value;

/// Run 21: 600 numbered entries, some failing; run 22: a segfault and a
/// line longer than what is served; run 23: nothing of interest.
fn write_runs(dirs: &Dirs) -> Vec<(u64, Vec<String>)> {
    let mut runs = Vec::new();
    let entries: Vec<String> = (1..=600)
        .map(|i| match i % 7 {
            0 => format!("[ERROR] entry {i} finished with exit code: -{}", i % 5),
            3 => format!("[INFO] entry {i} finished with exit code: 0"),
            _ => format!("[INFO] Output differs for entry {i} at line {}", i * 3),
        })
        .collect();
    runs.push((21, entries));
    let long = format!(
        "[INFO] {}needle_at_4500 {}",
        "x".repeat(4493),
        "y".repeat(500)
    );
    runs.push((
        22,
        vec![
            "[INFO] Starting".to_owned(),
            "[ERROR] Segmentation fault (core dumped)".to_owned(),
            long,
            "[INFO] segmentation FAULT, again".to_owned(),
        ],
    ));
    runs.push((23, vec!["[INFO] all good".to_owned(); 50]));
    for (run, lines) in &runs {
        dirs.write_log(*run, lines.join("\n") + "\n");
    }
    runs
}

/// Every page of a run's lines for `query`, following the cursors.
async fn walk(s: &TestServer, t: &str, run: u64, query: &str) -> Vec<u64> {
    let mut got = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = s
            .get(
                &format!("/api/v1/runs/{run}/logs?{query}&limit=50{cursor}"),
                Some(t),
            )
            .await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        let data = r.body["data"].as_array().cloned().unwrap_or_default();
        got.extend(data.iter().map(|l| l["line"].as_u64().unwrap_or(0)));
        match r.body["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={}", enc(c)),
            None => return got,
        }
    }
}

fn matching(lines: &[String], pattern: &str, also: impl Fn(&str) -> bool) -> Vec<u64> {
    let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| re.is_match(l) && also(l))
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

fn field_error(body: &Value, name: &str) -> String {
    body["details"]["fields"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no error for {name}: {body}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_filtered_by_regex_as_the_regex_crate_matches_its_lines() {
    let dirs = Dirs::new();
    let runs = write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let lines = |run: u64| runs.iter().find(|(r, _)| *r == run).map(|(_, l)| l.clone());
    let run21 = lines(21).unwrap_or_default();
    for pattern in [
        r"exit code: -?[1-9]",
        r"Output differs .* line \d{3,}$",
        r"entry (1|2)\d\d finished",
        r"(?i)OUTPUT DIFFERS FOR ENTRY 5\d\d",
        r"\d+",
        r"^\[ERROR\]",
        r"nowhere|absent",
    ] {
        let got = walk(&s, &t, 21, &format!("regex={}", enc(pattern))).await;
        assert_eq!(got, matching(&run21, pattern, |_| true), "{pattern}");
    }
    // Case-sensitive unless (?i), where `contains` is not.
    assert!(walk(&s, &t, 21, "regex=output").await.is_empty());
    assert!(!walk(&s, &t, 21, "contains=output").await.is_empty());
    // With every other filter: all must hold.
    let got = walk(
        &s,
        &t,
        21,
        &format!("regex={}&level=error&contains=exit", enc(r"entry \d*7\d ")),
    )
    .await;
    let want = matching(&run21, r"entry \d*7\d ", |l| {
        l.starts_with("[ERROR]") && l.contains("exit")
    });
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // Anywhere in the whole line, not only the part served.
    let run22 = lines(22).unwrap_or_default();
    let got = walk(
        &s,
        &t,
        22,
        &format!("regex={}", enc(r"needle_at_\d{4} y+$")),
    )
    .await;
    assert_eq!(got, vec![3]);
    assert_eq!(
        walk(
            &s,
            &t,
            22,
            &format!("regex={}", enc("(?i)segmentation fault"))
        )
        .await,
        matching(&run22, "(?i)segmentation fault", |_| true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_are_bound_to_the_regex() {
    let dirs = Dirs::new();
    write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let first = s
        .get(
            &format!("/api/v1/runs/21/logs?regex={}&limit=5", enc(r"entry \d+")),
            Some(&t),
        )
        .await;
    let cursor = first.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", first.body))
        .to_owned();
    for other in ["regex=entry%20%5Cd%2A", "contains=entry", ""] {
        let r = s
            .get(
                &format!("/api/v1/runs/21/logs?{other}&cursor={}", enc(&cursor)),
                Some(&t),
            )
            .await;
        assert_eq!(r.status, 400, "{other}: {}", r.body);
        field_error(&r.body, "cursor");
    }
    let r = s
        .get(
            &format!(
                "/api/v1/runs/21/logs?regex={}&cursor={}",
                enc(r"entry \d+"),
                enc(&cursor)
            ),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["line"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_found_by_regex_with_exact_counts() {
    let dirs = Dirs::new();
    let runs = write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    for pattern in [
        r"(?i)segmentation\s+fault",
        r"exit code: -[1-9]",
        r"(Segmentation fault|Bus error|all good)",
        r"zebra_unicorn_\d+",
    ] {
        let r = s
            .get(
                &format!("/api/v1/logs/search?regex={}", enc(pattern)),
                Some(&t),
            )
            .await;
        assert_eq!(r.status, 200, "{pattern}: {}", r.body);
        let got: Vec<(u64, u64)> = r.body["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|h| {
                (
                    h["run_id"].as_u64().unwrap_or(0),
                    h["match_count"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let want: Vec<(u64, u64)> = runs
            .iter()
            .rev()
            .map(|(run, lines)| (*run, matching(lines, pattern, |_| true).len() as u64))
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(got, want, "{pattern}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_patterns_are_a_400_naming_regex() {
    let dirs = Dirs::new();
    write_runs(&dirs);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let long = "a".repeat(201);
    for (path, says) in [
        ("/api/v1/runs/21/logs?regex=(unclosed", "unclosed"),
        ("/api/v1/logs/search?regex=(unclosed", "unclosed"),
        (
            &format!("/api/v1/runs/21/logs?regex={long}") as &str,
            "at most 200",
        ),
        ("/api/v1/runs/21/logs?regex=%5Cw%7B1000%7D", "size"),
        // Across runs, a pattern must name text every match holds.
        (
            "/api/v1/logs/search?regex=%5Cd%2B",
            "three or more characters",
        ),
        (
            "/api/v1/logs/search?regex=.%2A&level=error",
            "three or more characters",
        ),
    ] {
        let r = s.get(path, Some(&t)).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.error_code(), "validation_error");
        let msg = field_error(&r.body, "regex");
        assert!(msg.contains(says), "{path}: {msg}");
    }
    // An empty value is the same as none.
    let r = s.get("/api/v1/runs/21/logs?regex=", Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(100));
}

/// The text a `[start, end)` range of UTF-16 units names, as a browser
/// slices it.
fn utf16_slice(text: &str, range: &Value) -> String {
    let units: Vec<u16> = text.encode_utf16().collect();
    let (from, to) = (
        range[0].as_u64().unwrap_or(0) as usize,
        range[1].as_u64().unwrap_or(0) as usize,
    );
    String::from_utf16_lossy(units.get(from..to).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn highlighted_lines_carry_the_ranges_the_server_matched() {
    let dirs = Dirs::new();
    write_runs(&dirs);
    dirs.write_log(
        24,
        "[INFO] 😀 Exit code: 139, then exit code: 0\n[INFO] nothing here\n",
    );
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let q = format!(
        "/api/v1/runs/24/logs?contains=exit&regex={}&highlight=true",
        enc(r"code: [1-9]\d*")
    );
    let r = s.get(&q, Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let line = &r.body["data"][0];
    let message = line["message"].as_str().unwrap_or_default();
    let marked: Vec<String> = line["matches"]
        .as_array()
        .unwrap_or_else(|| panic!("no matches: {line}"))
        .iter()
        .map(|range| utf16_slice(message, range))
        .collect();
    assert_eq!(marked, ["Exit", "code: 139", "exit"]);
    // Without highlight=true, lines are as they always were.
    let r = s.get("/api/v1/runs/24/logs?contains=exit", Some(&t)).await;
    assert!(r.body["data"][0].get("matches").is_none(), "{}", r.body);
    // Across runs too; a bad value is a 400 naming it.
    let r = s
        .get(
            &format!(
                "/api/v1/logs/search?regex={}&highlight=true",
                enc("(?i)segmentation fault")
            ),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = &r.body["data"][0]["lines"][0];
    let message = first["message"].as_str().unwrap_or_default();
    assert_eq!(
        utf16_slice(message, &first["matches"][0]),
        "Segmentation fault"
    );
    let r = s.get("/api/v1/runs/24/logs?highlight=yes", Some(&t)).await;
    assert_eq!(r.status, 400);
    field_error(&r.body, "highlight");
}
