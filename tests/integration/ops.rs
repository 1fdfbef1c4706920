//! Operations: `/metrics`, the OpenAPI document served and agreeing with the
//! router, and the limits against abuse (sizes, overload, timeouts, slow and
//! idle connections), against a real daemon on 127.0.0.1.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use axum::routing::get as route_get;
use axum::Router;
use runlogd::config::{Config, HttpConfig};
use runlogd::daemon::{serve_http, Daemon};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{self, init_tracing, metric_value, own_process};

/// Anything in these tests taking longer than this is a failure, not a timing.
const DEADLINE: Duration = Duration::from_secs(120);

struct Served {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(app: Router, http: HttpConfig) -> Served {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve_http(listener, app, &http, async {
                let _ = rx.await;
            })
            .await
        });
        Served {
            base: format!("http://{addr}"),
            stop: Some(tx),
            task,
        }
    }

    fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let ended = tokio::time::timeout(DEADLINE, &mut self.task).await;
        assert!(ended.is_ok(), "the server did not stop");
    }
}

/// A daemon over the bundled example runs (9401-9405), scanned.
struct Example {
    _dir: tempfile::TempDir,
    daemon: Daemon,
    config: Config,
}

impl Example {
    async fn open(edit: impl FnOnce(&mut Config)) -> Example {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut config = Config {
            data: dir.path().join("data"),
            ..Config::default()
        };
        config.rate_limit.requests_per_minute = 1_000_000;
        edit(&mut config);
        let daemon = Daemon::open(&config).unwrap_or_else(|e| panic!("open: {e:#}"));
        let ingestor = daemon.parts.ingestor.clone();
        tokio::task::spawn_blocking(move || ingestor.scan())
            .await
            .unwrap_or_else(|e| panic!("join: {e}"))
            .unwrap_or_else(|e| panic!("scan: {e}"));
        Example {
            _dir: dir,
            daemon,
            config,
        }
    }

    fn token(&self) -> String {
        runlogd::auth::create_token(&self.daemon.parts.store, &["system:read".into()], 7, "ops")
            .unwrap_or_else(|e| panic!("token: {e}"))
            .1
    }

    async fn serve(&self, with_metrics: bool) -> Served {
        let app = runlogd::api::app(
            self.daemon.api_state(&self.config),
            &self.config.http,
            with_metrics,
        );
        Served::start(app, self.config.http.clone()).await
    }
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {DEADLINE:?}"))
}

async fn get(url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = within(url, req.send())
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = within(url, resp.text())
        .await
        .unwrap_or_else(|e| panic!("body of {url}: {e}"));
    (status, headers, body)
}

fn envelope(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert!(
        v["code"].is_string() && v["message"].is_string() && v["details"].is_object(),
        "not the error envelope: {v}"
    );
    v
}

fn document_paths() -> BTreeSet<String> {
    let doc: Value = serde_norway::from_str(include_str!("../../schema/openapi.yaml"))
        .unwrap_or_else(|e| panic!("schema/openapi.yaml: {e}"));
    let servers = doc["servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        servers.iter().map(|s| s["url"].clone()).collect::<Vec<_>>(),
        vec![Value::from("/")],
        "paths are written from the root, for tools that ignore per-path servers"
    );
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        assert!(
            item.get("servers").is_none(),
            "{path} has servers of its own"
        );
    }
    paths.keys().cloned().collect()
}

#[tokio::test]
async fn every_route_served_is_in_the_document_and_every_documented_path_answers() {
    let served: BTreeSet<String> = runlogd::api::served_paths().into_iter().collect();
    let documented = document_paths();
    assert_eq!(
        served, documented,
        "the router's table and schema/openapi.yaml disagree"
    );

    // And the table is what a real daemon answers: no documented path is a 404.
    let ex = Example::open(|_| {}).await;
    let token = ex.token();
    let server = ex.serve(true).await;
    // A signature run 9401 holds (computed as the indexer computes it).
    let signature =
        runlogd::signature::signature_of("[ERROR] Missing or invalid XDS packet, skipping");
    for path in &documented {
        let url = format!(
            "{}{}",
            server.base,
            path.replace("{run_id}", "9401")
                .replace("{signature}", &signature.to_string())
        );
        let query = if path.ends_with("/logs/search") {
            "?contains=error"
        } else {
            ""
        };
        let (status, _, body) = get(&format!("{url}{query}"), Some(&token)).await;
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    let (status, _, body) = get(&format!("{}/api/v1/nowhere", server.base), Some(&token)).await;
    assert_eq!(status, 404);
    assert_eq!(envelope(&body)["code"], "not_found");
    server.stop().await;
}

#[tokio::test]
async fn the_document_is_served_as_yaml_and_as_the_same_json() {
    let ex = Example::open(|_| {}).await;
    let server = ex.serve(true).await;
    let (status, headers, yaml) = get(&format!("{}/api/v1/openapi.yaml", server.base), None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/yaml");
    assert_eq!(yaml, include_str!("../../schema/openapi.yaml"));
    let (status, headers, json) = get(&format!("{}/api/v1/openapi.json", server.base), None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let from_json: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    let from_yaml: Value = serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_json, from_yaml);
    assert_eq!(from_json["openapi"], "3.0.3");
    server.stop().await;
}

#[tokio::test]
async fn the_documented_cursor_example_is_accepted() {
    let doc: Value = serde_norway::from_str(include_str!("../../schema/openapi.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let example = doc["components"]["parameters"]["Cursor"]["example"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(!example.is_empty(), "the cursor parameter has an example");
    let ex = Example::open(|_| {}).await;
    let token = ex.token();
    let server = ex.serve(true).await;
    let url = format!(
        "{}/api/v1/runs/9405/logs?limit=1&cursor={example}",
        server.base
    );
    let (status, _, body) = get(&url, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_rejections_indexing_and_resources() {
    if !own_process(
        module_path!(),
        "metrics_count_requests_by_route_rejections_indexing_and_resources",
    ) {
        return;
    }
    let ex = Example::open(|c| c.rate_limit.requests_per_minute = 2).await;
    let token = ex.token();
    let server = ex.serve(true).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (s, _, _) = get(
            &format!("{}/api/v1/runs/9401/logs?limit=1", server.base),
            Some(&token),
        )
        .await;
        statuses.push(s);
    }
    assert_eq!(statuses, [200, 200, 429]);
    let (status, headers, text) = get(&format!("{}/metrics", server.base), None).await;
    assert_eq!(status, 200, "no token needed: {text}");
    assert!(headers["content-type"]
        .to_str()
        .is_ok_and(|c| c.starts_with("text/plain")));

    let ok = r#"runlogd_http_requests_total{route="/api/v1/runs/{run_id}/logs",method="GET",status="200"}"#;
    assert!(
        metric_value(&text, ok).is_some_and(|v| v >= 2.0),
        "{ok} in\n{text}"
    );
    assert!(
        !text.contains("/runs/9401"),
        "requests are labelled by route template, never by raw URI"
    );
    assert!(text.contains("runlogd_http_request_duration_seconds_bucket{"));
    let limited = r#"runlogd_http_rejections_total{reason="rate_limited"}"#;
    assert!(
        metric_value(&text, limited).is_some_and(|v| v >= 1.0),
        "{limited}"
    );
    for (series, at_least) in [
        ("runlogd_index_runs", 5.0),
        ("runlogd_index_lines", 5000.0),
        ("runlogd_lines_indexed_total", 5000.0),
        ("runlogd_bytes_indexed_total", 100_000.0),
        ("runlogd_index_size_bytes", 10_000.0),
        ("runlogd_index_commits_total", 1.0),
        ("runlogd_ready", 1.0),
        ("process_resident_memory_bytes", 1_000_000.0),
    ] {
        assert!(
            metric_value(&text, series).is_some_and(|v| v >= at_least),
            "{series} >= {at_least} in\n{text}"
        );
    }
    assert!(text.contains(r#"runlogd_runs_indexed_total{change="indexed"}"#));
    assert!(text.contains("runlogd_index_commit_duration_seconds_count"));
    // Every name the module owns is documented in the README.
    let readme = include_str!("../../README.md");
    for name in runlogd::metrics::ALL {
        assert!(readme.contains(name), "README lists {name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn metrics_can_move_to_their_own_address_or_be_turned_off() {
    let ex = Example::open(|_| {}).await;
    let main = ex.serve(false).await;
    let (status, _, body) = get(&format!("{}/metrics", main.base), None).await;
    assert_eq!(status, 404, "{body}");
    let own = Served::start(
        runlogd::api::metrics_app(ex.daemon.api_state(&ex.config)),
        HttpConfig::default(),
    )
    .await;
    let (status, _, text) = get(&format!("{}/metrics", own.base), None).await;
    assert_eq!(status, 200);
    assert!(text.contains("runlogd_index_runs"));
    let (status, _, _) = get(&format!("{}/healthz", own.base), None).await;
    assert_eq!(status, 404, "the metrics address serves only /metrics");
    main.stop().await;
    own.stop().await;
}

#[tokio::test]
async fn oversized_targets_and_headers_are_refused_in_the_envelope() {
    let ex = Example::open(|_| {}).await;
    let token = ex.token();
    let server = ex.serve(true).await;
    let long = format!(
        "{}/api/v1/runs/9401/logs?contains={}",
        server.base,
        "a".repeat(9000)
    );
    let (status, _, body) = get(&long, Some(&token)).await;
    assert_eq!(status, 414);
    assert_eq!(envelope(&body)["code"], "uri_too_long");

    let resp = within(
        "big headers",
        reqwest::Client::new()
            .get(format!("{}/healthz", server.base))
            .header("x-padding", "b".repeat(20_000))
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 431);
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(envelope(&body)["code"], "headers_too_large");
    server.stop().await;
}

#[tokio::test]
async fn requests_beyond_the_cap_are_refused_at_once_and_slow_ones_time_out() {
    let inner = Router::new().route("/forever", route_get(std::future::pending::<&'static str>));
    let http = HttpConfig {
        max_concurrent_requests: 1,
        request_timeout_secs: 1,
        ..HttpConfig::default()
    };
    let server = Served::start(runlogd::api::limits::wrap(inner, &http), http.clone()).await;
    let (status, _, body) = get(&format!("{}/forever", server.base), None).await;
    assert_eq!(status, 503);
    assert_eq!(envelope(&body)["code"], "timeout");
    server.stop().await;

    // A handler that holds its request until released.
    let (release_tx, _) = tokio::sync::watch::channel(false);
    let release = release_tx.clone();
    let inner = Router::new().route(
        "/hold",
        route_get(move || {
            let mut release = release.subscribe();
            async move {
                let _ = release.wait_for(|r| *r).await;
                "released"
            }
        }),
    );
    let http = HttpConfig {
        max_concurrent_requests: 1,
        request_timeout_secs: 3600,
        ..HttpConfig::default()
    };
    let server = Served::start(runlogd::api::limits::wrap(inner, &http), http).await;
    let held_url = format!("{}/hold", server.base);
    let held = tokio::spawn(async move { get(&held_url, None).await });
    // Wait until the held request occupies the only slot.
    let mut refused = None;
    for _ in 0..600 {
        let (status, headers, body) = get(&format!("{}/hold", server.base), None).await;
        if status == 503 {
            refused = Some((headers, body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (headers, body) = refused.unwrap_or_else(|| panic!("the second request was never refused"));
    assert_eq!(envelope(&body)["code"], "overloaded");
    assert_eq!(headers["retry-after"], "1");
    release_tx.send_replace(true);
    let (status, _, body) = within("held request", held)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, body.as_str()), (200, "released"));
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_slow_or_idle_connections_do_not_stop_a_normal_client() {
    let ex = Example::open(|c| c.http.header_read_timeout_secs = 600).await;
    let token = ex.token();
    let server = ex.serve(true).await;
    let mut open = Vec::with_capacity(1000);
    for i in 0..1000 {
        let mut s = within("connect", TcpStream::connect(server.addr()))
            .await
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        if i % 2 == 0 {
            // Slow loris: a request head that never ends.
            let _ = s
                .write_all(b"GET /api/v1/runs/9401/logs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
        }
        open.push(s);
    }
    let (status, _, body) = get(
        &format!("{}/api/v1/runs/9402/logs?level=error&limit=5", server.base),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap_or_default();
    assert!(page["data"].as_array().is_some_and(|d| !d.is_empty()));
    let (status, _, _) = get(&format!("{}/healthz", server.base), None).await;
    assert_eq!(status, 200);
    // They were all still open (not refused) while the client was served.
    let mut byte = [0u8; 1];
    let still_open = open
        .iter_mut()
        .take(10)
        .map(|s| s.try_read(&mut byte))
        .filter(|r| matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
        .count();
    assert_eq!(still_open, 10);
    drop(open);
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_does_not_finish_its_request_head_is_closed() {
    let ex = Example::open(|c| c.http.header_read_timeout_secs = 1).await;
    let server = ex.serve(true).await;
    let mut idle = within("connect", TcpStream::connect(server.addr()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut slow = within("connect", TcpStream::connect(server.addr()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = slow
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await;
    for (what, s) in [("idle", &mut idle), ("slow", &mut slow)] {
        let mut buf = Vec::new();
        let read = within(what, s.read_to_end(&mut buf)).await;
        // Closed by the server: end of stream (or a reset), and no request answered.
        assert!(
            read.is_err() || buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "{what}: {read:?} {:?}",
            String::from_utf8_lossy(&buf)
        );
    }
    server.stop().await;
}

async fn scrape(base: &str) -> String {
    within("GET /metrics", common::scrape(base)).await
}

fn land(folder: &std::path::Path, run_id: u64) {
    let tmp = folder.join(format!(".{run_id}.tmp"));
    let body = "INFO worker: start\nERROR worker: Segmentation fault\n";
    std::fs::write(&tmp, body).unwrap_or_else(|e| panic!("write: {e}"));
    std::fs::rename(&tmp, folder.join(format!("{run_id}.txt")))
        .unwrap_or_else(|e| panic!("rename: {e}"));
}

#[tokio::test]
async fn file_events_ingest_lag_and_reconcile_repairs_are_counted() {
    if !own_process(
        module_path!(),
        "file_events_ingest_lag_and_reconcile_repairs_are_counted",
    ) {
        return;
    }
    init_tracing();
    // Watched: a landed log is a file event, and its lag is observed.
    let repo = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let logs = repo.path().join("LogFiles");
    std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let ex = Example::open(|c| {
        c.repository = Some(repo.path().to_path_buf());
        c.watch.quiet_ms = 0;
    })
    .await;
    let watcher =
        runlogd::watch::Watcher::start(ex.daemon.parts.ingestor.clone(), ex.config.watch.clone())
            .unwrap_or_else(|e| panic!("watch: {e}"));
    let token = ex.token();
    let server = ex.serve(true).await;
    // The watch thread sets up its watch on its own time: land logs until
    // one is seen (a log landed before it is left to the reconcile).
    let mut last = Value::Null;
    let mut landed = 0;
    for i in 0..1200u64 {
        if i % 20 == 0 {
            landed += 1;
            land(&logs, 76 + landed);
        }
        // /readyz counts indexed runs without indexing on request.
        let (_, _, body) = get(&format!("{}/readyz", server.base), None).await;
        last = serde_json::from_str(&body).unwrap_or_default();
        if last["runs"].as_u64().is_some_and(|r| r >= 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        last["runs"].as_u64().is_some_and(|r| r >= 1),
        "no landed log was ever indexed: {last}"
    );
    let (status, _, _) = get(
        &format!("{}/api/v1/runs/77/logs", server.base),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    let text = scrape(&server.base).await;
    assert!(
        metric_value(&text, "runlogd_file_events_total").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        metric_value(&text, "runlogd_ingest_lag_seconds_count").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    tokio::task::spawn_blocking(move || watcher.stop())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    server.stop().await;

    // Not watched: the periodic reconcile finds the new log and counts the repair.
    let repo = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let logs = repo.path().join("LogFiles");
    std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let ex = Example::open(|c| {
        c.repository = Some(repo.path().to_path_buf());
        c.watch.quiet_ms = 0;
        c.watch.mode = runlogd::config::WatchMode::None;
        c.watch.reconcile_interval_secs = 1;
    })
    .await;
    let watcher =
        runlogd::watch::Watcher::start(ex.daemon.parts.ingestor.clone(), ex.config.watch.clone())
            .unwrap_or_else(|e| panic!("watch: {e}"));
    let server = ex.serve(true).await;
    land(&logs, 78);
    let series = r#"runlogd_reconcile_repairs_total{change="indexed"}"#;
    let mut repaired = None;
    for _ in 0..1200 {
        let text = scrape(&server.base).await;
        repaired = metric_value(&text, series).filter(|v| *v >= 1.0);
        if repaired.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(repaired.is_some(), "{series} never counted the repair");
    tokio::task::spawn_blocking(move || watcher.stop())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    server.stop().await;
}

/// Sends `request` as written on a new connection and reads what comes back
/// until the server closes the connection.
async fn exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    let mut s = within("connect", TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    within("write", s.write_all(request))
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = Vec::new();
    // A reset after the answer still leaves what was read in `buf`.
    let _ = within("read", s.read_to_end(&mut buf)).await;
    buf
}

/// The HTTP/1.1 responses in `bytes`, each framed by its Content-Length
/// (the first `heads` of them answer HEAD requests and have no body):
/// status, head, body.
fn responses(mut bytes: &[u8], mut heads: usize) -> Vec<(u16, String, String)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let text = String::from_utf8_lossy(bytes);
        let end = text
            .find("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head in {text:?}"));
        let head = text[..end].to_ascii_lowercase();
        let status = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let length = if heads > 0 { 0 } else { length };
        heads = heads.saturating_sub(1);
        let body_at = end + 4;
        let body = String::from_utf8_lossy(&bytes[body_at..(body_at + length).min(bytes.len())]);
        out.push((status, head, body.into_owned()));
        bytes = &bytes[(body_at + length).min(bytes.len())..];
    }
    out
}

async fn rejections(base: &str, reason: &str) -> f64 {
    let series = format!("runlogd_http_rejections_total{{reason=\"{reason}\"}}");
    metric_value(&scrape(base).await, &series).unwrap_or(0.0)
}

#[tokio::test]
async fn a_request_with_101_headers_is_refused_in_the_envelope_and_counted() {
    if !own_process(
        module_path!(),
        "a_request_with_101_headers_is_refused_in_the_envelope_and_counted",
    ) {
        return;
    }
    let ex = Example::open(|_| {}).await;
    let server = ex.serve(true).await;
    let request = |fields: usize| {
        let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 2..fields {
            head.push_str(&format!("X-Field-{i}: v\r\n"));
        }
        head.push_str("\r\n");
        head
    };
    let ok = responses(&exchange(server.addr(), request(100).as_bytes()).await, 0);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].0, 200, "100 header fields are fine: {:?}", ok[0]);

    let before = rejections(&server.base, "headers_too_large").await;
    let refused = responses(&exchange(server.addr(), request(101).as_bytes()).await, 0);
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (status, head, body) = &refused[0];
    assert_eq!(*status, 431, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let body = envelope(body);
    assert_eq!(body["code"], "headers_too_large");
    assert_eq!(body["details"]["max_headers"], 100);
    let after = rejections(&server.base, "headers_too_large").await;
    assert!(after > before, "counted: {before} -> {after}");
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_request_is_refused_in_the_envelope_and_counted() {
    if !own_process(
        module_path!(),
        "a_malformed_request_is_refused_in_the_envelope_and_counted",
    ) {
        return;
    }
    let ex = Example::open(|_| {}).await;
    let server = ex.serve(true).await;
    let malformed: [(&str, &[u8], usize); 4] = [
        ("a malformed request line", b"NOT A REQUEST\r\n\r\n", 0),
        (
            "a header line without a colon",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            0,
        ),
        (
            "after an answered request on the same connection",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nNOT A REQUEST\r\n\r\n",
            0,
        ),
        (
            "after a HEAD request on the same connection",
            b"HEAD /api/v1/openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nbad\x01header: v\r\n\r\n",
            1,
        ),
    ];
    for (what, request, heads) in malformed {
        let before = rejections(&server.base, "malformed_request").await;
        let answers = responses(&exchange(server.addr(), request).await, heads);
        let Some((status, head, body)) = answers.last() else {
            panic!("{what}: no answer");
        };
        assert_eq!(*status, 400, "{what}: {head}");
        assert!(
            head.contains("content-type: application/json"),
            "{what}: {head}"
        );
        assert_eq!(envelope(body)["code"], "malformed_request", "{what}");
        if answers.len() > 1 {
            assert_eq!(answers[0].0, 200, "{what}: {answers:?}");
        }
        let after = rejections(&server.base, "malformed_request").await;
        assert!(after > before, "{what}: counted: {before} -> {after}");
    }
    server.stop().await;
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_answered_not_dropped() {
    if !own_process(
        module_path!(),
        "http2_with_prior_knowledge_is_answered_not_dropped",
    ) {
        return;
    }
    let ex = Example::open(|_| {}).await;
    let server = ex.serve(true).await;
    let before = rejections(&server.base, "http2_prior_knowledge").await;
    let mut request = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // The client's SETTINGS frame: empty.
    request.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let answer = exchange(server.addr(), &request).await;
    assert!(
        !answer.is_empty(),
        "the connection was closed without an answer"
    );
    // HTTP/2 frames: 3 bytes length, type, flags, 4 bytes stream id, payload.
    let mut frames = Vec::new();
    let mut rest = answer.as_slice();
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        assert!(rest.len() >= 9 + len, "a cut frame: {answer:?}");
        frames.push((
            rest[3],
            rest[4],
            rest[5..9].to_vec(),
            rest[9..9 + len].to_vec(),
        ));
        rest = &rest[9 + len..];
    }
    assert!(rest.is_empty(), "not HTTP/2 frames: {answer:?}");
    let (kind, flags, stream, _) = &frames[0];
    assert_eq!(
        (*kind, *flags & 1, stream.as_slice()),
        (4, 0, &[0u8, 0, 0, 0][..]),
        "the server preface is a SETTINGS frame: {frames:?}"
    );
    let goaway = frames
        .iter()
        .find(|f| f.0 == 7)
        .unwrap_or_else(|| panic!("no GOAWAY: {frames:?}"));
    assert!(goaway.3.len() >= 8, "{goaway:?}");
    assert_eq!(
        &goaway.3[4..8],
        &[0, 0, 0, 0xd],
        "GOAWAY with HTTP_1_1_REQUIRED"
    );
    let after = rejections(&server.base, "http2_prior_knowledge").await;
    assert!(after > before, "counted: {before} -> {after}");
    // HTTP/1.1 is still served on the same port.
    let (status, _, _) = get(&format!("{}/healthz", server.base), None).await;
    assert_eq!(status, 200);
    server.stop().await;
}
