//! The Sample Platform's own tokens, accepted through the platform.
//!
//! The platform's Flask app cannot run here, so a server on 127.0.0.1 stands
//! in for it (the one mock in these tests): it answers
//! `GET /api/v1/auth/me` with the shapes `platform.md` gives (200 with the
//! token's scopes, 401 in the platform's words), and the tests control it:
//! a token is revoked, its scopes change, it answers 429, 500, slowly or
//! with garbage, and it counts its calls. runlogd is real: the daemon over
//! HTTP on 127.0.0.1, with its index and state on disk.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::common::{self, metric_value, own_process, Dirs, TestServer};

/// How the stand-in answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    Status(u16),
    /// Answers only after this long.
    Slow(Duration),
    /// 200 with a body that is not the platform's.
    Garbage,
    /// 200 with the platform's JSON, padded past what runlogd reads.
    Huge,
    /// A redirect to another path of this server (`/elsewhere`).
    Redirect,
}

#[derive(Clone)]
pub(crate) struct Platform {
    tokens: Arc<Mutex<HashMap<String, Vec<String>>>>,
    mode: Arc<Mutex<Mode>>,
    calls: Arc<AtomicUsize>,
    /// Requests that followed a redirect (carrying a token elsewhere).
    followed: Arc<AtomicUsize>,
    pub(crate) base: String,
}

impl Platform {
    pub(crate) async fn start() -> Platform {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let platform = Platform {
            tokens: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Normal)),
            calls: Arc::default(),
            followed: Arc::default(),
            base: format!("http://{addr}"),
        };
        let app = Router::new()
            .route("/api/v1/auth/me", get(me))
            .route(
                "/elsewhere",
                get(|State(p): State<Platform>| async move {
                    p.followed.fetch_add(1, Ordering::SeqCst);
                    Json(json!({ "scopes": ["system:read"] }))
                }),
            )
            .with_state(platform.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        platform
    }

    /// A token the platform minted, with its scopes.
    pub(crate) fn mint(&self, scopes: &[&str]) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // The platform's shape: `spci_` and 43 URL-safe characters.
        let token = format!("spci_platform{n:0>30}AbC-_");
        self.set_scopes(&token, scopes);
        token
    }

    fn set_scopes(&self, token: &str, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        self.lock_tokens().insert(token.to_owned(), scopes);
    }

    fn revoke(&self, token: &str) {
        self.lock_tokens().remove(token);
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<String>>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn me(State(p): State<Platform>, headers: HeaderMap) -> Response {
    p.calls.fetch_add(1, Ordering::SeqCst);
    let mode = *p.mode.lock().unwrap_or_else(|e| e.into_inner());
    match mode {
        Mode::Normal => {}
        Mode::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "platform trouble").into_response();
        }
        Mode::Slow(wait) => tokio::time::sleep(wait).await,
        Mode::Garbage => return (StatusCode::OK, "<html>maintenance</html>").into_response(),
        Mode::Huge => {
            let padding = "x".repeat(100 * 1024);
            return Json(json!({ "scopes": ["system:read"], "padding": padding })).into_response();
        }
        Mode::Redirect => {
            return (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")]).into_response()
        }
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let scopes = token.and_then(|t| p.lock_tokens().get(&t).cloned());
    match scopes {
        Some(scopes) => Json(json!({
            "email": "dev@example.org",
            "name": "A developer",
            "role": "admin",
            "scopes": scopes,
            "user_id": 1
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "code": "unauthorized",
                "details": {},
                "message": "Bearer token is missing, expired, or invalid."
            })),
        )
            .into_response(),
    }
}

/// A runlogd over two runs that asks `platform` about tokens it does not
/// know.
async fn runlogd(platform: &Platform, cache_secs: u64, negative_secs: u64) -> (Dirs, TestServer) {
    let dirs = Dirs::new();
    dirs.write_log(9401, "[INFO] first line\n[ERROR] exit code: 1\n");
    dirs.write_log(9402, "[INFO] another run\n");
    let mut config = dirs.config();
    config.auth.platform_url = Some(platform.base.clone());
    config.auth.platform_cache_secs = cache_secs;
    config.auth.platform_negative_cache_secs = negative_secs;
    config.auth.platform_timeout_secs = 1;
    config.rate_limit.requests_per_minute = 100_000;
    // Room for the burst test's 1,000 requests at once.
    config.http.max_concurrent_requests = 2048;
    let s = TestServer::start(config).await;
    (dirs, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_tokens_are_accepted_refused_and_scoped_as_the_platform_says() {
    let platform = Platform::start().await;
    let (_dirs, s) = runlogd(&platform, 60, 5).await;

    let token = platform.mint(&["system:read", "runs:read"]);
    let r = s.get("/api/v1/runs/9401/logs", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        common::messages(&r),
        ["[INFO] first line", "[ERROR] exit code: 1"]
    );
    assert_eq!(r.header("x-ratelimit-limit"), Some("100000"));
    assert_eq!(platform.calls(), 1);
    // Every endpoint takes it, and the answer is remembered.
    for path in [
        "/api/v1/runs/9402/logs",
        "/api/v1/logs",
        "/api/v1/logs/search?contains=exit",
    ] {
        let r = s.get(path, Some(&token)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    assert_eq!(platform.calls(), 1, "one call for the token, then memory");

    // Without system:read: the platform's 403.
    let runner = platform.mint(&["runs:read"]);
    let r = s.get("/api/v1/runs/9401/logs", Some(&runner)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error_code(), "forbidden");
    assert_eq!(r.body["details"]["required_scope"], "system:read");
    assert_eq!(r.body["details"]["token_scopes"], json!(["runs:read"]));

    // A token the platform does not know: its 401, and not asked again
    // for a while.
    let unknown = "spci_unknownunknownunknownunknownunknown12345";
    let before = platform.calls();
    for _ in 0..3 {
        let r = s.get("/api/v1/runs/9401/logs", Some(unknown)).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(
            r.body["message"],
            "Bearer token is missing, expired, or invalid."
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"runlogd\"")
        );
    }
    assert_eq!(platform.calls(), before + 1, "a refusal is remembered too");

    // Not shaped like a token: refused without a call.
    let before = platform.calls();
    let r = s.get("/api/v1/runs/9401/logs", Some("not-a-token")).await;
    assert_eq!(r.status, 401);
    assert_eq!(platform.calls(), before);

    // runlogd's own tokens never reach the platform.
    let before = platform.calls();
    let own = s.reader();
    for _ in 0..5 {
        let r = s.get("/api/v1/runs/9401/logs", Some(&own)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(platform.calls(), before, "no call for a local token");
    s.stop().await;
}

/// How long the next test's runlogd remembers an accepted token.
const CACHE: Duration = Duration::from_secs(3);
/// Past that, with room for the answer's own time.
const EXPIRED: Duration = Duration::from_millis(3500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_or_a_scope_change_takes_effect_within_the_cache_time_and_not_before() {
    let platform = Platform::start().await;
    let (_dirs, s) = runlogd(&platform, CACHE.as_secs(), 1).await;
    let token = platform.mint(&["system:read"]);
    let vouched = Instant::now();
    assert_eq!(
        s.get("/api/v1/runs/9401/logs", Some(&token)).await.status,
        200
    );

    platform.revoke(&token);
    // Still remembered: accepted, without asking (unless the machine
    // stalled past the cache time, when nothing can be said of "before").
    let r = s.get("/api/v1/runs/9401/logs", Some(&token)).await;
    if vouched.elapsed() < CACHE {
        assert_eq!(r.status, 200, "remembered for auth.platform_cache_secs");
        assert_eq!(platform.calls(), 1);
    }
    // Once the time is up, the platform is asked and its refusal holds.
    tokio::time::sleep(EXPIRED.saturating_sub(vouched.elapsed())).await;
    let r = s.get("/api/v1/runs/9401/logs", Some(&token)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(platform.calls(), 2);

    // A scope taken away shows the same way.
    let other = platform.mint(&["system:read"]);
    let vouched = Instant::now();
    assert_eq!(s.get("/api/v1/logs", Some(&other)).await.status, 200);
    platform.set_scopes(&other, &["runs:read"]);
    let r = s.get("/api/v1/logs", Some(&other)).await;
    if vouched.elapsed() < CACHE {
        assert_eq!(r.status, 200, "remembered for auth.platform_cache_secs");
    }
    tokio::time::sleep(EXPIRED.saturating_sub(vouched.elapsed())).await;
    assert_eq!(s.get("/api/v1/logs", Some(&other)).await.status, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_one_new_token_makes_one_call() {
    let platform = Platform::start().await;
    // Each answer takes a while, so the whole burst arrives during the call.
    platform.set_mode(Mode::Slow(Duration::from_millis(300)));
    let (_dirs, s) = runlogd(&platform, 60, 5).await;
    let token = platform.mint(&["system:read"]);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    let url = format!("{}/api/v1/runs/9401/logs?limit=1", s.base);
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let request = client.get(&url).bearer_auth(&token);
        burst.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    }
    let mut statuses = HashMap::new();
    while let Some(done) = burst.join_next().await {
        let status = done
            .unwrap_or_else(|e| panic!("task: {e}"))
            .unwrap_or_else(|e| panic!("request: {e}"));
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&1000), "{statuses:?}");
    assert_eq!(platform.calls(), 1, "one call for 1,000 requests");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_platform_cannot_answer_new_tokens_get_503_and_vouched_ones_keep_working() {
    if !own_process(
        module_path!(),
        "when_the_platform_cannot_answer_new_tokens_get_503_and_vouched_ones_keep_working",
    ) {
        return;
    }
    let platform = Platform::start().await;
    let (_dirs, s) = runlogd(&platform, 60, 5).await;
    let vouched = platform.mint(&["system:read"]);
    assert_eq!(s.get("/api/v1/logs", Some(&vouched)).await.status, 200);

    let fresh = platform.mint(&["system:read"]);
    for mode in [
        Mode::Status(500),
        Mode::Status(503),
        Mode::Status(429),
        Mode::Garbage,
        Mode::Huge,
        Mode::Redirect,
        // Longer than auth.platform_timeout_secs (1 s).
        Mode::Slow(Duration::from_millis(1500)),
    ] {
        platform.set_mode(mode);
        let before = platform.calls();
        let r = s.get("/api/v1/runs/9401/logs", Some(&fresh)).await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.error_code(), "auth_unavailable");
        assert_eq!(r.header("retry-after"), Some("5"));
        assert_eq!(
            platform.calls(),
            before + 1,
            "asked, and nothing remembered"
        );
        // The token vouched for keeps working, from memory.
        let r = s.get("/api/v1/logs", Some(&vouched)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(platform.calls(), before + 1);
    }
    // No platform at all: the same.
    let unreachable = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}"))
    };
    let dirs = Dirs::new();
    dirs.write_log(1, "[INFO] x\n");
    let mut config = dirs.config();
    config.auth.platform_url = Some(format!("http://{unreachable}"));
    let down = TestServer::start(config).await;
    let r = down.get("/api/v1/runs/1/logs", Some(&fresh)).await;
    assert_eq!(
        (r.status, r.error_code()),
        (503, "auth_unavailable"),
        "{}",
        r.body
    );
    assert_eq!(
        down.get("/api/v1/runs/1/logs", Some(&down.reader()))
            .await
            .status,
        200
    );
    down.stop().await;

    // Recovery: the next request asks again.
    platform.set_mode(Mode::Normal);
    let r = s.get("/api/v1/runs/9401/logs", Some(&fresh)).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let text = common::scrape(&s.base).await;
    let calls = |outcome: &str| {
        metric_value(
            &text,
            &format!("runlogd_platform_auth_calls_total{{outcome=\"{outcome}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(calls("accepted"), 2.0, "{text}");
    assert_eq!(calls("bad_status"), 3.0, "500, 503 and the redirect");
    assert_eq!(calls("rate_limited"), 1.0);
    assert_eq!(calls("bad_answer"), 2.0, "garbage and the oversized answer");
    assert_eq!(
        platform.followed.load(Ordering::SeqCst),
        0,
        "no redirect followed"
    );
    assert_eq!(calls("timeout"), 1.0);
    assert_eq!(calls("connect_error"), 1.0);
    assert!(
        metric_value(&text, "runlogd_platform_auth_remembered_total").is_some_and(|v| v >= 5.0)
    );
    assert!(
        !text.contains(&fresh) && !text.contains(&vouched),
        "no token in the metrics"
    );
    s.stop().await;
}
