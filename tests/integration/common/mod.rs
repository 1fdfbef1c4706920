//! Test harness: a real runlogd (real index and SQLite on disk, real HTTP
//! server on 127.0.0.1) over a temporary repository.

pub mod fault;
pub mod gcs;
pub mod prop;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant, SystemTime};

use runlogd::config::Config;
use runlogd::config::WatchMode;
use runlogd::daemon::{Daemon, Running};
use runlogd::ingest::ScanSummary;
use serde_json::Value;
use tempfile::TempDir;

pub struct TestServer {
    pub base: String,
    pub repo: PathBuf,
    pub data: PathBuf,
    pub daemon_parts: runlogd::service::Parts,
    /// What the start-up scan did (empty until it has ended; see
    /// [`TestServer::start_serving`]).
    pub scan: ScanSummary,
    running: Option<Running>,
}

/// A repository and data directory that outlive server restarts.
pub struct Dirs {
    pub root: TempDir,
}

impl Dirs {
    pub fn new() -> Dirs {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        std::fs::create_dir_all(root.path().join("repo/LogFiles"))
            .unwrap_or_else(|e| panic!("mkdir: {e}"));
        Dirs { root }
    }
    pub fn repo(&self) -> PathBuf {
        self.root.path().join("repo")
    }
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn log_path(&self, run_id: u64) -> PathBuf {
        self.repo().join("LogFiles").join(format!("{run_id}.txt"))
    }
    pub fn write_log(&self, run_id: u64, content: impl AsRef<[u8]>) {
        write_atomically(&self.log_path(run_id), content.as_ref());
    }
    /// Sets a log's modification time (when it "landed").
    pub fn set_mtime(&self, run_id: u64, mtime: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(self.log_path(run_id))
            .unwrap_or_else(|e| panic!("open {run_id}: {e}"))
            .set_modified(mtime)
            .unwrap_or_else(|e| panic!("set mtime {run_id}: {e}"));
    }
    /// A configuration for this repository, with a rate limit high enough
    /// for page walks (tests of the limit set their own), and unterminated
    /// last lines taken as complete at once (the live tests cover waiting
    /// for them).
    pub fn config(&self) -> Config {
        let mut config = Config {
            repository: Some(self.repo()),
            data: self.data(),
            listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            ..Config::default()
        };
        config.rate_limit.requests_per_minute = 1_000_000;
        config.watch.quiet_ms = 0;
        config
    }
}

/// `config` without file events or a periodic reconcile: logs come in through
/// the start-up scan, first requests and the syncs a test makes.
fn quiet(mut config: Config) -> Config {
    config.watch.mode = WatchMode::None;
    config.watch.reconcile_interval_secs = 0;
    config
}

pub fn write_atomically(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("tmp-upload");
    std::fs::write(&tmp, content).unwrap_or_else(|e| panic!("write: {e}"));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename: {e}"));
}

impl TestServer {
    /// Starts the daemon on `config` as `runlogd serve` does, on an
    /// ephemeral loopback port, without file events (only the start-up
    /// scan, first requests and explicit syncs bring logs in), and waits
    /// for the start-up scan to end.
    pub async fn start(config: Config) -> TestServer {
        let mut s = Self::start_serving(quiet(config)).await;
        s.wait_scan().await;
        s
    }

    /// As [`TestServer::start`], with the live watch loop running (started
    /// before the scan, as `runlogd serve` does).
    pub async fn start_watching(config: Config) -> TestServer {
        let mut s = Self::start_serving(config).await;
        s.wait_scan().await;
        s
    }

    /// Starts the daemon exactly as `runlogd serve` does and returns while
    /// its start-up scan may still be running.
    pub async fn start_serving(config: Config) -> TestServer {
        init_tracing();
        let daemon = Daemon::open(&config).unwrap_or_else(|e| panic!("open: {e:#}"));
        Self::start_opened(daemon, config).await
    }

    /// As [`TestServer::start_serving`], for a daemon the test opened itself.
    pub async fn start_opened(daemon: Daemon, config: Config) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let running = daemon
            .start(&config, listener)
            .await
            .unwrap_or_else(|e| panic!("start: {e:#}"));
        TestServer {
            base: format!("http://{}", running.addr),
            repo: running.repository.clone(),
            data: config.data.clone(),
            daemon_parts: running.parts.clone(),
            scan: ScanSummary::default(),
            running: Some(running),
        }
    }

    /// Waits for the start-up scan to end; its summary is then in `scan`.
    pub async fn wait_scan(&mut self) -> ScanSummary {
        let running = self
            .running
            .as_mut()
            .unwrap_or_else(|| panic!("the daemon is stopped"));
        self.scan = running
            .scan_done()
            .await
            .unwrap_or_else(|e| panic!("scan: {e:#}"));
        self.scan.clone()
    }

    /// Stops serving and releases the index, as `runlogd serve` does on
    /// SIGTERM.
    pub async fn stop(mut self) {
        let running = self.running.take();
        drop(self);
        if let Some(running) = running {
            running
                .stop()
                .await
                .unwrap_or_else(|e| panic!("stop: {e:#}"));
        }
    }

    pub fn token(&self, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        runlogd::auth::create_token(&self.daemon_parts.store, &scopes, 7, "test")
            .unwrap_or_else(|e| panic!("token: {e}"))
            .1
    }

    pub fn reader(&self) -> String {
        self.token(&["system:read"])
    }

    /// The bucket sync's state as `/readyz` reports it.
    pub async fn gcs_status(&self) -> Value {
        self.get("/readyz", None).await.body["gcs"].clone()
    }

    /// Waits until `done` holds for the bucket sync's state (at most 30 s).
    pub async fn wait_gcs(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let s = self.gcs_status().await;
            if done(&s) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; gcs state: {s}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits for two more completed sync passes, so one began after now.
    pub async fn wait_full_sync(&self) -> Value {
        let start = self.gcs_status().await["passes"].as_u64().unwrap_or(0);
        self.wait_gcs("a full sync pass", |s| {
            s["passes"].as_u64().unwrap_or(0) >= start + 2
        })
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        get(&format!("{}{path}", self.base), token).await
    }

    /// Follows `next_cursor` from the first page (or from a `cursor=` in
    /// `query`) to the last; returns every line object and the number of pages.
    pub async fn walk(&self, run_id: u64, query: &str, token: &str) -> (Vec<Value>, usize) {
        let mut lines = Vec::new();
        let mut cursor: Option<String> = query
            .split('&')
            .find_map(|p| p.strip_prefix("cursor="))
            .map(str::to_owned);
        let query: String = query
            .split('&')
            .filter(|p| !p.starts_with("cursor="))
            .collect::<Vec<_>>()
            .join("&");
        let mut pages = 0;
        loop {
            let mut url = format!("/api/v1/runs/{run_id}/logs?{query}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let r = self.get(&url, Some(token)).await;
            assert_eq!(r.status, 200, "{url}: {}", r.body);
            pages += 1;
            let data = r.body["data"].as_array().cloned().unwrap_or_default();
            let has_more = r.body["pagination"]["has_more"].as_bool();
            let next = r.body["pagination"]["next_cursor"]
                .as_str()
                .map(str::to_owned);
            assert_eq!(has_more, Some(next.is_some()), "has_more iff next_cursor");
            lines.extend(data);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
            assert!(pages < 100_000, "walk does not end");
        }
        (lines, pages)
    }
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the published error envelope and returns its code.
    pub fn error_code(&self) -> &str {
        let obj = self
            .body
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {}", self.body));
        assert_eq!(
            obj.len(),
            3,
            "envelope has exactly code, message, details: {}",
            self.body
        );
        assert!(obj["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            obj["details"].is_object(),
            "details is an object: {}",
            self.body
        );
        obj["code"].as_str().unwrap_or_default()
    }
}

pub async fn get(url: &str, token: Option<&str>) -> Response {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Response {
        status,
        headers,
        body,
    }
}

/// The messages of the lines in a page of the run-log endpoint (none when
/// the answer has no `data`).
pub fn messages(r: &Response) -> Vec<String> {
    line_messages(r.body["data"].as_array().map(Vec::as_slice).unwrap_or(&[]))
}

/// The messages of line objects.
pub fn line_messages(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l["message"].as_str().map(str::to_owned))
        .collect()
}

/// `n` lines `[INFO] {tag} line {i}`, a log whose every line says where it
/// came from.
pub fn numbered_log(tag: &str, n: usize) -> String {
    (1..=n)
        .map(|i| format!("[INFO] {tag} line {i}\n"))
        .collect()
}

/// The messages served for [`numbered_log`]`(tag, n)`.
pub fn numbered_messages(tag: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("[INFO] {tag} line {i}")).collect()
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The stderr of a spawned `runlogd`, read line by line on a thread so the
/// pipe never fills; kept for failure messages, and searched for the
/// address the daemon bound (tests let it pick a free port itself, with
/// `127.0.0.1:0`, rather than picking one and hoping it stays free).
pub struct DaemonLog {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    rx: std::sync::mpsc::Receiver<String>,
}

impl DaemonLog {
    /// Takes the child's stderr, which must have been piped.
    pub fn capture(child: &mut std::process::Child) -> DaemonLog {
        use std::io::BufRead;
        let stderr = child
            .stderr
            .take()
            .unwrap_or_else(|| panic!("the daemon's stderr is not piped"));
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(mut v) = kept.lock() {
                    v.push(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        DaemonLog { lines, rx }
    }

    /// Everything read so far.
    pub fn text(&self) -> String {
        self.lines.lock().map(|v| v.join("\n")).unwrap_or_default()
    }

    /// Waits (at most 60 s) for the line announcing where the daemon
    /// serves; returns the address and the line as it was written.
    pub fn listening(&self, child: &mut std::process::Child) -> (std::net::SocketAddr, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match self.rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(line) => {
                    if let Some(addr) = listen_field(&line) {
                        let addr = addr
                            .parse()
                            .unwrap_or_else(|e| panic!("listen address {addr:?}: {e}"));
                        return (addr, line);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    panic!(
                        "the daemon exited ({status:?}) before it listened:\n{}",
                        self.text()
                    );
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon never said where it listens:\n{}",
                self.text()
            );
        }
    }
}

/// The `listen` field of the daemon's "runlogd serving" log line, in either
/// log format.
fn listen_field(line: &str) -> Option<String> {
    if !line.contains("runlogd serving") {
        return None;
    }
    if let Ok(json) = serde_json::from_str::<Value>(line) {
        return json["fields"]["listen"].as_str().map(str::to_owned);
    }
    let start = line.find("listen=")? + "listen=".len();
    line[start..].split_whitespace().next().map(str::to_owned)
}

/// The `runlogd` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_runlogd");

/// Waits (at most `within`) until a spawned daemon serving at `base` answers
/// `/readyz` with 200; fails with its log if it exits first.
pub async fn wait_ready(base: &str, child: &mut Child, log: &DaemonLog, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status().as_u16() == 200 {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("daemon exited during start-up ({status}):\n{}", log.text());
        }
        assert!(
            Instant::now() < deadline,
            "daemon not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the tests run as root (the effective uid, as `id -u` prints it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port that was free a moment ago, for a process that cannot be handed a
/// listening socket nor report the port it picked; another process may take
/// it in between, so callers retry with another.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

/// The process-wide tracing subscriber, installed by whichever test comes
/// first: RUST_LOG=debug shows the daemons' own logs in a failing test's
/// output.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// `GET {base}/metrics`, which must answer 200; the exposition text.
pub async fn scrape(base: &str) -> String {
    let resp = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    assert_eq!(resp.status().as_u16(), 200);
    resp.text()
        .await
        .unwrap_or_else(|e| panic!("body of /metrics: {e}"))
}

/// The value of one series (name and labels exactly as exported) in
/// Prometheus exposition text.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Runs the calling test alone, in a process of its own, and says whether
/// this is that process.
///
/// For the tests that read the metrics: the recorder is one per process, and
/// every daemon in the process counts into the same series (requests by
/// route, rejections by reason, file events, reconcile repairs, sync
/// failures) and sets the same gauges when scraped. With every test sharing
/// this binary's process, other tests' daemons would add to what such a test
/// counts (letting it pass on another daemon's work) or overwrite a gauge
/// between its setting and its reading. So the test starts this binary again
/// with only itself selected (`--exact`), and in that process it has the
/// recorder to itself, as when each file of tests was a binary of its own.
///
/// In the suite's process: runs the child, forwards its output, fails if the
/// test failed or did not run there, and returns `false` (the caller returns
/// at once). In the child: returns `true` (the caller goes on and asserts).
/// `module` is the caller's `module_path!()`, `test` its function name.
pub fn own_process(module: &str, test: &str) -> bool {
    const SELECTED: &str = "RUNLOGD_TEST_OWN_PROCESS";
    // `integration::ops` for a test named `ops::the_test`.
    let module = module.split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::{test}");
    if std::env::var_os(SELECTED).is_some_and(|v| v == name.as_str()) {
        return true;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let out = Command::new(exe)
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(SELECTED, &name)
        .output()
        .unwrap_or_else(|e| panic!("running {name} in its own process: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Kept by the test harness, shown if this test fails.
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "{name} failed in its own process ({})",
        out.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name} did not run in its own process"
    );
    false
}

/// Sets a file's or folder's permission bits.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The token `runlogd token create` printed: alone, on the last line of its
/// stdout.
pub fn printed_token(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// A program: the path in `env` if set, else the first of `candidates`
/// that exists (an absolute path as it is, a name on `PATH`).
pub fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        let direct = PathBuf::from(name);
        if direct.is_absolute() {
            if direct.is_file() {
                return Some(direct);
            }
            continue;
        }
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Installs Debian `packages` with apt-get, for the tests that need a
/// program from them (`what_for`), so that `cargo test` works on a fresh
/// machine of the kind the project runs on (Debian, as root, with the
/// package registry reachable). Elsewhere it does nothing, and the test says
/// what to install. `.ci/run` installs them beforehand.
pub fn apt_install(what_for: &str, packages: &[&str]) {
    if !is_root() || find_binary("APT_GET", &["apt-get"]).is_none() {
        return;
    }
    // Straight to stderr, past the test harness's capture.
    let _ = writeln!(
        std::io::stderr(),
        "installing Debian's {} for {what_for} (apt-get)",
        packages.join(" and ")
    );
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut install = vec!["install", "-y", "-qq"];
    install.extend_from_slice(packages);
    if !(apt(&["update", "-qq"]) && apt(&install)) {
        let _ = writeln!(std::io::stderr(), "apt-get could not install them");
    }
}
