//! The real `runlogd` binary: token commands, `serve` configured by flags,
//! environment and file, the bundled example repository, and a clean exit on
//! SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{chmod, get, printed_token, wait_ready, DaemonLog, Dirs, BIN};

fn runlogd(args: &[&str], data: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUNLOGD_DATA", data)
        .env_remove("RUNLOGD_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("run runlogd: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn create_token(data: &Path, scopes: &str) -> String {
    let o = runlogd(
        &["token", "create", "--scopes", scopes, "--name", "ci"],
        data,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    printed_token(&o)
}

struct Daemon {
    child: Child,
    log: DaemonLog,
    base: String,
    /// The log line that announced the address, as written.
    listening_line: String,
}

impl Daemon {
    /// Starts the daemon (which must be told to listen on port 0 or a
    /// fixed address) and waits until it says where it listens.
    fn spawn(cmd: &mut Command) -> Daemon {
        let mut child = cmd
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        let log = DaemonLog::capture(&mut child);
        let (addr, listening_line) = log.listening(&mut child);
        Daemon {
            child,
            log,
            base: format!("http://{addr}"),
            listening_line,
        }
    }

    fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {}", self.base))
    }

    async fn wait_ready(&mut self) {
        wait_ready(
            &self.base,
            &mut self.child,
            &self.log,
            Duration::from_secs(60),
        )
        .await;
    }

    fn terminate(self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()));
        self.terminate_wait()
    }

    /// Waits for the exit that a SIGTERM already sent must bring.
    fn terminate_wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn token_commands_create_list_and_revoke() {
    let dirs = Dirs::new();
    let data = dirs.data();
    let o = runlogd(
        &[
            "token",
            "create",
            "--scopes",
            "system:read,runs:read",
            "--days",
            "3",
            "--name",
            "nightly",
        ],
        &data,
    );
    assert!(o.status.success());
    let out = stdout(&o);
    let token = out.lines().last().unwrap_or_default();
    assert!(token.starts_with("spci_") && token.len() >= 48, "{out}");
    assert_eq!(out.matches(token).count(), 1, "printed once");

    let list = stdout(&runlogd(&["token", "list"], &data));
    assert!(
        list.contains("nightly") && list.contains("system:read,runs:read"),
        "{list}"
    );
    assert!(list.contains("active"));
    assert!(!list.contains(token), "list never shows the token");

    let o = runlogd(&["token", "revoke", "1"], &data);
    assert!(o.status.success());
    assert!(stdout(&runlogd(&["token", "list"], &data)).contains("revoked"));
    assert!(!runlogd(&["token", "revoke", "99"], &data).status.success());

    for bad in [
        vec!["token", "create", "--scopes", "root"],
        vec!["token", "create", "--scopes", "system:read", "--days", "31"],
        vec!["token", "create", "--scopes", "system:read", "--days", "0"],
    ] {
        let o = runlogd(&bad, &data);
        assert!(!o.status.success(), "{bad:?}");
        assert!(!String::from_utf8_lossy(&o.stderr).is_empty());
    }
}

#[test]
fn index_command_indexes_once_and_then_finds_nothing_to_do() {
    let dirs = Dirs::new();
    dirs.write_log(1, "[INFO] a\n[ERROR] b\n");
    dirs.write_log(2, "only line\n");
    let index = |data: &Path| {
        Command::new(BIN)
            .arg("index")
            .env("RUNLOGD_REPOSITORY", dirs.repo())
            .env("RUNLOGD_DATA", data)
            .env_remove("RUNLOGD_CONFIG")
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let o = index(&dirs.data());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("indexed 2 runs"), "{}", stdout(&o));
    assert!(stdout(&o).contains("3 lines"), "{}", stdout(&o));
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("index complete") && !log.contains('\u{1b}'),
        "plain log lines off a terminal: {log}"
    );
    let o = index(&dirs.data());
    assert!(
        stdout(&o).contains("indexed 0 runs") && stdout(&o).contains("2 unchanged"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test]
async fn serve_from_env_and_flags_answers_and_exits_cleanly_on_sigterm() {
    let dirs = Dirs::new();
    dirs.write_log(
        12,
        "[INFO] Test suite version: 1.0.3.0\n[ERROR] Path is empty\n",
    );
    let token = create_token(&dirs.data(), "system:read");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env("RUNLOGD_LISTEN", "127.0.0.1:1") // the flag wins over the environment
        .env_remove("RUNLOGD_CONFIG");
    let mut daemon = Daemon::spawn(&mut cmd);
    assert_ne!(
        daemon.port(),
        1,
        "the --listen flag wins over RUNLOGD_LISTEN"
    );
    daemon.wait_ready().await;
    let r = get(
        &format!("{}/api/v1/runs/12/logs?level=error", daemon.base),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["message"], "[ERROR] Path is empty");
    assert_eq!(r.body["data"][0]["line"], 2);
    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn config_file_sets_what_flags_and_env_do_not() {
    let dirs = Dirs::new();
    dirs.write_log(3, "hello\n");
    let config = dirs.root.path().join("runlogd.toml");
    std::fs::write(
        &config,
        format!(
            "repository = {:?}\ndata = {:?}\nlisten = \"127.0.0.1:0\"\nlog_format = \"json\"\n[rate_limit]\nrequests_per_minute = 7\n",
            dirs.repo(),
            dirs.data()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let token = create_token(&dirs.data(), "system:read");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUNLOGD_REPOSITORY")
        .env_remove("RUNLOGD_DATA")
        .env_remove("RUNLOGD_LISTEN")
        .env_remove("RUNLOGD_LOG_FORMAT");
    let mut daemon = Daemon::spawn(&mut cmd);
    // `log_format = "json"`: one JSON object a line, fields included.
    let line: serde_json::Value = serde_json::from_str(&daemon.listening_line)
        .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {}", daemon.listening_line));
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(
        line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("runlogd serving")),
        "{line}"
    );
    assert_eq!(
        line["fields"]["listen"].as_str(),
        daemon.base.strip_prefix("http://"),
        "{line}"
    );
    daemon.wait_ready().await;
    let r = get(&format!("{}/api/v1/runs/3/logs", daemon.base), Some(&token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-limit"), Some("7"));
    let log = daemon.log.text();
    assert_eq!(daemon.terminate().code(), Some(0));
    for l in log.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(l);
        assert!(
            parsed.is_ok_and(|v| v["timestamp"].is_string() && v["fields"].is_object()),
            "every log line is a JSON object: {l}"
        );
    }

    let bad = dirs.root.path().join("bad.toml");
    std::fs::write(&bad, "listen_on = 5\n").unwrap_or_else(|e| panic!("{e}"));
    let o = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("listen_on"));
}

#[tokio::test]
async fn with_no_repository_the_bundled_examples_are_served() {
    let dirs = Dirs::new();
    let token = create_token(&dirs.data(), "system:read");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_REPOSITORY")
        .env_remove("RUNLOGD_CONFIG");
    let mut daemon = Daemon::spawn(&mut cmd);
    daemon.wait_ready().await;
    // The README's five example runs, 9401-9405, counted from the files in
    // the source tree.
    let ready = get(&format!("{}/readyz", daemon.base), None).await;
    assert_eq!(ready.body["runs"], 5, "{}", ready.body);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/repository/LogFiles");
    for id in 9401..=9405u64 {
        let content = std::fs::read(examples.join(format!("{id}.txt")))
            .unwrap_or_else(|e| panic!("example {id}: {e}"));
        let (lines, _) = walk_all(&daemon.base, id, &token).await;
        let expected = content.iter().filter(|&&b| b == b'\n').count()
            + usize::from(content.last().is_some_and(|&b| b != b'\n'));
        assert!(expected > 0, "example {id} is not empty");
        assert_eq!(lines, expected, "run {id}");
    }
    let r = get(
        &format!("{}/api/v1/runs/9400/logs", daemon.base),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 404, "only the five runs: {}", r.body);
    assert_eq!(daemon.terminate().code(), Some(0));
}

async fn walk_all(base: &str, run: u64, token: &str) -> (usize, usize) {
    let mut count = 0;
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let r = get(
            &format!("{base}/api/v1/runs/{run}/logs?cursor={cursor}"),
            Some(token),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        count += r.body["data"].as_array().map(Vec::len).unwrap_or(0);
        match r.body["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return (count, pages),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_the_bucket_from_flags_env_and_the_emulator_host() {
    let dirs = Dirs::new();
    let emulator =
        crate::common::gcs::Emulator::start(&dirs.root.path().join("gcs"), "cli-bucket").await;
    emulator
        .put_log(77, "[INFO] from the bucket\n[ERROR] bucket error\n")
        .await;
    let token = create_token(&dirs.data(), "system:read");

    // A bucket without credentials is refused before anything starts.
    let o = Command::new(BIN)
        .args(["serve", "--gcs-bucket", "cli-bucket"])
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG")
        .env_remove("RUNLOGD_GCS_CREDENTIALS")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("gcs.credentials"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // STORAGE_EMULATOR_HOST as Google's clients read it: host:port.
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--gcs-bucket", "cli-bucket"])
        .env("RUNLOGD_GCS_CREDENTIALS", "anonymous")
        .env(
            "STORAGE_EMULATOR_HOST",
            format!("127.0.0.1:{}", emulator.port),
        )
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG")
        .env_remove("RUNLOGD_GCS_ENDPOINT");
    let mut daemon = Daemon::spawn(&mut cmd);
    daemon.wait_ready().await;
    let r = get(
        &format!("{}/api/v1/runs/77/logs?level=error", daemon.base),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["message"], "[ERROR] bucket error");
    let missing = get(
        &format!("{}/api/v1/runs/78/logs", daemon.base),
        Some(&token),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body["details"]["checked"],
        serde_json::json!(["local", "gcs"])
    );
    assert_eq!(daemon.terminate().code(), Some(0));
}

/// A loopback stand-in for a bucket holding `LogFiles/55.txt` = `body`,
/// whose download of that object is held open until `release` is notified;
/// `got_get` is notified when the download has begun. Listing and anything
/// else answer 503. The daemon under test is the real binary.
async fn held_bucket(
    body: &'static str,
) -> (
    String,
    std::sync::Arc<tokio::sync::Notify>,
    std::sync::Arc<tokio::sync::Notify>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let got_get = std::sync::Arc::new(tokio::sync::Notify::new());
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let (got, rel) = (got_get.clone(), release.clone());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (got, rel) = (got.clone(), rel.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let meta = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\
                     ETag: \"0123456789abcdef0123456789abcdef\"\r\n\
                     Last-Modified: Sun, 29 Nov 2026 05:00:00 GMT\r\n\
                     x-goog-generation: 1\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let ours = line.contains("LogFiles") && line.contains("55");
                if line.starts_with("HEAD ") && ours {
                    let _ = conn.write_all(meta.as_bytes()).await;
                } else if line.starts_with("GET ") && ours {
                    got.notify_one();
                    rel.notified().await;
                    let _ = conn.write_all(meta.as_bytes()).await;
                    let _ = conn.write_all(body.as_bytes()).await;
                } else {
                    let _ = conn
                        .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), got_get, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_cleanly() {
    let dirs = Dirs::new();
    let body = "[INFO] fetched while stopping\n[ERROR] still answered\n";
    let (endpoint, got_get, release) = held_bucket(body).await;
    let token = create_token(&dirs.data(), "system:read");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--gcs-bucket", "held", "--gcs-credentials", "anonymous"])
        .args(["--gcs-endpoint", &endpoint])
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG");
    let mut daemon = Daemon::spawn(&mut cmd);
    daemon.wait_ready().await;

    // A first request for a run only in the bucket: it waits on the download.
    let url = format!("{}/api/v1/runs/55/logs", daemon.base);
    let request = tokio::spawn({
        let token = token.clone();
        async move { get(&url, Some(&token)).await }
    });
    tokio::time::timeout(Duration::from_secs(60), got_get.notified())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the request never reached the bucket: {}",
                daemon.log.text()
            )
        });
    let pid = daemon.child.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(signalled.is_ok_and(|s| s.success()));
    // The signal has been delivered while the request is in flight (the
    // daemon logs it); only then does the download go on.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !daemon.log.text().contains("SIGTERM received") {
        assert!(
            Instant::now() < deadline,
            "no SIGTERM in the log: {}",
            daemon.log.text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    release.notify_one();
    let r = request
        .await
        .unwrap_or_else(|e| panic!("the request in flight failed: {e}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let messages: Vec<&str> = r.body["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|l| l["message"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        messages,
        ["[INFO] fetched while stopping", "[ERROR] still answered"]
    );
    let log = daemon.log.text();
    assert_eq!(daemon.terminate_wait().code(), Some(0), "{log}");
}

/// `key=value` of the daemon's "start-up scan done" log line.
fn scan_summary(log: &str, key: &str) -> Option<u64> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("start-up scan done"))?;
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    line[start..].split_whitespace().next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_start_up_scan_keeps_what_it_committed() {
    // The scan commits every 2 s: enough logs (about 115 MB) that it is
    // still running after its first commit, however fast the machine.
    const RUNS: u64 = 300;
    const LINES: u64 = 8_000;
    let dirs = Dirs::new();
    for run in 1..=RUNS {
        let content: String = (1..=LINES)
            .map(|i| {
                format!(
                    "[INFO] run {run} line {i} {}\n",
                    "x".repeat((i % 50) as usize)
                )
            })
            .collect();
        dirs.write_log(run, content);
    }
    let serve = || {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUNLOGD_REPOSITORY", dirs.repo())
            .env("RUNLOGD_DATA", dirs.data())
            .env_remove("RUNLOGD_CONFIG");
        Daemon::spawn(&mut cmd)
    };

    // Signal once the scan has committed some runs but is not done.
    let daemon = serve();
    let deadline = Instant::now() + Duration::from_secs(120);
    let committed = loop {
        let r = get(&format!("{}/readyz", daemon.base), None).await;
        assert_ne!(
            r.status, 200,
            "the scan ended before it could be interrupted: {}",
            r.body
        );
        let runs = r.body["runs"].as_u64().unwrap_or(0);
        if runs > 0 {
            break runs;
        }
        assert!(Instant::now() < deadline, "nothing committed: {}", r.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let log = daemon.log.text();
    assert_eq!(daemon.terminate().code(), Some(0), "{log}");

    // The next start keeps what was committed and indexes the rest.
    let mut daemon = serve();
    daemon.wait_ready().await;
    let log = daemon.log.text();
    let unchanged =
        scan_summary(&log, "unchanged").unwrap_or_else(|| panic!("no scan summary: {log}"));
    let indexed = scan_summary(&log, "indexed").unwrap_or_else(|| panic!("no scan summary: {log}"));
    println!("SIGTERM after {committed} of {RUNS} runs were committed; the next start kept {unchanged} and indexed {indexed}");
    assert!(unchanged >= committed, "committed runs are kept: {log}");
    assert!(indexed > 0, "the first scan was cut short: {log}");
    assert_eq!(unchanged + indexed, RUNS, "{log}");
    let ready = get(&format!("{}/readyz", daemon.base), None).await;
    assert_eq!(ready.body["runs"], RUNS, "{}", ready.body);
    assert_eq!(ready.body["lines"], RUNS * LINES, "{}", ready.body);
    let token = create_token(&dirs.data(), "system:read");
    // The last run, indexed after the signal (80 pages: within the
    // default rate limit).
    let (lines, _) = walk_all(&daemon.base, RUNS, &token).await;
    assert_eq!(lines as u64, LINES, "run {RUNS}");
    assert_eq!(daemon.terminate().code(), Some(0));
}

// Issue 17, finding 6: the data directory holds token hashes and the cursor
// key, so it must be private however the daemon is started. The usual login
// umask (022) is forced on each command, so these tests say the same thing
// whatever the test runner's own umask is.

/// `runlogd` run through `sh` with umask 022.
fn under_umask_022() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 022; exec \"$0\" \"$@\"", BIN]);
    cmd
}

/// Every entry under `dir` (not following symbolic links), with its
/// permission bits and whether it is a directory.
fn entries(dir: &Path) -> Vec<(std::path::PathBuf, u32, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let listing = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in listing {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let meta = std::fs::symlink_metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if meta.is_dir() {
                todo.push(path.clone());
            }
            found.push((path, meta.permissions().mode() & 0o7777, meta.is_dir()));
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The data directory is 0700, every directory in it 0700 and every file
/// 0600; `expected` (relative to it) must be among them.
fn assert_private(data: &Path, expected: &[&str]) {
    let mut all = entries(data);
    for name in expected {
        assert!(
            all.iter().any(|(p, _, _)| *p == data.join(name)),
            "{name} is missing from {}: {all:?}",
            data.display()
        );
    }
    all.push((data.to_path_buf(), mode(data), true));
    let open: Vec<String> = all
        .iter()
        .filter(|(_, m, dir)| *m != if *dir { 0o700 } else { 0o600 })
        .map(|(p, m, _)| format!("{} {m:04o}", p.display()))
        .collect();
    assert!(open.is_empty(), "not private: {open:#?}");
}

#[tokio::test]
async fn serve_under_umask_022_keeps_the_data_directory_private() {
    let dirs = Dirs::new();
    dirs.write_log(21, "[INFO] one\n[ERROR] two\n");
    let mut cmd = under_umask_022();
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG");
    let mut daemon = Daemon::spawn(&mut cmd);
    daemon.wait_ready().await;
    // While it serves: the write-ahead log and shared memory exist then.
    assert_private(
        &dirs.data(),
        &[
            "state.sqlite3",
            "state.sqlite3-wal",
            "state.sqlite3-shm",
            "index",
            "index/meta.json",
        ],
    );
    assert_eq!(daemon.terminate().code(), Some(0));
    assert_private(&dirs.data(), &["state.sqlite3", "index/meta.json"]);
}

#[tokio::test]
async fn an_open_data_directory_is_made_private_at_start_and_said_once() {
    let dirs = Dirs::new();
    dirs.write_log(22, "[INFO] one\n");
    let o = Command::new(BIN)
        .arg("index")
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // What an earlier runlogd left under umask 022.
    for (path, _, dir) in entries(&dirs.data()) {
        chmod(&path, if dir { 0o755 } else { 0o644 });
    }
    chmod(&dirs.data(), 0o755);
    assert_eq!(mode(&dirs.data().join("state.sqlite3")), 0o644);

    let serve = || {
        let mut cmd = under_umask_022();
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUNLOGD_REPOSITORY", dirs.repo())
            .env("RUNLOGD_DATA", dirs.data())
            .env_remove("RUNLOGD_CONFIG");
        Daemon::spawn(&mut cmd)
    };
    let warnings = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains("permissions"))
            .map(str::to_owned)
            .collect()
    };
    let mut daemon = serve();
    daemon.wait_ready().await;
    assert_private(&dirs.data(), &["state.sqlite3", "index/meta.json"]);
    let log = daemon.log.text();
    let said = warnings(&log);
    assert_eq!(said.len(), 1, "one warning: {log}");
    assert!(
        said[0].contains("state.sqlite3") && said[0].contains("0644"),
        "it says what changed: {}",
        said[0]
    );
    assert_eq!(daemon.terminate().code(), Some(0));

    // Private already: nothing to say the next time.
    let mut daemon = serve();
    daemon.wait_ready().await;
    let log = daemon.log.text();
    assert!(warnings(&log).is_empty(), "{log}");
    assert_eq!(daemon.terminate().code(), Some(0));
}

#[test]
fn token_create_under_umask_022_keeps_the_data_directory_private() {
    let dirs = Dirs::new();
    let o = under_umask_022()
        .args(["token", "create", "--scopes", "system:read"])
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_private(&dirs.data(), &["state.sqlite3"]);
}

// Issue 17, finding 10: a supervisor (or an operator) that starts runlogd
// again right after `kill -9` must not see it give up on the index lock the
// dying process still holds.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_right_after_sigkill_serves() {
    let dirs = Dirs::new();
    dirs.write_log(23, "[INFO] before\n[ERROR] after the kill\n");
    let token = create_token(&dirs.data(), "system:read");
    let serve = || {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUNLOGD_REPOSITORY", dirs.repo())
            .env("RUNLOGD_DATA", dirs.data())
            .env_remove("RUNLOGD_CONFIG");
        Daemon::spawn(&mut cmd)
    };
    let mut daemon = serve();
    daemon.wait_ready().await;
    for round in 0..5 {
        // SIGKILL, and start again at once: no wait for the old process.
        daemon
            .child
            .kill()
            .unwrap_or_else(|e| panic!("SIGKILL: {e}"));
        let old = daemon;
        daemon = serve();
        drop(old);
        daemon.wait_ready().await;
        let r = get(
            &format!("{}/api/v1/runs/23/logs?level=error", daemon.base),
            Some(&token),
        )
        .await;
        assert_eq!(r.status, 200, "round {round}: {}", r.body);
        assert_eq!(r.body["data"][0]["message"], "[ERROR] after the kill");
    }
    assert_eq!(daemon.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_directory_gives_up_saying_why() {
    let dirs = Dirs::new();
    dirs.write_log(24, "[INFO] one\n");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG");
    let mut first = Daemon::spawn(&mut cmd);
    first.wait_ready().await;
    // The lock is never released: the second waits its while, then stops.
    let started = Instant::now();
    let o = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let waited = started.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("waiting for it")
            && err.contains("another runlogd may be using the data directory"),
        "says it waits, then why it gave up: {err}"
    );
    assert!(
        waited >= runlogd::index::WRITER_LOCK_WAIT && waited < Duration::from_secs(30),
        "waited {waited:?}"
    );
    assert_eq!(first.terminate().code(), Some(0));
}
