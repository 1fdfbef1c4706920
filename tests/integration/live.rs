//! Live ingest against real file-system events and a real server: files that
//! are renamed into place, written, appended to, replaced and deleted while
//! the daemon runs; poll mode; the periodic reconcile; and how fresh the
//! index is (reported, not asserted as a tight time).

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::{messages, write_atomically, Dirs, Response, TestServer};
use runlogd::config::{Config, WatchMode};
use runlogd::store::RunRecord;

/// Generous: the point is that changes arrive, not how fast (see the
/// freshness report for that).
const DEADLINE: Duration = Duration::from_secs(20);

fn live_config(dirs: &Dirs, mode: WatchMode) -> Config {
    let mut c = dirs.config();
    c.watch.mode = mode;
    c.watch.quiet_ms = 400;
    c.watch.debounce_ms = 50;
    c.watch.poll_interval_ms = 100;
    c
}

/// Polls the first page of a run until `done` holds; returns the last
/// response and how long it took.
async fn wait_for(
    s: &TestServer,
    run: u64,
    token: &str,
    done: impl Fn(&Response) -> bool,
) -> (Response, Duration) {
    let started = Instant::now();
    loop {
        let r = s
            .get(&format!("/api/v1/runs/{run}/logs"), Some(token))
            .await;
        if done(&r) {
            return (r, started.elapsed());
        }
        assert!(
            started.elapsed() < DEADLINE,
            "run {run} never reached the expected state; last answer {} {}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the daemon's state (not the API: a request for a run never seen
/// indexes it on the spot) until the record of `run` satisfies `done`;
/// returns the record. Fails at the deadline.
async fn wait_indexed(
    s: &TestServer,
    run: u64,
    what: &str,
    done: impl Fn(&RunRecord) -> bool,
) -> RunRecord {
    let started = Instant::now();
    loop {
        let record = s
            .daemon_parts
            .store
            .run(run)
            .unwrap_or_else(|e| panic!("store: {e}"));
        if let Some(r) = record.filter(|r| done(r)) {
            return r;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "run {run}: {what} never reached the index without a request; record {:?}",
            s.daemon_parts.store.run(run).ok().flatten()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn lines(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("{prefix} {i}\n")).collect()
}

async fn each_change_kind_is_reflected(mode: WatchMode) {
    let dirs = Dirs::new();
    let s = TestServer::start_watching(live_config(&dirs, mode)).await;
    let t = s.reader();

    // The platform's upload path: a temporary file renamed into place. The
    // watcher alone must index it: no request is made for the run until its
    // record is there.
    write_atomically(&dirs.log_path(1), lines("[INFO] first", 3).as_bytes());
    wait_indexed(&s, 1, "a log renamed into place", |r| r.lines_indexed == 3).await;
    let r = s.get("/api/v1/runs/1/logs", Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        messages(&r),
        ["[INFO] first 1", "[INFO] first 2", "[INFO] first 3"]
    );

    // Written in place, appended to, last line without a newline for now.
    let path = dirs.log_path(2);
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    f.write_all(b"one\ntwo\nthr")
        .unwrap_or_else(|e| panic!("{e}"));
    f.flush().unwrap_or_else(|e| panic!("{e}"));
    wait_indexed(&s, 2, "a log created in place", |r| r.lines_indexed >= 2).await;
    let (r, _) = wait_for(&s, 2, &t, |r| messages(r).len() >= 2).await;
    assert_eq!(messages(&r)[..2], ["one", "two"]);
    // Once quiet, the unterminated line is indexed as it is...
    let (r, _) = wait_for(&s, 2, &t, |r| messages(r).len() == 3).await;
    assert_eq!(messages(&r), ["one", "two", "thr"]);
    let cursor = s.get("/api/v1/runs/2/logs?limit=1", Some(&t)).await.body["pagination"]
        ["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // ...and when the writer finishes it, it is not indexed twice.
    f.write_all(b"ee\nfour\n").unwrap_or_else(|e| panic!("{e}"));
    drop(f);
    let (r, _) = wait_for(&s, 2, &t, |r| messages(r).len() == 4).await;
    assert_eq!(messages(&r), ["one", "two", "three", "four"]);
    // A cursor from before the append continues into the new lines.
    let r = s
        .get(
            &format!("/api/v1/runs/2/logs?limit=10&cursor={cursor}"),
            Some(&t),
        )
        .await;
    assert_eq!(messages(&r), ["two", "three", "four"]);

    // Replaced by shorter, then longer content; old cursors are refused.
    let cursor = s.get("/api/v1/runs/1/logs?limit=1", Some(&t)).await.body["pagination"]
        ["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    write_atomically(&dirs.log_path(1), b"[WARN] replaced\n");
    let (r, _) = wait_for(&s, 1, &t, |r| messages(r) == ["[WARN] replaced"]).await;
    assert_eq!(r.body["data"][0]["level"], "warning");
    let r = s
        .get(&format!("/api/v1/runs/1/logs?cursor={cursor}"), Some(&t))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["details"]["fields"]["cursor"]
        .as_str()
        .unwrap_or_default()
        .contains("replaced"));
    std::fs::write(dirs.log_path(1), lines("[INFO] longer", 150)).unwrap_or_else(|e| panic!("{e}"));
    let (r, _) = wait_for(&s, 1, &t, |r| {
        r.body["pagination"]["has_more"] == true && messages(r)[0] == "[INFO] longer 1"
    })
    .await;
    assert_eq!(messages(&r).len(), 100);
    let (all, _) = s.walk(1, "", &t).await;
    assert_eq!(all.len(), 150);

    // Truncated in place to a prefix of something else.
    std::fs::write(dirs.log_path(1), b"[INFO] longer 1\n").unwrap_or_else(|e| panic!("{e}"));
    wait_for(&s, 1, &t, |r| messages(r) == ["[INFO] longer 1"]).await;

    // Deleted: the run leaves the index.
    std::fs::remove_file(dirs.log_path(1)).unwrap_or_else(|e| panic!("{e}"));
    let (r, _) = wait_for(&s, 1, &t, |r| r.status == 404).await;
    assert_eq!(r.body["code"], "log_not_found");
    // Other runs are untouched.
    assert_eq!(
        messages(&s.get("/api/v1/runs/2/logs", Some(&t)).await).len(),
        4
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inotify_reflects_every_change_kind() {
    each_change_kind_is_reflected(WatchMode::Inotify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_reflects_every_change_kind() {
    each_change_kind_is_reflected(WatchMode::Poll).await;
}

/// Poll mode compares nanoseconds: a log rewritten in place (same inode)
/// with the same size, within the same second as the version indexed
/// before, is seen and indexed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_sees_a_same_size_rewrite_within_the_same_second() {
    let dirs = Dirs::new();
    let s = TestServer::start_watching(live_config(&dirs, WatchMode::Poll)).await;
    let t = s.reader();
    let path = dirs.log_path(30);
    // Both versions are dated explicitly, a microsecond apart in one second.
    let second = std::time::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let first = second + Duration::from_nanos(100_000_000);
    let rewritten = first + Duration::from_nanos(1_000);
    let write_in_place = |content: &[u8], mtime: std::time::SystemTime| {
        let mut f = std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(content).unwrap_or_else(|e| panic!("{e}"));
        f.set_modified(mtime).unwrap_or_else(|e| panic!("{e}"));
    };
    let ns = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or_else(|e| panic!("{e}"))
    };

    write_in_place(b"[INFO] version A\n[INFO] same size\n", first);
    let before = wait_indexed(&s, 30, "the first version", |r| {
        r.mtime_ns == ns(first) && r.lines_indexed == 2
    })
    .await;
    let inode = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(&path).unwrap_or_else(|e| panic!("{e}")),
    );

    write_in_place(b"[WARN] version B\n[INFO] same size\n", rewritten);
    let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&meta),
        inode,
        "rewritten in place"
    );
    assert_eq!(meta.len(), before.size, "same size");
    wait_indexed(&s, 30, "the same-size rewrite", |r| {
        r.mtime_ns == ns(rewritten)
    })
    .await;
    let r = s.get("/api/v1/runs/30/logs", Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), ["[WARN] version B", "[INFO] same size"]);
    assert_eq!(r.body["data"][0]["level"], "warning");
    s.stop().await;
}

/// `Watcher::start` returns once the folder is watched (`serve` starts the
/// watch before the start-up scan so that nothing landing during the scan is
/// missed): a log that lands right after it is indexed by the watcher, with
/// no scan, no reconcile and no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_landing_right_after_the_watch_starts_is_seen() {
    let dirs = Dirs::new();
    let mut config = live_config(&dirs, WatchMode::Inotify);
    config.watch.reconcile_interval_secs = 0;
    let daemon = runlogd::daemon::Daemon::open(&config).unwrap_or_else(|e| panic!("open: {e:#}"));
    let watcher = runlogd::watch::Watcher::start(daemon.parts.ingestor.clone(), config.watch)
        .unwrap_or_else(|e| panic!("watch: {e}"));
    write_atomically(&dirs.log_path(7), b"[INFO] landed at once\n");
    let started = Instant::now();
    loop {
        let record = daemon
            .parts
            .store
            .run(7)
            .unwrap_or_else(|e| panic!("store: {e}"));
        if record.is_some_and(|r| r.lines_indexed == 1) {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "a log landing right after the watch started was never indexed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::spawn_blocking(move || watcher.stop())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_repairs_changes_no_event_reported() {
    let dirs = Dirs::new();
    dirs.write_log(5, lines("old", 10));
    dirs.write_log(6, lines("doomed", 2));
    let mut config = live_config(&dirs, WatchMode::None);
    config.watch.reconcile_interval_secs = 1;
    let s = TestServer::start_watching(config).await;
    let t = s.reader();
    assert_eq!(
        messages(&s.get("/api/v1/runs/5/logs", Some(&t)).await).len(),
        10
    );
    assert_eq!(s.get("/api/v1/runs/6/logs", Some(&t)).await.status, 200);

    // With no watcher, only the reconcile can see these.
    dirs.write_log(5, lines("new", 4));
    std::fs::remove_file(dirs.log_path(6)).unwrap_or_else(|e| panic!("{e}"));
    let (r, took) = wait_for(&s, 5, &t, |r| {
        messages(r).first().map(String::as_str) == Some("new 1")
    })
    .await;
    assert_eq!(messages(&r).len(), 4);
    wait_for(&s, 6, &t, |r| r.status == 404).await;
    println!("reconcile picked the change up after {took:?}");
    s.stop().await;
}

/// Good pages the readers must check, at the least, before they stop.
const MIN_GOOD_PAGES: usize = 60;

/// One reader's page at `cursor=depth` of run 9 (3,000 lines, every one
/// `v{version} line {n}`), checked in full: a 200, exactly the 100 lines
/// after `depth`, numbered and worded in order, all of a single version.
/// Returns that version.
async fn check_page(base: &str, token: &str, depth: u64) -> u64 {
    let r = crate::common::get(
        &format!("{base}/api/v1/runs/9/logs?cursor={depth}"),
        Some(token),
    )
    .await;
    assert_eq!(r.status, 200, "cursor={depth}: {}", r.body);
    let data = r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("cursor={depth}: no data array: {}", r.body));
    assert_eq!(data.len(), 100, "cursor={depth}: a full page: {}", r.body);
    let mut versions = std::collections::BTreeSet::new();
    for (i, l) in data.iter().enumerate() {
        let n = depth + 1 + i as u64;
        assert_eq!(l["line"].as_u64(), Some(n), "cursor={depth}, item {i}");
        let message = l["message"].as_str().unwrap_or_default();
        let (version, rest) = message
            .strip_prefix('v')
            .and_then(|m| m.split_once(' '))
            .unwrap_or_else(|| panic!("cursor={depth}: unexpected message {message:?}"));
        assert_eq!(rest, format!("line {n}"), "cursor={depth}, item {i}");
        versions.insert(
            version
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("version in {message:?}: {e}")),
        );
    }
    assert_eq!(versions.len(), 1, "cursor={depth}: mixed page {versions:?}");
    assert_eq!(
        r.body["pagination"]["has_more"],
        depth + 100 < 3000,
        "cursor={depth}"
    );
    versions.into_iter().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_the_old_content_or_the_new_never_a_mix() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    const LAST: usize = 6;
    let dirs = Dirs::new();
    let version = |v: usize| -> String { (1..=3000).map(|i| format!("v{v} line {i}\n")).collect() };
    dirs.write_log(9, version(0));
    let s = TestServer::start_watching(live_config(&dirs, WatchMode::Inotify)).await;
    let t = s.reader();
    let good = Arc::new(AtomicUsize::new(0));
    let writer_done = Arc::new(AtomicBool::new(false));
    // The reader runs until it has checked enough good pages, the writer
    // has finished, and the last version has been served; every page it
    // gets on the way must be good. The deadline only turns a hang into
    // a failure.
    let reader = tokio::spawn({
        let (base, t) = (s.base.clone(), t.clone());
        let (good, writer_done) = (good.clone(), writer_done.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut seen = std::collections::BTreeSet::new();
            loop {
                for depth in [0, 1500, 2900] {
                    seen.insert(check_page(&base, &t, depth).await);
                    good.fetch_add(1, Ordering::SeqCst);
                }
                let enough = good.load(Ordering::SeqCst) >= MIN_GOOD_PAGES;
                if enough && writer_done.load(Ordering::SeqCst) && seen.contains(&(LAST as u64)) {
                    return seen;
                }
                assert!(
                    Instant::now() < deadline,
                    "readers did not finish: {} good pages, writer done {}, versions seen {seen:?}",
                    good.load(Ordering::SeqCst),
                    writer_done.load(Ordering::SeqCst)
                );
            }
        }
    });
    // Each replacement lands while the reader is reading: the writer waits
    // for some good pages first, then for each version to be indexed
    // (a new generation in the state) before writing the next.
    let started = Instant::now();
    while good.load(Ordering::SeqCst) < 3 && !reader.is_finished() {
        assert!(started.elapsed() < DEADLINE, "the reader checked no page");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for v in 1..=LAST {
        let before = s
            .daemon_parts
            .store
            .run(9)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|r| r.generation);
        write_atomically(&dirs.log_path(9), version(v).as_bytes());
        wait_indexed(&s, 9, &format!("version {v}"), |r| {
            Some(r.generation) != before && r.lines_indexed == 3000
        })
        .await;
    }
    writer_done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap_or_else(|e| panic!("reader: {e}"));
    let checked = good.load(Ordering::SeqCst);
    println!("{checked} good pages checked; versions served: {seen:?}");
    assert!(checked >= MIN_GOOD_PAGES, "{checked} good pages");
    assert!(
        seen.contains(&0),
        "the first version was read before the writes"
    );
    s.stop().await;
}

/// Freshness from landing (rename into place) to indexed, over many logs.
/// Printed for the record; the assertion is only that each one arrives, and
/// with the periodic reconcile off and no request made for the run, only
/// the inotify watcher can deliver it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freshness_report() {
    let dirs = Dirs::new();
    let mut config = live_config(&dirs, WatchMode::Inotify);
    config.watch = Default::default();
    config.watch.mode = WatchMode::Inotify;
    config.watch.reconcile_interval_secs = 0;
    let s = TestServer::start_watching(config).await;
    let t = s.reader();
    let mut took = Vec::new();
    for run in 100..160u64 {
        let content = lines(&format!("[INFO] run {run} entry"), 500);
        write_atomically(&dirs.log_path(run), content.as_bytes());
        let landed = Instant::now();
        // Watch the daemon's state, not the API: a request would index the
        // run on the spot and hide the watcher's latency (or its absence).
        wait_indexed(&s, run, "a new log", |r| r.lines_indexed == 500).await;
        took.push(landed.elapsed());
        let r = s
            .get(&format!("/api/v1/runs/{run}/logs?cursor=499"), Some(&t))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(messages(&r), [format!("[INFO] run {run} entry 500")]);
    }
    took.sort();
    let p = |q: f64| took[((took.len() as f64 - 1.0) * q).round() as usize];
    // How many logs took longer than a second to become searchable.
    let slow = took.iter().filter(|t| **t > Duration::from_secs(1)).count();
    println!(
        "freshness over {} logs (500 lines each, default watch settings, no reconcile): median {:?}, p99 {:?}, max {:?}, slower than 1 s: {slow}",
        took.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    s.stop().await;
}
