//! One URL for both: runlogd behind a Sample Platform instance's own URL,
//! through the shipped `docs/nginx/runlogd.conf`, with a real nginx on
//! 127.0.0.1 in front of a real runlogd. The test's nginx configuration
//! `include`s the shipped file itself inside its server block, as an operator
//! adds it to the platform's, and defines only what is the test's own: where
//! runlogd and the platform listen, and the platform's `location /`.
//!
//! The platform's Flask app cannot run here, so it is the one stand-in: a
//! small server answering every path with JSON naming itself, the path and
//! query it got and the headers that matter. Needs Debian's `nginx` package
//! (`.ci/run` installs it); without it these tests fail, saying so.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common::{self, enc, free_port, Dirs, Response, TestServer};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The shipped configuration, the file under test.
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/nginx/runlogd.conf");

/// `NGINX`, else `nginx` on PATH, else Debian's `/usr/sbin/nginx` (not on a
/// user's PATH).
fn find_nginx() -> Option<PathBuf> {
    common::find_binary("NGINX", &["nginx", "/usr/sbin/nginx"])
}

/// Debian's nginx, installed with apt the first time a test finds it
/// missing, on the kind of machine the project runs on (Debian, as root), as
/// the browser tests install Chromium. Elsewhere the test says what to
/// install. `.ci/run` installs it beforehand.
fn install_nginx_once() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if find_nginx().is_none() {
            common::apt_install("the reverse-proxy tests", &["nginx"]);
        }
    });
}

/// An nginx serving the platform's URL on a loopback port, everything it
/// writes inside a temporary directory; killed when dropped.
struct Nginx {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

/// The test's nginx.conf: the shipped file included in the server block
/// that stands for the platform's.
const CONF: &str = r#"
daemon off;
# One process, which the test kills; no workers changing user (as root they
# would run as nobody, who cannot enter the temporary directory).
master_process off;
pid "@DIR@/nginx.pid";
error_log "@DIR@/error.log" warn;
events { worker_connections 64; }
http {
    access_log "@DIR@/access.log";
    client_body_temp_path "@DIR@/client_body";
    proxy_temp_path "@DIR@/proxy";
    fastcgi_temp_path "@DIR@/fastcgi";
    uwsgi_temp_path "@DIR@/uwsgi";
    scgi_temp_path "@DIR@/scgi";

    # Where runlogd listens: what an operator writes once at the http level.
    upstream runlogd {
        server @RUNLOGD@;
        keepalive 4;
    }
    # The platform's app (its install/nginx.conf proxies to a unix socket).
    upstream platform {
        server @PLATFORM@;
    }

    server {
        # Small send buffers, so that an answer a client is slow to read is
        # held by nginx, not by the kernel (see the raw download's test).
        listen 127.0.0.1:@PORT@ sndbuf=8k;
        server_name localhost;

        include "@SHIPPED@";

        # The platform's own `location /`, which keeps every other path.
        location / {
            proxy_pass http://platform;
            proxy_set_header Host $http_host;
        }
    }
}
"#;

impl Nginx {
    /// Starts nginx in front of `runlogd` and `platform` (`host:port`).
    async fn start(runlogd: &str, platform: &str) -> Nginx {
        install_nginx_once();
        let bin = find_nginx().unwrap_or_else(|| {
            panic!(
                "nginx not found: these tests need Debian's nginx package \
                 (apt-get install nginx), or NGINX pointing at the binary"
            )
        });
        let mut dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for attempt in 0..5 {
            // A port free a moment ago; another process may take it before
            // nginx binds it, hence the retries.
            let port = free_port();
            let conf = CONF
                .replace("@DIR@", &dir.path().display().to_string())
                .replace("@RUNLOGD@", runlogd)
                .replace("@PLATFORM@", platform)
                .replace("@PORT@", &port.to_string())
                .replace("@SHIPPED@", SHIPPED);
            let conf_path = dir.path().join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("write nginx.conf: {e}"));
            let stderr = std::fs::File::create(dir.path().join("stderr.log"))
                .unwrap_or_else(|e| panic!("stderr.log: {e}"));
            let child = Command::new(&bin)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                // From the start, not only once the configuration is read
                // (else it first opens Debian's /var/log/nginx/error.log).
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "starting {}: {e} (these tests need Debian's nginx package, \
                         apt-get install nginx, or NGINX pointing at the binary)",
                        bin.display()
                    )
                });
            let mut nginx = Nginx { port, dir, child };
            match nginx.wait_listening().await {
                Ok(()) => return nginx,
                Err(log) if log.contains("Address already in use") && attempt < 4 => {
                    // Killed and reaped by its drop; the directory is
                    // written again by the next attempt.
                    dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
                }
                Err(log) => panic!("nginx did not start:\n{log}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Waits (at most 20 s) until nginx accepts connections; its logs if it
    /// exits first.
    async fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status}):\n{}", self.logs()));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not listening within 20 s:\n{}", self.logs()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What nginx wrote to stderr and its error log.
    fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Response {
        common::get(&self.url(path), token).await
    }

    /// `GET target` written on the connection as it is (an HTTP client
    /// would resolve `..` segments first), the answer read after `wait`:
    /// its status, head and body.
    async fn get_verbatim(
        &self,
        target: &str,
        token: &str,
        wait: Duration,
    ) -> (u16, String, Vec<u8>) {
        // Small socket buffers (with the server's `sndbuf`), so that what
        // the client has not read yet is not held by the kernel either.
        let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("socket: {e}"));
        socket
            .set_recv_buffer_size(4096)
            .unwrap_or_else(|e| panic!("SO_RCVBUF: {e}"));
        let mut conn = socket
            .connect(([127, 0, 0, 1], self.port).into())
            .await
            .unwrap_or_else(|e| panic!("connect to nginx: {e}"));
        let request = format!(
            "GET {target} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\n\r\n",
            self.port
        );
        conn.write_all(request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        tokio::time::sleep(wait).await;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head in {answer:?}"));
        let head = String::from_utf8_lossy(&answer[..end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (status, head, answer[end + 4..].to_vec())
    }

    /// [`Nginx::get_verbatim`] at once, with a JSON body.
    async fn get_verbatim_json(&self, target: &str, token: &str) -> (u16, Value) {
        let (status, _, body) = self.get_verbatim(target, token, Duration::ZERO).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in answering every path with JSON naming itself (`server`), the
/// path and query it got, and the request headers a proxy sets or passes.
struct Echo {
    addr: String,
    server: tokio::task::JoinHandle<()>,
}

impl Echo {
    async fn start(name: &'static str) -> Echo {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"))
            .to_string();
        let app = axum::Router::new().fallback(echo).with_state(name);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Echo { addr, server }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn echo(State(name): State<&'static str>, uri: Uri, headers: HeaderMap) -> Json<Value> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    Json(json!({
        "server": name,
        "path": uri.path(),
        "query": uri.query(),
        "authorization": header("authorization"),
        "host": header("host"),
        "x_forwarded_for": header("x-forwarded-for"),
        "x_forwarded_proto": header("x-forwarded-proto"),
        "x_real_ip": header("x-real-ip"),
        "connection": header("connection"),
    }))
}

const RUN_42: &str = "\
[INFO] Starting with entry 1 of 3
[ERROR] /repository/ccextractor: error while loading shared libraries: libtesseract.so.5: cannot open shared object file
[INFO] Finished entry 1 with exit code: 0
[WARN] Provided no config or an invalid one
[INFO] Finished entry 3 with exit code: 0
";

/// About 1.5 MB, CRLF line ends and Windows-1252 bytes: the raw download
/// must hand back these bytes, not text made of them.
fn run_43() -> Vec<u8> {
    let mut log = Vec::new();
    for i in 1..=50_000 {
        log.extend_from_slice(format!("[INFO] entry {i} costs 5 ").as_bytes());
        log.extend_from_slice(b"\x80\r\n");
    }
    log
}

/// A runlogd over runs 41, 42 and 43 (landed in that order), the platform
/// stand-in, and nginx in front of both.
async fn platform_url() -> (Dirs, TestServer, Echo, Nginx) {
    let dirs = Dirs::new();
    dirs.write_log(41, common::numbered_log("forty-one", 5));
    dirs.write_log(42, RUN_42);
    dirs.write_log(43, run_43());
    let landed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    for (i, run) in [41, 42, 43].into_iter().enumerate() {
        dirs.set_mtime(run, landed + Duration::from_secs(60 * i as u64));
    }
    let mut config = dirs.config();
    config.rate_limit.requests_per_minute = 1000;
    let runlogd = TestServer::start(config).await;
    let platform = Echo::start("platform").await;
    let nginx = Nginx::start(runlogd.base.trim_start_matches("http://"), &platform.addr).await;
    (dirs, runlogd, platform, nginx)
}

fn run_ids(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["run_id"].as_u64())
        .collect()
}

#[tokio::test]
async fn runlogds_endpoints_answer_on_the_platforms_url() {
    let (dirs, s, _platform, nginx) = platform_url().await;
    let token = s.reader();

    // A page: runlogd's own answer, word for word, with its headers.
    let page = "/api/v1/runs/42/logs?limit=2";
    let r = nginx.get(page, Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(
        common::messages(&r),
        [
            "[INFO] Starting with entry 1 of 3",
            "[ERROR] /repository/ccextractor: error while loading shared libraries: \
             libtesseract.so.5: cannot open shared object file",
        ]
    );
    assert_eq!(r.body, s.get(page, Some(&token)).await.body);
    // The token's rate limit, as runlogd counts it.
    assert_eq!(r.header("x-ratelimit-limit"), Some("1000"));
    let remaining: u64 = r
        .header("x-ratelimit-remaining")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(remaining < 1000, "x-ratelimit-remaining {remaining}");
    let reset: u64 = r
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(reset >= runlogd::store::unix_now() as u64);

    // The next page, by the cursor the first one gave.
    assert_eq!(r.body["pagination"]["has_more"], true);
    let cursor = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no next_cursor: {}", r.body));
    let next = format!("{page}&cursor={}", enc(cursor));
    let r = nginx.get(&next, Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        common::messages(&r),
        [
            "[INFO] Finished entry 1 with exit code: 0",
            "[WARN] Provided no config or an invalid one",
        ]
    );
    assert_eq!(r.body["data"][0]["line"], 3);
    assert_eq!(r.body, s.get(&next, Some(&token)).await.body);

    // The raw file, byte for byte, to a client that starts reading only
    // after a while: nginx buffering the answer would meanwhile take the
    // rest from runlogd and spool it to its disk.
    let (status, head, bytes) = nginx
        .get_verbatim(
            "/api/v1/runs/43/logs/raw",
            &token,
            Duration::from_millis(500),
        )
        .await;
    assert_eq!(status, 200, "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\ncontent-type: text/plain\r\n"), "{head}");
    assert!(
        head.contains("\r\ncontent-disposition: attachment; filename=\"43.txt\"\r\n"),
        "{head}"
    );
    let file = std::fs::read(dirs.log_path(43)).unwrap_or_else(|e| panic!("read 43: {e}"));
    assert_eq!(bytes.len(), file.len());
    assert!(bytes == file, "the raw download differs from the file");
    // Streamed through, not spooled to nginx's disk first (nginx warns in
    // its error log when it spools a response).
    let logs = nginx.logs();
    assert!(!logs.contains("buffered to a temporary file"), "{logs}");

    // The list of logs and a search across runs.
    let r = nginx.get("/api/v1/logs", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(run_ids(&r.body), [43, 42, 41]);
    assert_eq!(r.body, s.get("/api/v1/logs", Some(&token)).await.body);
    let search = "/api/v1/logs/search?contains=libtesseract";
    let r = nginx.get(search, Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(run_ids(&r.body), [42]);
    assert_eq!(r.body["data"][0]["match_count"], 1);
    assert_eq!(r.body, s.get(search, Some(&token)).await.body);

    // runlogd's errors, not nginx's pages nor the platform's.
    for path in [
        "/api/v1/runs/42/logs",
        "/api/v1/runs/42/logs/raw",
        "/api/v1/logs",
        "/api/v1/logs/search?contains=libtesseract",
    ] {
        let r = nginx.get(path, None).await;
        assert_eq!((r.status, r.error_code()), (401, "unauthorized"), "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"runlogd\""),
            "{path}"
        );
    }
    let r = nginx.get("/api/v1/runs/999/logs", Some(&token)).await;
    assert_eq!((r.status, r.error_code()), (404, "log_not_found"));
    assert_eq!(r.body["details"]["run_id"], 999);
    let r = nginx
        .get("/api/v1/runs/42/logs?limit=0", Some(&token))
        .await;
    assert_eq!((r.status, r.error_code()), (400, "validation_error"));
    assert!(
        r.body["details"]["fields"]["limit"].is_string(),
        "{}",
        r.body
    );

    // A path that matches only once nginx resolves its `..` reaches runlogd
    // as sent, and is not found there: never /metrics.
    let (status, body) = nginx
        .get_verbatim_json("/metrics/../api/v1/logs", &token)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found", "{body}");
}

#[tokio::test]
async fn every_other_path_stays_the_platforms() {
    let (_dirs, s, _platform, nginx) = platform_url().await;
    let token = s.reader();
    for path in [
        "/",
        "/login",
        "/api/v1/auth/me",
        "/api/v1/auth/tokens/current",
        "/api/v1/runs/42",
        "/api/v1/runs/42/results",
        "/api/v1/runs/42/logsX",
        "/api/v1/runs/42/logs/",
        "/api/v1/runs/42/logs/rawX",
        "/api/v1/runs/42/logs/raw/",
        "/api/v1/runs/42/logs/raw/x",
        "/api/v1/runs/abc/logs",
        "/api/v1/runs//logs",
        "/api/v1/runs/42/logs%0A",
        "/api/v1/logsX",
        "/api/v1/logs/",
        "/api/v1/logs/searchX",
        "/api/v1/logs/search/x",
        "/api/v1/logs%0A",
        "/API/v1/logs",
        "/api/v2/logs",
        "/x/api/v1/logs",
        // The platform's own API document, not runlogd's.
        "/api/v1/openapi.json",
        "/api/v1/openapi.yaml",
        // runlogd's operations paths and web viewer stay on its own address.
        "/metrics",
        "/healthz",
        "/readyz",
        "/runs/42",
        "/assets/app.css",
    ] {
        let r = nginx.get(path, Some(&token)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body["server"], "platform", "{path}: {}", r.body);
        assert_eq!(r.body["path"], path, "{path}");
        assert_eq!(r.body["authorization"], format!("Bearer {token}"), "{path}");
    }
    let r = nginx.get("/api/v1/runs/42?fields=all", None).await;
    assert_eq!(
        (
            &r.body["server"],
            &r.body["query"],
            &r.body["authorization"]
        ),
        (&json!("platform"), &json!("fields=all"), &Value::Null)
    );
    // And the stand-in does not answer what is runlogd's.
    let r = nginx.get("/api/v1/runs/42/logs", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["server"].is_null(), "{}", r.body);
    assert_eq!(r.body["data"][0]["run_id"], 42);
}

#[tokio::test]
async fn runlogd_gets_the_request_as_sent_with_the_forwarding_headers() {
    // The same shipped file, with a stand-in where runlogd listens, to see
    // the request nginx makes of it.
    let platform = Echo::start("platform").await;
    let runlogd = Echo::start("runlogd").await;
    let nginx = Nginx::start(&runlogd.addr, &platform.addr).await;
    let host = format!("127.0.0.1:{}", nginx.port);
    let token = "spci_a-platform-token_0123456789";
    for (path, query) in [
        (
            "/api/v1/runs/7/logs",
            "contains=a%20b&cursor=x%2Fy%3D&limit=5",
        ),
        ("/api/v1/runs/7/logs/raw", "link=true"),
        ("/api/v1/logs", "limit=2"),
        (
            "/api/v1/logs/search",
            "contains=%C3%A9t%C3%A9&level=error,critical",
        ),
    ] {
        let r = nginx.get(&format!("{path}?{query}"), Some(token)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(
            r.body,
            json!({
                "server": "runlogd",
                "path": path,
                "query": query,
                "authorization": format!("Bearer {token}"),
                "host": host,
                "x_forwarded_for": "127.0.0.1",
                "x_forwarded_proto": "http",
                "x_real_ip": "127.0.0.1",
                // HTTP/1.1 kept alive: no `Connection: close`.
                "connection": null,
            }),
            "{path}"
        );
    }
    // No token: none added.
    let r = nginx.get("/api/v1/logs", None).await;
    assert_eq!(r.body["server"], "runlogd");
    assert_eq!(r.body["authorization"], Value::Null);
    // A client's own X-Forwarded-For is kept, the client's address appended.
    let r = reqwest::Client::new()
        .get(nginx.url("/api/v1/logs"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET: {e}"));
    let body: Value = r.json().await.unwrap_or_else(|e| panic!("json: {e}"));
    assert_eq!(body["x_forwarded_for"], "203.0.113.9, 127.0.0.1");
    // The path as the client wrote it, not as nginx resolved it.
    let (status, body) = nginx.get_verbatim_json("/x/../api/v1/logs", token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["server"], &body["path"]),
        (&json!("runlogd"), &json!("/x/../api/v1/logs"))
    );
}
