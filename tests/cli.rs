//! The real `runlogd` binary: token commands, `serve` configured by flags,
//! environment and file, the bundled example repository, and a clean exit on
//! SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{get, Dirs};

const BIN: &str = env!("CARGO_BIN_EXE_runlogd");

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
    stdout(&o).lines().last().unwrap_or_default().to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("port: {e}"))
}

struct Daemon {
    child: Child,
    base: String,
}

impl Daemon {
    fn spawn(cmd: &mut Command, port: u16) -> Daemon {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        Daemon {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/readyz", self.base)).await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.take() {
                    for line in BufReader::new(e).lines().map_while(Result::ok) {
                        err.push_str(&line);
                        err.push('\n');
                    }
                }
                panic!("daemon exited early ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "daemon not ready in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()));
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
fn index_command_backfills_once_and_then_finds_nothing_to_do() {
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
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUNLOGD_REPOSITORY", dirs.repo())
        .env("RUNLOGD_DATA", dirs.data())
        .env("RUNLOGD_LISTEN", "127.0.0.1:1") // the flag wins over the environment
        .env_remove("RUNLOGD_CONFIG");
    let mut daemon = Daemon::spawn(&mut cmd, port);
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
    let port = free_port();
    let config = dirs.root.path().join("runlogd.toml");
    std::fs::write(
        &config,
        format!(
            "repository = {:?}\ndata = {:?}\nlisten = \"127.0.0.1:{port}\"\nlog_format = \"json\"\n[rate_limit]\nrequests_per_minute = 7\n",
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
        .env_remove("RUNLOGD_LISTEN");
    let mut daemon = Daemon::spawn(&mut cmd, port);
    daemon.wait_ready().await;
    let r = get(&format!("{}/api/v1/runs/3/logs", daemon.base), Some(&token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-limit"), Some("7"));
    assert_eq!(daemon.terminate().code(), Some(0));

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
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUNLOGD_DATA", dirs.data())
        .env_remove("RUNLOGD_REPOSITORY")
        .env_remove("RUNLOGD_CONFIG");
    let mut daemon = Daemon::spawn(&mut cmd, port);
    daemon.wait_ready().await;
    let ready = get(&format!("{}/readyz", daemon.base), None).await;
    assert_eq!(ready.body["runs"], runlogd::example::FILES.len() as u64 - 1);
    for (name, content) in runlogd::example::FILES {
        let Some(id) = runlogd::ingest::run_id_from_file_name(name) else {
            continue;
        };
        let (lines, _) = walk_all(&daemon.base, id, &token).await;
        let expected = content.iter().filter(|&&b| b == b'\n').count()
            + usize::from(content.last().is_some_and(|&b| b != b'\n'));
        assert_eq!(lines, expected, "{name}");
    }
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
    let emulator = common::gcs::Emulator::start(&dirs.root.path().join("gcs"), "cli-bucket").await;
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
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
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
    let mut daemon = Daemon::spawn(&mut cmd, port);
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
