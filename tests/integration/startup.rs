//! A daemon answers while its start-up scan runs, exactly as `runlogd serve`
//! starts one (the test harness starts every daemon the same way): `/readyz`
//! is 503 until the scan ends, and a first request for a run the scan has
//! not reached yet indexes it on demand, racing the scan for the same run,
//! with every line served once and the state agreeing with the index.
//! Real index and SQLite on disk, real HTTP server on 127.0.0.1.

use std::sync::mpsc;

use crate::common::{Dirs, TestServer};
use runlogd::config::WatchMode;

fn log(run: u64, lines: u64) -> String {
    (1..=lines)
        .map(|i| format!("[INFO] run {run} line {i}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_and_first_requests_are_served_while_the_scan_runs() {
    let dirs = Dirs::new();
    for run in 1..=30 {
        dirs.write_log(run, log(run, 50 + run));
    }
    let mut config = dirs.config();
    config.watch.mode = WatchMode::None;

    // Hold the index writer so that the scan cannot commit anything until
    // the test lets it: the scan is "in progress" for as long as needed,
    // whatever the speed of the machine.
    let daemon = runlogd::daemon::Daemon::open(&config).unwrap_or_else(|e| panic!("{e:#}"));
    let index = daemon.parts.index.clone();
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let batch = index.batch().unwrap_or_else(|e| panic!("{e}"));
        locked_tx.send(()).unwrap_or_else(|e| panic!("{e}"));
        let _ = release_rx.recv();
        drop(batch);
    });
    locked_rx.recv().unwrap_or_else(|e| panic!("{e}"));

    let mut s = TestServer::start_opened(daemon, config).await;
    let t = s.reader();
    // The scan lists the folder on a thread of its own: wait until it has
    // (it cannot go further while the writer is held).
    let listed = std::time::Instant::now();
    let r = loop {
        let r = s.get("/readyz", None).await;
        if r.body["files_total"] != 0 || listed.elapsed() > std::time::Duration::from_secs(10) {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(r.status, 503, "not ready while the scan runs: {}", r.body);
    assert_eq!(r.body["ready"], false);
    assert_eq!(r.body["files_total"], 30);
    assert_eq!(r.body["runs"], 0);

    // A first request for run 30 (the last the scan reaches) while the scan
    // waits for the writer too: both go once the writer is free.
    let base = s.base.clone();
    let first = tokio::spawn({
        let t = t.clone();
        async move { crate::common::get(&format!("{base}/api/v1/runs/30/logs"), Some(&t)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    release_tx.send(()).unwrap_or_else(|e| panic!("{e}"));
    holder.join().unwrap_or_else(|_| panic!("holder thread"));
    let r = first.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let lines = r.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 80);
    assert_eq!(lines[79]["message"], "[INFO] run 30 line 80");

    let summary = s.wait_scan().await;
    assert_eq!(summary.indexed + summary.unchanged, 30);
    let r = s.get("/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["runs"], 30);

    // Every run once, and the state agrees with the index for each.
    for run in 1..=30u64 {
        let (walked, _) = s.walk(run, "limit=100", &t).await;
        assert_eq!(walked.len() as u64, 50 + run, "run {run}");
        let record = s
            .daemon_parts
            .store
            .run(run)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("run {run} has no state"));
        let meta = s
            .daemon_parts
            .index
            .snapshot()
            .run_meta(run)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("run {run} is not indexed"));
        assert_eq!(
            (record.generation, record.lines_indexed),
            (meta.generation, meta.lines),
            "run {run}: state and index agree"
        );
    }
    s.stop().await;

    // A restart finds nothing to repair.
    let s = TestServer::start(dirs.config()).await;
    assert_eq!((s.scan.indexed, s.scan.unchanged), (0, 30), "{:?}", s.scan);
    s.stop().await;
}
