//! Odd and hostile entries in `LogFiles/`: a FIFO, a symbolic link out of the
//! folder, a directory, a link loop, a file the daemon may not read, and
//! files whose content is hostile (binary, one giant line, UTF-16). Real
//! files and real file-system events throughout; the unreadable-file test
//! runs the real binary as an unprivileged user when the tests run as root
//! (root reads any file, so the finding cannot be shown as root).

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{chmod, enc, get, is_root, printed_token, DaemonLog, Dirs, TestServer, BIN};
use serde_json::Value;

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("mkfifo: {e}"));
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A scan that waits on an entry would never end: bounded, it fails.
async fn start_bounded(config: runlogd::config::Config, watching: bool) -> TestServer {
    let start = async {
        if watching {
            TestServer::start_watching(config).await
        } else {
            TestServer::start(config).await
        }
    };
    tokio::time::timeout(Duration::from_secs(30), start)
        .await
        .unwrap_or_else(|_| panic!("the start-up scan did not end: an entry blocked it"))
}

/// The run ids the listing shows (what is indexed, without asking for any
/// run, which would index it on demand).
async fn listed(s: &TestServer, token: &str) -> Vec<u64> {
    let r = s.get("/api/v1/logs?limit=100", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["run_id"].as_u64()).collect())
        .unwrap_or_default()
}

async fn wait_listed(s: &TestServer, token: &str, run_id: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed(s, token).await.contains(&run_id) {
        assert!(
            Instant::now() < deadline,
            "run {run_id} was not indexed from its file event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The entries `/readyz` lists under `reason`.
fn skipped(readyz: &Value, reason: &str) -> Vec<String> {
    readyz["skipped"][reason]["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn names(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

/// A request for the run answers the refusal's envelope, on both endpoints.
async fn assert_refused(s: &TestServer, token: &str, run_id: u64, reason: &str) {
    for path in [
        format!("/api/v1/runs/{run_id}/logs"),
        format!("/api/v1/runs/{run_id}/logs/raw"),
    ] {
        let r = s.get(&path, Some(token)).await;
        assert_eq!(r.status, 409, "{path}: {}", r.body);
        assert_eq!(r.error_code(), "log_unreadable", "{path}");
        assert_eq!(r.body["details"]["reason"], reason, "{path}");
        assert_eq!(r.body["details"]["run_id"], run_id, "{path}");
    }
}

#[tokio::test]
async fn a_fifo_stalls_neither_the_scan_nor_the_watcher() {
    let dirs = Dirs::new();
    dirs.write_log(1, "[INFO] before the fifo\n");
    mkfifo(&dirs.log_path(2));
    let s = start_bounded(dirs.config(), true).await;
    let token = s.reader();

    let ready = s.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(
        names(&skipped(&ready.body, "not_regular_file")),
        vec!["2.txt"]
    );
    assert_eq!(s.get("/api/v1/runs/1/logs", Some(&token)).await.status, 200);
    assert_refused(&s, &token, 2, "not_regular_file").await;

    // One created while serving must not block the watcher: a log landing
    // after it is still indexed from its event.
    mkfifo(&dirs.log_path(3));
    tokio::time::sleep(Duration::from_millis(300)).await;
    dirs.write_log(4, "[INFO] landed after the fifo\n");
    wait_listed(&s, &token, 4).await;
    let ready = s.get("/readyz", None).await;
    assert_eq!(
        names(&skipped(&ready.body, "not_regular_file")),
        vec!["2.txt", "3.txt"]
    );
    assert_refused(&s, &token, 3, "not_regular_file").await;

    // Gone, it is no longer listed.
    std::fs::remove_file(dirs.log_path(2)).unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = s.get("/readyz", None).await;
        if names(&skipped(&ready.body, "not_regular_file")) == vec!["3.txt"] {
            break;
        }
        assert!(Instant::now() < deadline, "{}", ready.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn a_symlink_out_of_the_folder_is_never_read() {
    let dirs = Dirs::new();
    let secret = dirs.root.path().join("secret.txt");
    std::fs::write(&secret, "root:TOPSECRETHASH:19000:0:99999:7:::\n")
        .unwrap_or_else(|e| panic!("{e}"));
    dirs.write_log(1, "[INFO] an ordinary log\n");
    symlink(&secret, dirs.log_path(5)).unwrap_or_else(|e| panic!("{e}"));
    // A link that stays inside the folder is a log like any other.
    symlink("1.txt", dirs.log_path(6)).unwrap_or_else(|e| panic!("{e}"));
    let s = start_bounded(dirs.config(), true).await;
    let token = s.reader();

    let ready = s.get("/readyz", None).await;
    assert_eq!(
        names(&skipped(&ready.body, "outside_log_files")),
        vec!["5.txt"]
    );
    assert_refused(&s, &token, 5, "outside_log_files").await;
    let six = s.get("/api/v1/runs/6/logs", Some(&token)).await;
    assert_eq!(six.status, 200, "{}", six.body);
    assert_eq!(six.body["data"][0]["message"], "[INFO] an ordinary log");

    // Created while serving, and a log replaced by such a link.
    dirs.write_log(9, "[INFO] soon replaced by a link\n");
    wait_listed(&s, &token, 9).await;
    symlink(&secret, dirs.log_path(7)).unwrap_or_else(|e| panic!("{e}"));
    let tmp = dirs.log_path(9).with_extension("link");
    symlink(&secret, &tmp).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(&tmp, dirs.log_path(9)).unwrap_or_else(|e| panic!("{e}"));
    dirs.write_log(8, "[INFO] landed after the links\n");
    wait_listed(&s, &token, 8).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(&s, &token).await.contains(&9) {
        assert!(Instant::now() < deadline, "run 9 still indexed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runs = listed(&s, &token).await;
    assert!(!runs.contains(&5) && !runs.contains(&7), "{runs:?}");
    assert_refused(&s, &token, 7, "outside_log_files").await;
    assert_refused(&s, &token, 9, "outside_log_files").await;
    let found = s
        .get(
            &format!("/api/v1/logs/search?contains={}", enc("TOPSECRET")),
            Some(&token),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["data"], serde_json::json!([]), "{}", found.body);
    s.stop().await;
}

#[tokio::test]
async fn a_directory_or_a_link_loop_stops_neither_the_scan_nor_a_batch() {
    let dirs = Dirs::new();
    dirs.write_log(1, "[INFO] one\n");
    std::fs::create_dir(dirs.log_path(7)).unwrap_or_else(|e| panic!("{e}"));
    symlink("8.txt", dirs.log_path(8)).unwrap_or_else(|e| panic!("{e}"));
    dirs.write_log(10, "[INFO] ten\n");
    let s = start_bounded(dirs.config(), true).await;
    let token = s.reader();
    assert_eq!(s.scan.indexed, 2, "{:?}", s.scan);
    assert_eq!(s.scan.skipped, 2, "{:?}", s.scan);
    let ready = s.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(
        names(&skipped(&ready.body, "not_regular_file")),
        vec!["7.txt"]
    );
    assert_eq!(names(&skipped(&ready.body, "unreadable")), vec!["8.txt"]);
    assert_eq!(listed(&s, &token).await, vec![10, 1]);
    assert_refused(&s, &token, 7, "not_regular_file").await;
    assert_refused(&s, &token, 8, "unreadable").await;

    // One burst of events: a loop beside a good log. The good one is
    // indexed from its event.
    symlink("11.txt", dirs.log_path(11)).unwrap_or_else(|e| panic!("{e}"));
    dirs.write_log(12, "[INFO] twelve\n");
    wait_listed(&s, &token, 12).await;
    s.stop().await;
}

/// The binary, as an unprivileged user when the tests run as root.
fn unprivileged(bin: &str) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            bin,
        ]);
        c
    } else {
        Command::new(bin)
    }
}

fn chown_tree(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(path)
            .status()
            .unwrap_or_else(|e| panic!("chown: {e}"));
        assert!(status.success());
    }
}

#[tokio::test]
async fn an_unreadable_file_or_folder_as_an_unprivileged_daemon() {
    let dirs = Dirs::new();
    chmod(dirs.root.path(), 0o755);
    // A copy the unprivileged user can reach: the build's own folder may
    // sit in a directory only root may enter (a CI clone under `mktemp -d`).
    let bin = dirs.root.path().join("runlogd");
    std::fs::copy(BIN, &bin).unwrap_or_else(|e| panic!("{e}"));
    chmod(&bin, 0o755);
    let bin = bin.to_string_lossy().into_owned();
    let bin = bin.as_str();
    dirs.write_log(1, "[INFO] readable\n");
    dirs.write_log(2, "[INFO] not for this daemon\n");
    let config = dirs.root.path().join("runlogd.toml");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nrepository = {:?}\nlisten = \"127.0.0.1:0\"\n[watch]\nreconcile_interval_secs = 1\n",
            dirs.data(),
            dirs.repo()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    chown_tree(dirs.root.path());
    chmod(&dirs.log_path(2), 0o000);
    let log_dir = dirs.repo().join("LogFiles");
    // The whole folder unreadable at start: the scan cannot list it.
    chmod(&log_dir, 0o000);

    let token = unprivileged(bin)
        .args(["token", "create", "--scopes", "system:read", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("token create: {e}"));
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = printed_token(&token);
    let mut child = unprivileged(bin)
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let log = DaemonLog::capture(&mut child);
    let (addr, _) = log.listening(&mut child);
    let base = format!("http://{addr}");
    let kill = scopeguard(child);

    // Not ready while the folder cannot be read...
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = get(&format!("{base}/readyz"), None).await;
    assert_eq!(r.status, 503, "{}\n{}", r.body, log.text());
    // ...and ready by itself once it can, without a restart.
    chmod(&log_dir, 0o755);
    let deadline = Instant::now() + Duration::from_secs(15);
    let ready = loop {
        let r = get(&format!("{base}/readyz"), None).await;
        if r.status == 200 {
            break r;
        }
        assert!(Instant::now() < deadline, "{}\n{}", r.body, log.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(names(&skipped(&ready.body, "unreadable")), vec!["2.txt"]);
    assert_eq!(ready.body["runs"], 1, "{}", ready.body);
    let one = get(&format!("{base}/api/v1/runs/1/logs"), Some(&token)).await;
    assert_eq!(one.status, 200, "{}", one.body);
    for path in ["logs", "logs/raw"] {
        let two = get(&format!("{base}/api/v1/runs/2/{path}"), Some(&token)).await;
        assert_eq!(two.status, 409, "{}", two.body);
        assert_eq!(two.body["code"], "log_unreadable");
        assert_eq!(two.body["details"]["reason"], "unreadable");
    }
    drop(kill);
}

/// Kills the child when dropped, so a failing assertion leaves no daemon.
fn scopeguard(child: std::process::Child) -> impl Drop {
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    Kill(child)
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        out.extend(if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

async fn messages(s: &TestServer, token: &str, run_id: u64, query: &str) -> Vec<String> {
    let r = s
        .get(&format!("/api/v1/runs/{run_id}/logs?{query}"), Some(token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    crate::common::messages(&r)
}

#[tokio::test]
async fn utf16_logs_are_decoded_and_a_utf8_bom_is_not_text() {
    let dirs = Dirs::new();
    let text = "[INFO] Démarrage\r\n[ERROR] Échec: fichier\u{1F4A5} absent\r\nlast line";
    dirs.write_log(1, utf16(text, false));
    dirs.write_log(2, utf16(text, true));
    dirs.write_log(
        3,
        [b"\xEF\xBB\xBF".as_slice(), "[WARN] café\n".as_bytes()].concat(),
    );
    let s = start_bounded(dirs.config(), false).await;
    let token = s.reader();
    let want = vec![
        "[INFO] Démarrage".to_owned(),
        "[ERROR] Échec: fichier\u{1F4A5} absent".to_owned(),
        "last line".to_owned(),
    ];
    for run in [1, 2] {
        assert_eq!(messages(&s, &token, run, "").await, want, "run {run}");
        assert_eq!(
            messages(&s, &token, run, &format!("contains={}", enc("échec"))).await,
            vec![want[1].clone()],
            "run {run}"
        );
        let errors = s
            .get(
                &format!("/api/v1/runs/{run}/logs?level=error"),
                Some(&token),
            )
            .await;
        assert_eq!(errors.body["data"][0]["line"], 2, "{}", errors.body);
    }
    assert_eq!(messages(&s, &token, 3, "").await, vec!["[WARN] café"]);
    let warn = s
        .get("/api/v1/runs/3/logs?level=warning", Some(&token))
        .await;
    assert_eq!(warn.body["data"][0]["level"], "warning", "{}", warn.body);
    s.stop().await;
}

#[tokio::test]
async fn a_giant_line_and_binary_content_are_indexed_within_bounds() {
    let dirs = Dirs::new();
    // One line of 8 MB with no newline: its first 16 KiB are indexed and
    // searchable, the rest read past; a needle only in the rest (here at
    // 64 KiB, inside the first read) is not found.
    let mut giant = b"[ERROR] giant-head ".to_vec();
    giant.resize(64 << 10, b'x');
    giant.extend_from_slice(b"needle-past-the-cap");
    giant.resize(8 << 20, b'y');
    dirs.write_log(1, &giant);
    // Random bytes (their blocks hold too many distinct trigrams to index
    // each), then a text line that must still be found by `contains`.
    let mut noise = Vec::with_capacity(3 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while noise.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    noise.extend_from_slice(b"\n[ERROR] plain text after the noise\n");
    dirs.write_log(2, &noise);
    let s = start_bounded(dirs.config(), false).await;
    let token = s.reader();

    let r = s.get("/api/v1/runs/1/logs", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let line = &r.body["data"][0];
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(line["truncated"], true);
    assert_eq!(line["level"], "error");
    assert_eq!(
        line["message"].as_str().map(|m| m.chars().count()),
        Some(4000)
    );
    assert_eq!(
        messages(&s, &token, 1, "contains=giant-head").await.len(),
        1
    );
    assert!(messages(&s, &token, 1, "contains=needle-past-the-cap")
        .await
        .is_empty());

    let found = messages(
        &s,
        &token,
        2,
        &format!("contains={}", enc("text after the NOISE")),
    )
    .await;
    assert_eq!(found, vec!["[ERROR] plain text after the noise"]);
    let across = s
        .get(
            &format!("/api/v1/logs/search?contains={}", enc("plain text after")),
            Some(&token),
        )
        .await;
    assert_eq!(across.body["data"][0]["run_id"], 2, "{}", across.body);
    // Every line of the noise is still there, each served cut or whole.
    let (lines, _) = s.walk(2, "", &token).await;
    assert!(lines.len() > 1000, "{}", lines.len());
    s.stop().await;
}

#[tokio::test]
async fn a_growing_utf16_log_has_only_its_new_lines_indexed() {
    let dirs = Dirs::new();
    let first = "[INFO] one\r\n[INFO] two\r\n";
    dirs.write_log(1, utf16(first, false));
    let s = start_bounded(dirs.config(), false).await;
    let token = s.reader();
    let mut grown = utf16(first, false);
    grown.extend(utf16("[ERROR] three\r\n", false).split_off(2));
    std::fs::write(dirs.log_path(1), grown).unwrap_or_else(|e| panic!("{e}"));
    let ingestor = s.daemon_parts.ingestor.clone();
    let outcome = tokio::task::spawn_blocking(move || ingestor.sync_run(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome, runlogd::ingest::Outcome::Appended { lines: 1 });
    assert_eq!(
        messages(&s, &token, 1, "").await,
        vec!["[INFO] one", "[INFO] two", "[ERROR] three"]
    );
    s.stop().await;
}
