//! Crash safety: the real binary is fed large files, appends, in-place
//! rewrites, renames into place and deletions, and is killed with SIGKILL at
//! random moments, again and again. After the last restart, walking the API
//! must give every file's lines exactly once: nothing lost, nothing doubled,
//! nothing stale. And, deterministically, the repair that such a kill
//! makes necessary: the index and the state disagree on start.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{
    get, printed_token, wait_ready, write_atomically, DaemonLog, Dirs, TestServer, BIN,
};
use runlogd::store::RunRecord;
use serde_json::Value;

const RUNS: u64 = 6;
const ROUNDS: usize = 24;
/// How long a restarted daemon may take to answer `/readyz` with 200.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// A small deterministic generator (xorshift), seeded from the clock and
/// printed, so a failing sequence can be replayed with RUNLOGD_CRASH_SEED.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn content(run: u64, version: u64, from: u64, lines: u64) -> String {
    (from..from + lines)
        .map(|i| {
            format!(
                "[INFO] run {run} version {version} line {i} {}\n",
                "x".repeat((i % 60) as usize)
            )
        })
        .collect()
}

/// One random change to the repository.
fn mutate(log_dir: &std::path::Path, rng: &mut Rng, version: &AtomicU64) {
    let run = 1 + rng.below(RUNS);
    let path = log_dir.join(format!("{run}.txt"));
    let v = version.fetch_add(1, Ordering::Relaxed);
    match rng.below(10) {
        // The platform's upload: write elsewhere, rename into place.
        0..=3 => write_atomically(&path, content(run, v, 1, 1 + rng.below(40_000)).as_bytes()),
        // Appending complete lines in place.
        4..=6 => {
            let existing = std::fs::read_to_string(&path).map(|s| s.lines().count() as u64);
            if let Ok(n) = existing {
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&path) {
                    let _ = f.write_all(content(run, v, n + 1, 1 + rng.below(5_000)).as_bytes());
                }
            }
        }
        // Rewritten in place, shorter or longer.
        7 | 8 => {
            let _ = std::fs::write(&path, content(run, v, 1, 1 + rng.below(20_000)));
        }
        _ => {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Starts `runlogd serve`; it picks its own port (`listen = 127.0.0.1:0`),
/// which [`DaemonLog::listening`] reads back from its log.
fn spawn(dirs: &Dirs, config: &std::path::Path) -> (Child, DaemonLog) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn,runlogd::daemon=info")
        .env_remove("RUNLOGD_DATA")
        .env_remove("RUNLOGD_REPOSITORY")
        .env_remove("RUNLOGD_LISTEN")
        .env_remove("RUNLOGD_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .current_dir(dirs.root.path())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let log = DaemonLog::capture(&mut child);
    (child, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    let seed = std::env::var("RUNLOGD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 | 1)
                .unwrap_or(88172645463325252)
        });
    println!("crash test seed {seed} (set RUNLOGD_CRASH_SEED to replay)");
    let mut rng = Rng(seed);
    let dirs = Dirs::new();
    let config = dirs.root.path().join("runlogd.toml");
    std::fs::write(
        &config,
        format!(
            "repository = {:?}\ndata = {:?}\nlisten = \"127.0.0.1:0\"\n\
             [rate_limit]\nrequests_per_minute = 1000000\n\
             [watch]\nmode = \"inotify\"\nquiet_ms = 200\ndebounce_ms = 50\n",
            dirs.repo(),
            dirs.data()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let version = Arc::new(AtomicU64::new(1));
    for run in 1..=RUNS {
        dirs.write_log(run, content(run, 0, 1, 1 + rng.below(20_000)));
    }

    let mut kills = 0;
    for round in 0..ROUNDS {
        let (mut child, log) = spawn(&dirs, &config);
        if round % 3 == 0 {
            // Sometimes let it get to ready, sometimes kill it mid-scan.
            let (addr, _) = log.listening(&mut child);
            wait_ready(&format!("http://{addr}"), &mut child, &log, READY_WITHIN).await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = {
            let stop = stop.clone();
            let version = version.clone();
            let log_dir = dirs.repo().join("LogFiles");
            let mut rng = Rng(rng.next() | 1);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    mutate(&log_dir, &mut rng, &version);
                    std::thread::sleep(Duration::from_millis(rng.below(80)));
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(100 + rng.below(1_400))).await;
        // Every start after a kill must hold up until the next kill: a
        // daemon that gave up on the state a kill left behind fails here.
        let running = child.try_wait().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            running.is_none(),
            "round {round} (seed {seed}): the daemon exited by itself ({running:?}):\n{}",
            log.text()
        );
        child.kill().unwrap_or_else(|e| panic!("SIGKILL: {e}"));
        let status = child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "round {round}: ended by the SIGKILL, not otherwise: {status}"
        );
        kills += 1;
        stop.store(true, Ordering::Relaxed);
        feeder.join().unwrap_or_else(|_| panic!("feeder panicked"));
    }

    // The last start: everything on disk must be served exactly.
    let (mut child, log) = spawn(&dirs, &config);
    let (addr, _) = log.listening(&mut child);
    let base = format!("http://{addr}");
    wait_ready(&base, &mut child, &log, READY_WITHIN).await;
    let token = {
        let o = Command::new(BIN)
            .args(["token", "create", "--scopes", "system:read"])
            .env("RUNLOGD_DATA", dirs.data())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        printed_token(&o)
    };
    let mut files = 0;
    let mut lines_checked = 0;
    for run in 1..=RUNS {
        let expected: Option<Vec<String>> = std::fs::read_to_string(dirs.log_path(run))
            .ok()
            .map(|s| s.lines().map(str::to_owned).collect());
        let mut got: Vec<String> = Vec::new();
        let mut cursor = String::new();
        let status = loop {
            let r = get(
                &format!("{base}/api/v1/runs/{run}/logs?cursor={cursor}"),
                Some(&token),
            )
            .await;
            if r.status != 200 {
                break r.status;
            }
            for (i, l) in r.body["data"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                assert_eq!(
                    l["line"].as_u64(),
                    Some((got.len() + 1) as u64),
                    "run {run} line order, item {i}"
                );
                got.push(l["message"].as_str().unwrap_or_default().to_owned());
            }
            match r.body["pagination"]["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break 200,
            }
        };
        match expected {
            None => assert_eq!(status, 404, "run {run} was deleted"),
            Some(expected) => {
                assert_eq!(status, 200, "run {run}");
                assert_eq!(got.len(), expected.len(), "run {run}: line count");
                assert!(got == expected, "run {run}: content differs from the file");
                files += 1;
                lines_checked += got.len();
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    println!("crash test: {kills} SIGKILLs, {files} files ({lines_checked} lines) served exactly once after the last restart");
}

/// A log with lines of every kind the parser tells apart (levels, sources,
/// timestamps), numbered from `from`.
fn varied(from: u64, to: u64) -> String {
    (from..=to)
        .map(|i| match i % 5 {
            0 => format!("[ERROR] entry {i} failed\n"),
            1 => format!("2025-03-09T23:55:{:02}Z WARNING web: slow {i}\n", i % 60),
            2 => format!("ERROR build: step {i}\n"),
            3 => format!("Posting step {i} to the server:\n"),
            _ => format!("plain {i}\n"),
        })
        .collect()
}

async fn walk_run(s: &TestServer, run: u64) -> Vec<Value> {
    let token = s.reader();
    s.walk(run, "limit=37", &token).await.0
}

/// Every line of the file once, in order, with its content.
fn assert_exact(lines: &[Value], file: &str, what: &str) {
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    let expected: Vec<&str> = file.lines().collect();
    assert_eq!(messages.len(), expected.len(), "{what}: line count");
    assert!(
        messages == expected,
        "{what}: content differs from the file"
    );
    let numbers: Vec<u64> = lines.iter().filter_map(|l| l["line"].as_u64()).collect();
    assert_eq!(
        numbers,
        (1..=expected.len() as u64).collect::<Vec<_>>(),
        "{what}: line numbers"
    );
}

fn record(s: &TestServer, run: u64) -> RunRecord {
    s.daemon_parts
        .store
        .run(run)
        .unwrap_or_else(|e| panic!("store: {e}"))
        .unwrap_or_else(|| panic!("run {run} has no record"))
}

/// Overwrites the state's row of a run, as the daemon itself would have
/// written it, while no daemon is running.
fn write_state_row(data: &std::path::Path, r: &RunRecord) {
    let conn = rusqlite::Connection::open(data.join("state.sqlite3"))
        .unwrap_or_else(|e| panic!("open state: {e}"));
    let changed = conn
        .execute(
            "UPDATE runs SET size = ?1, mtime_ns = ?2, fingerprint = ?3, bytes_indexed = ?4,
                    lines_indexed = ?5, generation = ?6, parse_section = ?7
             WHERE run_id = ?8",
            rusqlite::params![
                r.size as i64,
                r.mtime_ns,
                r.fingerprint,
                r.bytes_indexed as i64,
                r.lines_indexed as i64,
                r.generation as i64,
                r.parse_section,
                r.run_id as i64
            ],
        )
        .unwrap_or_else(|e| panic!("update state: {e}"));
    assert_eq!(changed, 1, "run {} has a row", r.run_id);
}

/// A kill between the index commit of an append and the state write: the
/// index holds the grown log, the state still describes the log before it
/// grew. The next start must index the run again from its start (resuming
/// the append from the state would index the new lines a second time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_behind_the_index_is_repaired_on_start() {
    let dirs = Dirs::new();
    let before = varied(1, 100);
    dirs.write_log(3, &before);
    let s = TestServer::start(dirs.config()).await;
    assert_eq!(s.scan.indexed, 1);
    let old_record = record(&s, 3);
    assert_eq!(old_record.lines_indexed, 100);
    s.stop().await;

    // The append is indexed and its state written; then the state is put
    // back to what it said before the append, as if that write was lost.
    let grown = format!("{before}{}", varied(101, 150));
    let mut f = std::fs::File::options()
        .append(true)
        .open(dirs.log_path(3))
        .unwrap_or_else(|e| panic!("{e}"));
    f.write_all(varied(101, 150).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    drop(f);
    let s = TestServer::start(dirs.config()).await;
    assert_eq!((s.scan.appended, s.scan.indexed), (1, 0), "{:?}", s.scan);
    let healthy = walk_run(&s, 3).await;
    assert_exact(&healthy, &grown, "after the append");
    s.stop().await;
    write_state_row(&dirs.data(), &old_record);

    let s = TestServer::start(dirs.config()).await;
    assert_eq!(
        (s.scan.indexed, s.scan.appended),
        (1, 0),
        "re-indexed in full, not appended to: {:?}",
        s.scan
    );
    let repaired = walk_run(&s, 3).await;
    assert_exact(&repaired, &grown, "after the repair");
    assert_eq!(repaired, healthy, "every field as before the kill");
    let r = record(&s, 3);
    assert_eq!(
        (r.lines_indexed, r.bytes_indexed),
        (150, grown.len() as u64)
    );
    s.stop().await;

    // And the repair holds: the next start has nothing to do.
    let s = TestServer::start(dirs.config()).await;
    assert_eq!(
        (s.scan.unchanged, s.scan.indexed, s.scan.appended),
        (1, 0, 0)
    );
    assert_exact(&walk_run(&s, 3).await, &grown, "after another restart");
    s.stop().await;
}

/// The state names a generation the index does not hold for the run (a kill
/// between an index commit and its state write): the run is indexed again.
/// The file still starts with the bytes the state recorded, so the lines are
/// the ones the state's cursors were issued for, and its generation is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_with_another_generation_is_repaired_on_start() {
    let dirs = Dirs::new();
    let content = varied(1, 80);
    dirs.write_log(4, &content);
    dirs.write_log(5, varied(1, 10));
    let s = TestServer::start(dirs.config()).await;
    let healthy = walk_run(&s, 4).await;
    assert_exact(&healthy, &content, "first start");
    let mut tampered = record(&s, 4);
    s.stop().await;
    tampered.generation += 1000;
    write_state_row(&dirs.data(), &tampered);

    let s = TestServer::start(dirs.config()).await;
    assert_eq!(
        (s.scan.indexed, s.scan.unchanged),
        (1, 1),
        "run 4 re-indexed, run 5 untouched: {:?}",
        s.scan
    );
    let repaired = walk_run(&s, 4).await;
    assert_exact(&repaired, &content, "after the repair");
    assert_eq!(repaired, healthy, "every field as before");
    let r = record(&s, 4);
    assert_eq!(
        r.generation, tampered.generation,
        "the state's generation is kept for unchanged content"
    );
    assert_eq!(r.lines_indexed, 80);
    assert_exact(&walk_run(&s, 5).await, &varied(1, 10), "the other run");
    s.stop().await;

    // The same disagreement with the file replaced meanwhile: other lines,
    // so a fresh generation (old cursors must fail, not page other text).
    let mut tampered = r;
    tampered.generation += 1000;
    write_state_row(&dirs.data(), &tampered);
    let replaced = varied(2, 61);
    dirs.write_log(4, &replaced);
    let s = TestServer::start(dirs.config()).await;
    assert_exact(&walk_run(&s, 4).await, &replaced, "after the replacement");
    let r = record(&s, 4);
    assert_ne!(r.generation, tampered.generation, "a fresh generation");
    assert_eq!(r.lines_indexed, 60);
    s.stop().await;
}
