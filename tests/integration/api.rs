//! The run-log endpoint against a real server on 127.0.0.1, with real files,
//! a real tantivy index and SQLite on disk.

use crate::common::{enc, Dirs, TestServer};
use serde_json::Value;

const LINUX_LOG: &str = "\
Posting preparation - Loaded variables, created log file and checking for CCExtractor build artifact to the server:
Status posted successfully (HTTP 200)
OK
=== CCExtractor Binary Version ===
CCExtractor 0.96.5, Carlos Fernandez Sanz, Volker Quetschke.
=== End Version Info ===
Posting testing - Running tests to the server:
[INFO] Test suite version: 1.0.3.0
[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)
[INFO] Starting with entry 1 of 86
[ERROR] /repository/ccextractor: error while loading shared libraries: libtesseract.so.5: cannot open shared object file: No such file or directory
[INFO] Finished entry 1 with exit code: 0
[ERROR] Path is empty
Sending log to the server:
";

fn lines_of(v: &[Value]) -> Vec<u64> {
    v.iter().filter_map(|l| l["line"].as_u64()).collect()
}

async fn server_with(logs: &[(u64, &[u8])]) -> (Dirs, TestServer) {
    let dirs = Dirs::new();
    for (id, content) in logs {
        dirs.write_log(*id, content);
    }
    let server = TestServer::start(dirs.config()).await;
    (dirs, server)
}

#[tokio::test]
async fn a_page_has_the_published_shape() {
    let dirs = Dirs::new();
    dirs.write_log(42, LINUX_LOG);
    let mut config = dirs.config();
    config.rate_limit = Default::default();
    let s = TestServer::start(config).await;
    let token = s.reader();
    let r = s.get("/api/v1/runs/42/logs?limit=3", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/json");
    let data = r.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 3);
    let first = &data[0];
    assert_eq!(first["line"], 1);
    assert_eq!(first["run_id"], 42);
    assert_eq!(first["sample_id"], Value::Null);
    assert_eq!(first["timestamp"], Value::Null);
    assert_eq!(first["truncated"], false);
    assert_eq!(
        first["message"],
        "Posting preparation - Loaded variables, created log file and checking for CCExtractor build artifact to the server:"
    );
    for key in ["level", "source"] {
        assert!(first[key].is_string(), "{key}");
    }
    assert_eq!(r.body["pagination"]["limit"], 3);
    assert_eq!(r.body["pagination"]["has_more"], true);
    assert!(r.body["pagination"]["next_cursor"].is_string());
    assert_eq!(r.header("x-ratelimit-limit"), Some("120"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("119"));
    let reset: u64 = r
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(reset >= runlogd::store::unix_now() as u64);

    // The whole log, by default limit, in one page, with no cursor after it.
    let r = s.get("/api/v1/runs/42/logs", Some(&token)).await;
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(14));
    assert_eq!(r.body["pagination"]["limit"], 100);
    assert_eq!(r.body["pagination"]["next_cursor"], Value::Null);
    assert_eq!(r.body["pagination"]["has_more"], false);
}

#[tokio::test]
async fn walking_pages_returns_every_line_exactly_once() {
    let mut log = String::new();
    for i in 1..=1000 {
        match i % 7 {
            0 => log.push_str(&format!("[ERROR] entry {i} failed\n")),
            3 => log.push_str(&format!("[WARN] entry {i} slow\n")),
            _ => log.push_str(&format!("[INFO] Finished entry {i} with exit code: 0\n")),
        }
    }
    let (_dirs, s) = server_with(&[(7, log.as_bytes())]).await;
    let token = s.reader();
    for limit in [1, 7, 100] {
        let (lines, pages) = s.walk(7, &format!("limit={limit}"), &token).await;
        assert_eq!(
            lines_of(&lines),
            (1..=1000).collect::<Vec<_>>(),
            "limit {limit}"
        );
        assert_eq!(pages, 1000usize.div_ceil(limit));
    }
    let (errors, _) = s.walk(7, "level=error&limit=13", &token).await;
    let expected: Vec<u64> = (1..=1000).filter(|i| i % 7 == 0).collect();
    assert_eq!(lines_of(&errors), expected);
    assert!(errors.iter().all(|l| l["level"] == "error"));
    let (hits, _) = s.walk(7, "contains=ENTRY%2099&limit=2", &token).await;
    assert_eq!(
        lines_of(&hits),
        vec![99, 990, 991, 992, 993, 994, 995, 996, 997, 998, 999]
    );
    let (both, _) = s
        .walk(7, "level=warning,error&contains=entry%2010", &token)
        .await;
    let expected: Vec<u64> = (1..=1000)
        .filter(|i| (i % 7 == 0 || i % 7 == 3) && format!("entry {i} ").contains("entry 10"))
        .collect();
    assert_eq!(lines_of(&both), expected);
}

#[tokio::test]
async fn contains_is_a_case_insensitive_literal_substring() {
    let log = "Alpha BETA gamma\nnothing here\nregex chars .* [x] (y)\nÉCOLE élève\nab\n";
    let (_dirs, s) = server_with(&[(3, log.as_bytes())]).await;
    let t = s.reader();
    for (needle, expected) in [
        ("beta", vec![1]),
        ("ALPHA beta G", vec![1]),
        (".*", vec![3]),
        ("[x] (y)", vec![3]),
        ("école", vec![4]),
        ("ÉLÈVE", vec![4]),
        ("a", vec![1, 3, 5]),
        ("ab", vec![5]),
        ("absent string", vec![]),
    ] {
        let (lines, _) = s.walk(3, &format!("contains={}", enc(needle)), &t).await;
        assert_eq!(lines_of(&lines), expected, "{needle}");
    }
}

#[tokio::test]
async fn long_lines_are_cut_but_searchable_in_their_indexed_part_and_encodings_decode() {
    // Served cut to 4,000 characters, searched in all of the first
    // `MAX_LINE_BYTES` (the `hostile` tests cover lines past that).
    let mut long = "x".repeat(runlogd::parse::MAX_LINE_BYTES - 100);
    long.push_str(" needle-at-the-end");
    let mut log = Vec::new();
    log.extend_from_slice(b"first\r\n");
    log.extend_from_slice(long.as_bytes());
    log.extend_from_slice(b"\r\nprice 5 \x80 caf\xe9\r\nlast line without newline");
    let (_dirs, s) = server_with(&[(5, &log)]).await;
    let t = s.reader();
    let r = s.get("/api/v1/runs/5/logs", Some(&t)).await;
    assert_eq!(r.status, 200);
    let data = r.body["data"].as_array().cloned().unwrap_or_default();
    let messages: Vec<&str> = data.iter().filter_map(|l| l["message"].as_str()).collect();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0], "first");
    assert_eq!(messages[1].chars().count(), 4000);
    assert_eq!(data[1]["truncated"], true);
    assert_eq!(data[0]["truncated"], false);
    assert_eq!(messages[2], "price 5 € café");
    assert_eq!(messages[3], "last line without newline");
    let (hits, _) = s.walk(5, "contains=needle-at-the-END", &t).await;
    assert_eq!(lines_of(&hits), vec![2]);
}

#[tokio::test]
async fn authentication_scope_and_their_envelopes() {
    let (_dirs, s) = server_with(&[(1, b"hello\n")]).await;
    let url = "/api/v1/runs/1/logs";

    let r = s.get(url, None).await;
    assert_eq!((r.status, r.error_code()), (401, "unauthorized"));
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    assert!(r.header("x-ratelimit-limit").is_none());

    for bad in ["spci_not-a-real-token", "garbage"] {
        let r = s.get(url, Some(bad)).await;
        assert_eq!((r.status, r.error_code()), (401, "unauthorized"), "{bad}");
    }

    let store = &s.daemon_parts.store;
    let expired = "spci_expired-token-for-the-test-000000000000000";
    store
        .insert_token(
            &runlogd::auth::hash_token(expired),
            "old",
            &["system:read".into()],
            runlogd::store::unix_now() - 1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let r = s.get(url, Some(expired)).await;
    assert_eq!((r.status, r.error_code()), (401, "unauthorized"));
    assert_eq!(r.body["message"], UNAUTHORIZED_MESSAGE);

    let (id, revoked) = runlogd::auth::create_token(store, &["system:read".into()], 1, "x")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get(url, Some(&revoked)).await.status, 200);
    store.revoke_token(id).unwrap_or_else(|e| panic!("{e}"));
    let r = s.get(url, Some(&revoked)).await;
    assert_eq!((r.status, r.error_code()), (401, "unauthorized"));

    let runs_only = s.token(&["runs:read", "results:read"]);
    let r = s.get(url, Some(&runs_only)).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"));
    assert_eq!(r.body["details"]["required_scope"], "system:read");
    assert_eq!(
        r.body["details"]["token_scopes"],
        serde_json::json!(["runs:read", "results:read"])
    );

    // Health endpoints need no token.
    assert_eq!(s.get("/healthz", None).await.status, 200);
    let r = s.get("/readyz", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["ready"], true);
    assert_eq!(r.body["runs"], 1);
    assert_eq!(r.body["lines"], 1);
}

/// A token is accepted while the clock is before its expiry second and
/// refused from that second on. The daemon's clock is the real one, so this
/// checks each answer against the clock read around its request: an
/// acceptance that began at or after the expiry, or a refusal that ended
/// before it, is wrong. (The exact boundary is tested in `auth`.)
#[tokio::test]
async fn a_token_is_accepted_until_it_expires_and_refused_from_then_on() {
    use runlogd::store::unix_now;
    let (_dirs, s) = server_with(&[(1, b"hello\n")]).await;
    let url = "/api/v1/runs/1/logs";
    let token = "spci_token-that-expires-during-the-test-0000000000";
    let expires_at = unix_now() + 3;
    s.daemon_parts
        .store
        .insert_token(
            &runlogd::auth::hash_token(token),
            "short-lived",
            &["system:read".into()],
            expires_at,
        )
        .unwrap_or_else(|e| panic!("{e}"));

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut accepted = 0;
    let refused = loop {
        let before = unix_now();
        let r = s.get(url, Some(token)).await;
        let after = unix_now();
        match r.status {
            200 => {
                assert!(
                    before < expires_at,
                    "accepted in a request that began at {before}, at or after the expiry {expires_at}"
                );
                accepted += 1;
            }
            401 => {
                assert!(
                    after >= expires_at,
                    "refused in a request that ended at {after}, before the expiry {expires_at}: {}",
                    r.body
                );
                break r;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token was never refused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        accepted > 0,
        "the token was never accepted before it expired"
    );
    assert_eq!(refused.error_code(), "unauthorized");
    assert_eq!(
        refused.body["message"], UNAUTHORIZED_MESSAGE,
        "{}",
        refused.body
    );
    // And it stays refused.
    let r = s.get(url, Some(token)).await;
    assert_eq!((r.status, r.error_code()), (401, "unauthorized"));
}

#[tokio::test]
async fn rate_limit_refuses_with_retry_after_and_details() {
    let dirs = Dirs::new();
    dirs.write_log(1, "one\n");
    let mut config = dirs.config();
    config.rate_limit.requests_per_minute = 3;
    let s = TestServer::start(config).await;
    let t = s.reader();
    let other = s.reader();
    for remaining in ["2", "1", "0"] {
        let r = s.get("/api/v1/runs/1/logs", Some(&t)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-remaining"), Some(remaining));
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
    }
    let r = s.get("/api/v1/runs/1/logs", Some(&t)).await;
    assert_eq!((r.status, r.error_code()), (429, "rate_limited"));
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    assert_eq!(r.body["details"]["retry_after"], retry);
    assert_eq!(r.body["details"]["limit"], 3);
    assert_eq!(r.body["details"]["window"], 60);
    assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    // The whole allowance is back within one window, and not before the
    // refused request may be retried.
    let reset: i64 = r
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("x-ratelimit-reset: {:?}", r.header("x-ratelimit-reset")));
    let now = runlogd::store::unix_now();
    assert!(
        reset >= now + retry as i64 - 1 && reset <= now + 61,
        "x-ratelimit-reset {reset}, now {now}, retry-after {retry}"
    );
    // Limits are per token.
    assert_eq!(s.get("/api/v1/runs/1/logs", Some(&other)).await.status, 200);
}

#[tokio::test]
async fn checks_run_in_the_published_order() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.rate_limit.requests_per_minute = 1;
    let s = TestServer::start(config).await;
    let bad = "/api/v1/runs/0/logs?limit=1000";
    let missing = "/api/v1/runs/999/logs";

    // 401 before 400.
    assert_eq!(s.get(bad, None).await.status, 401);
    // 403 before 400.
    let wrong_scope = s.token(&["runs:read"]);
    assert_eq!(s.get(bad, Some(&wrong_scope)).await.status, 403);
    // 400 before 404, and a 400 counts against the limit.
    let t = s.reader();
    let r = s.get(&format!("{bad}&run=999"), Some(&t)).await;
    assert_eq!((r.status, r.error_code()), (400, "validation_error"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    // 429 before 400 and 404.
    assert_eq!(s.get(bad, Some(&t)).await.status, 429);
    assert_eq!(s.get(missing, Some(&t)).await.status, 429);
    // 404 with what was checked.
    let t2 = s.reader();
    let r = s.get(missing, Some(&t2)).await;
    assert_eq!((r.status, r.error_code()), (404, "log_not_found"));
    assert_eq!(r.body["details"]["run_id"], 999);
    assert_eq!(r.body["details"]["checked"], serde_json::json!(["local"]));
    assert!(r.header("x-ratelimit-limit").is_some());
}

#[tokio::test]
async fn every_validation_rule_names_its_parameter() {
    let (_dirs, s) = server_with(&[(1, b"one\ntwo\n")]).await;
    let t = s.reader();
    let long = "y".repeat(101);
    let cases: Vec<(String, &str)> = vec![
        ("/api/v1/runs/0/logs".into(), "run_id"),
        ("/api/v1/runs/-4/logs".into(), "run_id"),
        ("/api/v1/runs/abc/logs".into(), "run_id"),
        ("/api/v1/runs/2147483648/logs".into(), "run_id"),
        ("/api/v1/runs/1/logs?limit=0".into(), "limit"),
        ("/api/v1/runs/1/logs?limit=101".into(), "limit"),
        ("/api/v1/runs/1/logs?limit=ten".into(), "limit"),
        ("/api/v1/runs/1/logs?offset=10".into(), "offset"),
        ("/api/v1/runs/1/logs?offset=0&cursor=1".into(), "offset"),
        ("/api/v1/runs/1/logs?level=warn".into(), "level"),
        ("/api/v1/runs/1/logs?level=error,fatal".into(), "level"),
        ("/api/v1/runs/1/logs?source=database".into(), "source"),
        (format!("/api/v1/runs/1/logs?contains={long}"), "contains"),
        ("/api/v1/runs/1/logs?cursor=not-a-cursor".into(), "cursor"),
    ];
    for (url, field) in cases {
        let r = s.get(&url, Some(&t)).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "validation_error"),
            "{url}"
        );
        let fields = r.body["details"]["fields"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(fields.contains_key(field), "{url}: {}", r.body);
        assert_eq!(fields.len(), 1, "{url}: {}", r.body);
    }
    let r = s.get("/api/v1/runs/1/logs?offset=1", Some(&t)).await;
    assert_eq!(
        r.body["details"]["fields"]["offset"],
        "Cannot mix cursor and offset pagination."
    );
    let r = s.get("/api/v1/runs/1/logs?level=warn", Some(&t)).await;
    assert_eq!(
        r.body["details"]["allowed"]["level"],
        serde_json::json!(["debug", "info", "warning", "error", "critical"])
    );
    // Several bad parameters are reported together.
    let r = s
        .get("/api/v1/runs/1/logs?limit=0&source=x&offset=1", Some(&t))
        .await;
    let fields = r.body["details"]["fields"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(fields.len(), 3);
    // Unknown parameters are ignored; 100 characters of contains are fine.
    let ok = format!("/api/v1/runs/1/logs?foo=bar&contains={}", "é".repeat(100));
    assert_eq!(s.get(&ok, Some(&t)).await.status, 200);
    // Unknown routes and methods keep the envelope.
    let r = s.get("/api/v1/nothing", Some(&t)).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/runs/1/logs", s.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 405);
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("405 body is not JSON: {e}"));
    let r = crate::common::Response {
        status: 405,
        headers: Default::default(),
        body,
    };
    assert_eq!(r.error_code(), "method_not_allowed", "{}", r.body);
    assert_eq!(r.body["details"], serde_json::json!({}), "{}", r.body);
    let allow = allow.unwrap_or_else(|| panic!("a 405 names the allowed methods in Allow"));
    assert!(
        allow.split(',').any(|m| m.trim() == "GET"),
        "Allow: {allow}"
    );
}

#[tokio::test]
async fn cursors_are_bound_tamper_evident_and_legacy_numbers_work() {
    let log: String = (1..=50).map(|i| format!("[INFO] line {i}\n")).collect();
    let (_dirs, s) = server_with(&[(10, log.as_bytes()), (11, log.as_bytes())]).await;
    let t = s.reader();
    let r = s.get("/api/v1/runs/10/logs?limit=5", Some(&t)).await;
    let cursor = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!cursor.is_empty());
    assert!(
        !cursor.chars().all(|c| c.is_ascii_digit()),
        "opaque, not a line number"
    );

    let next = s
        .get(
            &format!("/api/v1/runs/10/logs?limit=5&cursor={cursor}"),
            Some(&t),
        )
        .await;
    assert_eq!(
        lines_of(
            next.body["data"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        ),
        vec![6, 7, 8, 9, 10]
    );
    // A different limit is fine: the cursor is a position, not a page size.
    let r = s
        .get(
            &format!("/api/v1/runs/10/logs?limit=2&cursor={cursor}"),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200);

    let mut refused = vec![
        format!("/api/v1/runs/11/logs?cursor={cursor}"),
        format!("/api/v1/runs/10/logs?cursor={cursor}&level=error"),
        format!("/api/v1/runs/10/logs?cursor={cursor}&contains=line"),
        format!(
            "/api/v1/runs/10/logs?cursor={}",
            &cursor[..cursor.len() - 4]
        ),
        format!("/api/v1/runs/10/logs?cursor={cursor}AAAA"),
    ];
    // Flip one character of the payload.
    let mut forged: Vec<char> = cursor.chars().collect();
    forged[20] = if forged[20] == 'A' { 'B' } else { 'A' };
    refused.push(format!(
        "/api/v1/runs/10/logs?cursor={}",
        forged.into_iter().collect::<String>()
    ));
    for url in refused {
        let r = s.get(&url, Some(&t)).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "validation_error"),
            "{url}"
        );
        assert!(r.body["details"]["fields"]["cursor"].is_string(), "{url}");
    }

    // The platform's numeric cursor: after line N.
    let r = s.get("/api/v1/runs/10/logs?cursor=47", Some(&t)).await;
    assert_eq!(
        lines_of(
            r.body["data"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        ),
        vec![48, 49, 50]
    );
    assert_eq!(r.body["pagination"]["has_more"], false);
    let r = s.get("/api/v1/runs/10/logs?cursor=5000", Some(&t)).await;
    assert_eq!(r.body["data"], serde_json::json!([]));
}

#[tokio::test]
async fn cursors_survive_restarts_appends_continue_replacements_refuse() {
    let dirs = Dirs::new();
    let log: String = (1..=30).map(|i| format!("[INFO] line {i}\n")).collect();
    dirs.write_log(20, &log);
    dirs.write_log(21, &log);
    dirs.write_log(22, "ignored? no: a run\n");
    std::fs::write(dirs.repo().join("LogFiles/notes.txt"), "not a run")
        .unwrap_or_else(|e| panic!("write notes.txt: {e}"));
    std::fs::write(dirs.repo().join("LogFiles/007.txt"), "not canonical")
        .unwrap_or_else(|e| panic!("write 007.txt: {e}"));

    let s = TestServer::start(dirs.config()).await;
    assert_eq!(s.scan.indexed, 3);
    let t = s.reader();
    let c20 = s.get("/api/v1/runs/20/logs?limit=10", Some(&t)).await.body["pagination"]
        ["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let c21 = s.get("/api/v1/runs/21/logs?limit=10", Some(&t)).await.body["pagination"]
        ["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(s.get("/api/v1/runs/7/logs", Some(&t)).await.status, 404);
    s.stop().await;

    // Unchanged restart: nothing is indexed again.
    let s = TestServer::start(dirs.config()).await;
    assert_eq!(
        (s.scan.indexed, s.scan.appended, s.scan.unchanged),
        (0, 0, 3)
    );
    let r = s
        .get(
            &format!("/api/v1/runs/20/logs?limit=10&cursor={c20}"),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["line"], 11);
    s.stop().await;

    // Run 20 grows; run 21 is replaced by another run's log; run 22 is deleted.
    let grown: String = (1..=40).map(|i| format!("[INFO] line {i}\n")).collect();
    dirs.write_log(20, &grown);
    let other: String = (1..=30).map(|i| format!("[WARN] other {i}\n")).collect();
    dirs.write_log(21, &other);
    std::fs::remove_file(dirs.log_path(22)).unwrap_or_else(|e| panic!("remove 22: {e}"));
    let s = TestServer::start(dirs.config()).await;
    assert_eq!((s.scan.appended, s.scan.indexed, s.scan.removed), (1, 1, 1));
    let (rest, _) = s.walk(20, &format!("limit=10&cursor={c20}"), &t).await;
    assert_eq!(lines_of(&rest), (11..=40).collect::<Vec<_>>());
    let r = s
        .get(
            &format!("/api/v1/runs/21/logs?limit=10&cursor={c21}"),
            Some(&t),
        )
        .await;
    assert_eq!((r.status, r.error_code()), (400, "validation_error"));
    assert!(r.body["details"]["fields"]["cursor"]
        .as_str()
        .unwrap_or_default()
        .contains("replaced"));
    let r = s.get("/api/v1/runs/21/logs?limit=1", Some(&t)).await;
    assert_eq!(r.body["data"][0]["message"], "[WARN] other 1");
    assert_eq!(s.get("/api/v1/runs/22/logs", Some(&t)).await.status, 404);
    let (all, _) = s.walk(20, "", &t).await;
    assert_eq!(all.len(), 40, "appended lines are not doubled");
    s.stop().await;
}

#[tokio::test]
async fn a_log_that_lands_after_start_is_served_on_first_request() {
    let (dirs, s) = server_with(&[]).await;
    let t = s.reader();
    assert_eq!(s.get("/api/v1/runs/77/logs", Some(&t)).await.status, 404);
    dirs.write_log(77, LINUX_LOG);
    let r = s.get("/api/v1/runs/77/logs", Some(&t)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(14));
}

#[tokio::test]
async fn empty_and_binary_logs_are_served_without_errors() {
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 256) as u8).collect();
    let (_dirs, s) = server_with(&[(1, b""), (2, &junk)]).await;
    let t = s.reader();
    let r = s.get("/api/v1/runs/1/logs", Some(&t)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], serde_json::json!([]));
    assert_eq!(r.body["pagination"]["has_more"], false);
    let expected_lines = junk.iter().filter(|&&b| b == b'\n').count()
        + usize::from(junk.last().is_some_and(|&b| b != b'\n'));
    let (lines, _) = s.walk(2, "", &t).await;
    assert_eq!(lines.len(), expected_lines);
    assert_eq!(
        lines_of(&lines),
        (1..=expected_lines as u64).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn levels_sources_and_timestamps_are_served_as_the_lines_say() {
    let stamped = "\
2025-03-09T23:55:02Z INFO worker: Starting
2025-03-09T23:55:02.123+01:00 ERROR build: Failed
[2025-03-09 23:55:02] [WARN] slow entry
plain output of the tested program
2025-03-09 23:55:02,5 CRITICAL web: down
Posting results to the server:
WARNING orchestrator: queue is long
2025-02-30 10:00:00 not a date
";
    let (_dirs, s) = server_with(&[(42, LINUX_LOG.as_bytes()), (43, stamped.as_bytes())]).await;
    let t = s.reader();
    let fields = |lines: &[Value]| -> Vec<(u64, String, String, Value)> {
        lines
            .iter()
            .map(|l| {
                (
                    l["line"].as_u64().unwrap_or(0),
                    l["level"].as_str().unwrap_or_default().to_owned(),
                    l["source"].as_str().unwrap_or_default().to_owned(),
                    l["timestamp"].clone(),
                )
            })
            .collect()
    };
    let expect = |rows: &[(u64, &str, &str, Option<&str>)]| -> Vec<(u64, String, String, Value)> {
        rows.iter()
            .map(|(n, level, source, ts)| {
                (
                    *n,
                    level.to_string(),
                    source.to_string(),
                    ts.map_or(Value::Null, |t| Value::String(t.into())),
                )
            })
            .collect()
    };

    // The runner script, the platform's replies, the version block and the
    // test runner, as the README's rules place them.
    let (lines, _) = s.walk(42, "", &t).await;
    assert_eq!(
        fields(&lines),
        expect(&[
            (1, "info", "worker", None),
            (2, "info", "orchestrator", None),
            (3, "info", "orchestrator", None),
            (4, "info", "build", None),
            (5, "info", "build", None),
            (6, "info", "build", None),
            (7, "info", "worker", None),
            (8, "info", "test_runner", None),
            (9, "warning", "test_runner", None),
            (10, "info", "test_runner", None),
            (11, "error", "test_runner", None),
            (12, "info", "test_runner", None),
            (13, "error", "test_runner", None),
            (14, "info", "worker", None),
        ])
    );

    // A leading timestamp is served in RFC 3339 (UTC when it names no
    // offset); the level and source come from what follows it.
    let (lines, _) = s.walk(43, "", &t).await;
    assert_eq!(
        fields(&lines),
        expect(&[
            (1, "info", "worker", Some("2025-03-09T23:55:02Z")),
            (2, "error", "build", Some("2025-03-09T23:55:02.123+01:00")),
            (3, "warning", "test_runner", Some("2025-03-09T23:55:02Z")),
            (4, "info", "test_runner", None),
            (5, "critical", "web", Some("2025-03-09T23:55:02.5Z")),
            (6, "info", "worker", None),
            (7, "warning", "orchestrator", None),
            (8, "info", "worker", None),
        ])
    );
    assert_eq!(
        lines[1]["message"], "2025-03-09T23:55:02.123+01:00 ERROR build: Failed",
        "the message keeps its timestamp"
    );

    // The source filter selects by those values.
    let (web, _) = s.walk(43, "source=web,orchestrator", &t).await;
    assert_eq!(lines_of(&web), vec![5, 7]);
    let (build, _) = s.walk(42, "source=build", &t).await;
    assert_eq!(lines_of(&build), vec![4, 5, 6]);
}

/// The one message of every 401, whatever was wrong with the token (the
/// platform's wording): telling them apart would confirm to the holder of an
/// old token that it was real.
const UNAUTHORIZED_MESSAGE: &str = "Bearer token is missing, expired, or invalid.";

/// A GET with this `Authorization` header as it is (or none).
async fn get_authorized(
    s: &TestServer,
    path: &str,
    authorization: Option<&str>,
) -> crate::common::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", s.base));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    crate::common::Response {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn every_refused_token_gets_the_same_401() {
    let (_dirs, s) = server_with(&[(1, b"hello\n")]).await;
    let store = &s.daemon_parts.store;
    let expired = "spci_expired-token-for-the-one-401-test-000000000";
    store
        .insert_token(
            &runlogd::auth::hash_token(expired),
            "old",
            &["system:read".into()],
            runlogd::store::unix_now() - 1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (id, revoked) = runlogd::auth::create_token(store, &["system:read".into()], 1, "x")
        .unwrap_or_else(|e| panic!("{e}"));
    store.revoke_token(id).unwrap_or_else(|e| panic!("{e}"));
    let unknown = format!("spci_{}", "A".repeat(43));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some(format!("Basic {unknown}"))),
        ("no token", Some("Bearer".into())),
        ("no prefix", Some("Bearer garbage".into())),
        ("unknown", Some(format!("Bearer {unknown}"))),
        ("expired", Some(format!("Bearer {expired}"))),
        ("revoked", Some(format!("Bearer {revoked}"))),
    ];
    for path in [
        "/api/v1/runs/1/logs",
        "/api/v1/runs/1/logs/raw",
        "/api/v1/logs",
        "/api/v1/logs/search?contains=hello",
    ] {
        for (what, authorization) in &cases {
            let r = get_authorized(&s, path, authorization.as_deref()).await;
            assert_eq!(r.status, 401, "{what} {path}: {}", r.body);
            assert_eq!(
                r.body,
                serde_json::json!({
                    "code": "unauthorized",
                    "message": UNAUTHORIZED_MESSAGE,
                    "details": {},
                }),
                "{what} {path}"
            );
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer")),
                "{what} {path}"
            );
        }
    }
}

/// Asserts a 400 `validation_error` naming `field`, and only it.
fn assert_refused(r: &crate::common::Response, url: &str, field: &str) {
    assert_eq!(
        (r.status, r.error_code()),
        (400, "validation_error"),
        "{url}: {}",
        r.body
    );
    let fields = r.body["details"]["fields"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(fields.contains_key(field), "{url}: {}", r.body);
    assert_eq!(fields.len(), 1, "{url}: {}", r.body);
}

#[tokio::test]
async fn a_repeated_parameter_is_refused_by_name_except_level_and_source() {
    let (_dirs, s) = server_with(&[(1, LINUX_LOG.as_bytes())]).await;
    let t = s.reader();
    // `level` and `source` given twice are merged, as if comma-separated.
    for (repeated, joined) in [
        (
            "/api/v1/runs/1/logs?level=error&level=warning",
            "/api/v1/runs/1/logs?level=error,warning",
        ),
        (
            "/api/v1/runs/1/logs?source=build&source=worker&level=info",
            "/api/v1/runs/1/logs?source=build,worker&level=info",
        ),
        (
            "/api/v1/logs/search?level=error&level=warning&source=test_runner&source=web",
            "/api/v1/logs/search?level=error,warning&source=test_runner,web",
        ),
    ] {
        let a = s.get(repeated, Some(&t)).await;
        let b = s.get(joined, Some(&t)).await;
        assert_eq!(a.status, 200, "{repeated}: {}", a.body);
        assert_eq!(a.body["data"], b.body["data"], "{repeated}");
        assert!(
            a.body["data"].as_array().is_some_and(|d| !d.is_empty()),
            "{repeated}"
        );
    }
    // Any other parameter an endpoint reads, given twice, is a 400 naming it,
    // even when both values are the same.
    let since = "2020-01-01T00:00:00Z";
    let cases = [
        ("/api/v1/runs/1/logs?limit=1&limit=2", "limit"),
        ("/api/v1/runs/1/logs?limit=5&limit=5", "limit"),
        ("/api/v1/runs/1/logs?contains=a&contains=b", "contains"),
        ("/api/v1/runs/1/logs?cursor=1&cursor=2", "cursor"),
        ("/api/v1/runs/1/logs/raw?link=true&link=false", "link"),
        ("/api/v1/runs/1/logs/raw?link=false&link=false", "link"),
        ("/api/v1/logs?limit=1&limit=1", "limit"),
        ("/api/v1/logs?run_min=1&run_min=2", "run_min"),
        (
            "/api/v1/logs/search?contains=error&contains=error",
            "contains",
        ),
        (
            "/api/v1/logs/search?level=error&lines_per_run=1&lines_per_run=2",
            "lines_per_run",
        ),
    ];
    for (url, field) in cases {
        let r = s.get(url, Some(&t)).await;
        assert_refused(&r, url, field);
        assert!(
            r.body["details"]["fields"][field]
                .as_str()
                .is_some_and(|m| m.contains("more than once")),
            "{url}: {}",
            r.body
        );
    }
    let url = format!("/api/v1/logs/search?level=error&since={since}&since={since}");
    assert_refused(&s.get(&url, Some(&t)).await, &url, "since");
    // Parameters an endpoint does not read are ignored, repeated or not.
    for url in [
        "/api/v1/runs/1/logs?foo=1&foo=2",
        "/api/v1/runs/1/logs/raw?foo=1&foo=2",
        "/api/v1/logs?lines_per_run=1&lines_per_run=2",
    ] {
        assert_eq!(s.get(url, Some(&t)).await.status, 200, "{url}");
    }
}

#[tokio::test]
async fn invalid_percent_encoding_is_a_400_naming_the_parameter() {
    let (_dirs, s) = server_with(&[(1, "école\nnaïve + plus\n".as_bytes())]).await;
    let t = s.reader();
    let cases = [
        ("/api/v1/runs/1/logs?contains=%zz", "contains"),
        ("/api/v1/runs/1/logs?contains=%ff", "contains"),
        ("/api/v1/runs/1/logs?contains=abc%e2%82", "contains"),
        ("/api/v1/runs/1/logs?contains=abc%", "contains"),
        ("/api/v1/runs/1/logs?contains=%2", "contains"),
        ("/api/v1/runs/1/logs?level=%zz", "level"),
        ("/api/v1/runs/1/logs?source=%c0%af", "source"),
        ("/api/v1/runs/1/logs?cursor=%ff", "cursor"),
        ("/api/v1/runs/1/logs?limit=1%", "limit"),
        ("/api/v1/runs/1/logs/raw?link=%ff", "link"),
        ("/api/v1/logs?run_min=%zz", "run_min"),
        ("/api/v1/logs/search?contains=%ff%fe%fd", "contains"),
        ("/api/v1/logs/search?contains=%zzz", "contains"),
    ];
    for (url, field) in cases {
        let r = s.get(url, Some(&t)).await;
        assert_refused(&r, url, field);
    }
    // Well-formed encodings are decoded (`+` is a space) before matching.
    for (url, lines) in [
        ("/api/v1/runs/1/logs?contains=%C3%A9cole", vec![1]),
        ("/api/v1/runs/1/logs?contains=%C3%AFve+%2B", vec![2]),
        ("/api/v1/runs/1/logs?cont%61ins=na%C3%AF", vec![2]),
    ] {
        let r = s.get(url, Some(&t)).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        assert_eq!(
            lines_of(
                r.body["data"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
            ),
            lines,
            "{url}"
        );
    }
    // A parameter the endpoint does not read is ignored however it is written.
    let r = s.get("/api/v1/runs/1/logs?foo=%zz&%ff=1", Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn api_responses_are_never_stored_and_never_sniffed() {
    let dirs = Dirs::new();
    dirs.write_log(1, LINUX_LOG);
    dirs.write_log(2, "streamed from here\n");
    let mut config = dirs.config();
    // A bucket that holds run 1 and can sign, for the redirect; nothing
    // listens at its endpoint, and signing needs no network.
    config.gcs.bucket = Some("headers-bucket".into());
    config.gcs.credentials = Some(runlogd::config::GcsCredentials::Anonymous);
    config.gcs.endpoint = Some("http://127.0.0.1:9".into());
    config.gcs.signing_key = Some(crate::common::gcs::signing_key(
        dirs.root.path(),
        "runlogd-test@example.iam.gserviceaccount.com",
    ));
    config.gcs.sync_interval_secs = 3600;
    config.gcs.request_timeout_secs = 1;
    config.gcs.max_retries = 0;
    let s = TestServer::start(config).await;
    s.daemon_parts
        .store
        .put_object(&runlogd::store::ObjectRecord {
            run_id: 1,
            name: "LogFiles/1.txt".into(),
            etag: None,
            generation: None,
            size: LINUX_LOG.len() as u64,
            // Newer than the local file, so the bucket's copy is offered.
            updated_ns: i64::MAX / 2,
            mirrored_path: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let t = s.reader();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let long = format!("/api/v1/runs/1/logs?contains={}", "a".repeat(9000));
    let cases: Vec<(String, Option<&str>, u16)> = vec![
        ("/api/v1/runs/1/logs?limit=2".into(), Some(&t), 200),
        ("/api/v1/runs/1/logs?limit=0".into(), Some(&t), 400),
        ("/api/v1/runs/1/logs".into(), None, 401),
        // Not local, and the bucket cannot be reached.
        ("/api/v1/runs/999/logs".into(), Some(&t), 503),
        ("/api/v1/nothing".into(), Some(&t), 404),
        ("/api/v1/logs".into(), Some(&t), 200),
        ("/api/v1/logs/search?contains=error".into(), Some(&t), 200),
        ("/api/v1/runs/1/logs/raw".into(), Some(&t), 302),
        ("/api/v1/runs/1/logs/raw?link=true".into(), Some(&t), 200),
        ("/api/v1/runs/2/logs/raw".into(), Some(&t), 200),
        ("/api/v1/runs/2/logs/raw?link=maybe".into(), Some(&t), 400),
        ("/api/v1/openapi.json".into(), None, 200),
        (long, Some(&t), 414),
    ];
    for (path, token, status) in cases {
        let mut req = no_redirects.get(format!("{}{path}", s.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
        let shown = &path[..path.len().min(60)];
        assert_eq!(resp.status().as_u16(), status, "{shown}");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            header("cache-control").as_deref(),
            Some("no-store"),
            "{shown}"
        );
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{shown}"
        );
        if path == "/api/v1/runs/2/logs/raw" {
            assert_eq!(header("content-type").as_deref(), Some("text/plain"));
            assert_eq!(
                resp.text().await.unwrap_or_default(),
                "streamed from here\n"
            );
        }
    }
}

/// Only hyper's own refusals are rewritten into the envelope (see
/// `daemon::http`): a log whose text looks like one, even where a write may
/// start, is sent byte for byte, and the connection stays in step.
#[tokio::test]
async fn log_text_that_looks_like_a_bare_refusal_is_served_as_written() {
    let fake = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
    let mut aligned = "x".repeat(4095);
    aligned.push('\n');
    aligned.push_str(fake);
    let (_dirs, s) = server_with(&[(1, fake.as_bytes()), (2, aligned.as_bytes())]).await;
    let t = s.reader();
    let client = reqwest::Client::new();
    for _ in 0..3 {
        for (run, content) in [(1, fake), (2, aligned.as_str())] {
            let resp = client
                .get(format!("{}/api/v1/runs/{run}/logs/raw", s.base))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(resp.status().as_u16(), 200);
            let body = resp.bytes().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(body.as_ref(), content.as_bytes(), "run {run}");
        }
    }
}
