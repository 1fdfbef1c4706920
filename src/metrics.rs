//! The daemon's Prometheus metrics: every metric name, and one small function
//! per thing measured, so the rest of the code records with one call and never
//! spells a metric name itself.
//!
//! Recording goes through the `metrics` facade to a process-wide recorder from
//! `metrics-exporter-prometheus` (no HTTP listener of its own: `GET /metrics`
//! is an axum route, see `api::ops`). Values that are cheaper to read than to
//! track (index size on disk, memory, the bucket's sync state, totals in the
//! state database) are set when `/metrics` is scraped, by [`render`].
//!
//! This module imports nothing from the crate: components hand it plain
//! values and labels, so every layer can record and none depends on another
//! through it.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "runlogd_http_requests_total";
pub const HTTP_DURATION: &str = "runlogd_http_request_duration_seconds";
pub const HTTP_REJECTIONS: &str = "runlogd_http_rejections_total";
pub const RUNS_INDEXED: &str = "runlogd_runs_indexed_total";
pub const LINES_INDEXED: &str = "runlogd_lines_indexed_total";
pub const BYTES_INDEXED: &str = "runlogd_bytes_indexed_total";
pub const INDEX_RUNS: &str = "runlogd_index_runs";
pub const INDEX_LINES: &str = "runlogd_index_lines";
pub const INDEX_SIZE: &str = "runlogd_index_size_bytes";
pub const COMMITS: &str = "runlogd_index_commits_total";
pub const COMMIT_DURATION: &str = "runlogd_index_commit_duration_seconds";
pub const INGEST_LAG: &str = "runlogd_ingest_lag_seconds";
pub const FILE_EVENTS: &str = "runlogd_file_events_total";
pub const RECONCILE_REPAIRS: &str = "runlogd_reconcile_repairs_total";
pub const SKIPPED_ENTRIES: &str = "runlogd_skipped_entries_total";
pub const READY: &str = "runlogd_ready";
pub const GCS_SYNC_STATE: &str = "runlogd_gcs_sync_state";
pub const GCS_OBJECTS: &str = "runlogd_gcs_objects";
pub const GCS_DOWNLOADS: &str = "runlogd_gcs_downloads_total";
pub const GCS_SYNC_PASSES: &str = "runlogd_gcs_sync_passes_total";
pub const GCS_SYNC_FAILURES: &str = "runlogd_gcs_sync_failures_total";
pub const GCS_CONSECUTIVE_FAILURES: &str = "runlogd_gcs_sync_consecutive_failures";
pub const GCS_LAST_SUCCESS: &str = "runlogd_gcs_last_success_timestamp_seconds";
pub const PLATFORM_AUTH_CALLS: &str = "runlogd_platform_auth_calls_total";
pub const PLATFORM_AUTH_REMEMBERED: &str = "runlogd_platform_auth_remembered_total";
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// Every metric name, in the order the README lists them.
pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    HTTP_REJECTIONS,
    RUNS_INDEXED,
    LINES_INDEXED,
    BYTES_INDEXED,
    INDEX_RUNS,
    INDEX_LINES,
    INDEX_SIZE,
    COMMITS,
    COMMIT_DURATION,
    INGEST_LAG,
    FILE_EVENTS,
    RECONCILE_REPAIRS,
    SKIPPED_ENTRIES,
    READY,
    GCS_SYNC_STATE,
    GCS_OBJECTS,
    GCS_DOWNLOADS,
    GCS_SYNC_PASSES,
    GCS_SYNC_FAILURES,
    GCS_CONSECUTIVE_FAILURES,
    GCS_LAST_SUCCESS,
    PLATFORM_AUTH_CALLS,
    PLATFORM_AUTH_REMEMBERED,
    RESIDENT_MEMORY,
];

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const LAG_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder the first time; later calls (several
/// daemons in one test process) share it. `None` if another recorder was
/// installed first, in which case `/metrics` says so.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(COMMIT_DURATION.into()), LATENCY_BUCKETS)
                })
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(INGEST_LAG.into()), LAG_BUCKETS));
            let handle = builder.and_then(|b| b.install_recorder());
            match handle {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the metrics recorder; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (to the response head), by route template and method."
    );
    describe_counter!(HTTP_REJECTIONS, "Requests refused before their handler ran, by reason (rate_limited, overloaded, timeout, uri_too_long, headers_too_large, malformed_request, http2_prior_knowledge).");
    describe_counter!(
        RUNS_INDEXED,
        "Runs brought up to date in the index, by change (indexed, appended, removed)."
    );
    describe_counter!(LINES_INDEXED, "Log lines added to the index.");
    describe_counter!(
        BYTES_INDEXED,
        Unit::Bytes,
        "Bytes of log files parsed into the index."
    );
    describe_gauge!(INDEX_RUNS, "Runs in the index.");
    describe_gauge!(INDEX_LINES, "Lines in the index.");
    describe_gauge!(
        INDEX_SIZE,
        Unit::Bytes,
        "Size of the index directory on disk."
    );
    describe_counter!(COMMITS, "Index commits.");
    describe_histogram!(
        COMMIT_DURATION,
        Unit::Seconds,
        "Time an index commit takes."
    );
    describe_histogram!(INGEST_LAG, Unit::Seconds, "From a log file's modification to its lines being searchable, for runs indexed on a file event.");
    describe_counter!(
        FILE_EVENTS,
        "File-system events (inotify or poll) seen for log files."
    );
    describe_counter!(
        RECONCILE_REPAIRS,
        "Runs the periodic reconcile found out of date (events that went missing), by change."
    );
    describe_counter!(
        SKIPPED_ENTRIES,
        "Entries in a log folder named like a log but not read (FIFOs, sockets, devices, directories, links outside the folder, unreadable files), each counted once when found, by reason."
    );
    describe_gauge!(READY, "1 once the start-up scan is indexed.");
    describe_gauge!(
        GCS_SYNC_STATE,
        "1 for the bucket sync's current state (starting, ok, error), 0 for the others."
    );
    describe_gauge!(
        GCS_OBJECTS,
        "Run objects seen at the last successful bucket listing."
    );
    describe_counter!(
        GCS_DOWNLOADS,
        "Objects downloaded from the bucket since start."
    );
    describe_counter!(GCS_SYNC_PASSES, "Bucket sync passes completed since start.");
    describe_counter!(
        GCS_SYNC_FAILURES,
        "Bucket sync passes that failed since start."
    );
    describe_gauge!(
        GCS_CONSECUTIVE_FAILURES,
        "Bucket sync failures since the last fully successful pass."
    );
    describe_gauge!(
        GCS_LAST_SUCCESS,
        Unit::Seconds,
        "Unix time at which the last successful bucket sync pass started."
    );
    describe_counter!(
        PLATFORM_AUTH_CALLS,
        "Calls to the platform's /api/v1/auth/me to check a token, by outcome (accepted, refused, timeout, connect_error, rate_limited, bad_status, bad_answer, request_error)."
    );
    describe_counter!(
        PLATFORM_AUTH_REMEMBERED,
        "Platform tokens answered from memory, without a call."
    );
    describe_gauge!(
        RESIDENT_MEMORY,
        Unit::Bytes,
        "Resident set size of the process (VmRSS)."
    );
}

/// How often recorded histogram samples are folded into their buckets. The
/// recorder keeps raw samples until then, so without it a daemon nobody
/// scrapes would hold every request's latency.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets (see [`UPKEEP_EVERY`]).
pub fn upkeep() {
    if let Some(handle) = install() {
        handle.run_upkeep();
    }
}

/// One HTTP request answered. `route` is the matched path template
/// (`/api/v1/runs/{run_id}/logs`), or `unmatched`.
pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let route = route.to_owned();
    let method = method.to_owned();
    counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "route" => route, "method" => method).record(elapsed.as_secs_f64());
}

/// A request refused before its handler answered it.
pub fn http_rejected(reason: &'static str) {
    counter!(HTTP_REJECTIONS, "reason" => reason).increment(1);
}

/// A run brought up to date, by change: `indexed`, `appended` or `removed`.
pub fn run_synced(change: &'static str) {
    counter!(RUNS_INDEXED, "change" => change).increment(1);
}

/// An entry in a log folder named like a log but not read, counted once
/// when it is first found so (by reason: `not_regular_file`,
/// `outside_log_files`, `unreadable`).
pub fn skipped_entry(reason: &'static str) {
    counter!(SKIPPED_ENTRIES, "reason" => reason).increment(1);
}

/// Lines and bytes parsed into the index.
pub fn parsed(lines: u64, bytes: u64) {
    counter!(LINES_INDEXED).increment(lines);
    counter!(BYTES_INDEXED).increment(bytes);
}

/// One index commit and how long it took.
pub fn committed(elapsed: Duration) {
    counter!(COMMITS).increment(1);
    histogram!(COMMIT_DURATION).record(elapsed.as_secs_f64());
}

/// A run indexed from a file event: the file was modified at `mtime`.
pub fn ingest_lag(mtime: SystemTime) {
    let lag = SystemTime::now()
        .duration_since(mtime)
        .unwrap_or(Duration::ZERO);
    histogram!(INGEST_LAG).record(lag.as_secs_f64());
}

/// File-system events seen for log files.
pub fn file_events(n: u64) {
    counter!(FILE_EVENTS).increment(n);
}

/// What a reconcile repaired.
pub fn reconcile_repairs(indexed: u64, appended: u64, removed: u64) {
    for (change, n) in [
        ("indexed", indexed),
        ("appended", appended),
        ("removed", removed),
    ] {
        counter!(RECONCILE_REPAIRS, "change" => change).increment(n);
    }
}

/// One call to the platform about a token, by outcome.
pub fn platform_auth_call(outcome: &'static str) {
    counter!(PLATFORM_AUTH_CALLS, "outcome" => outcome).increment(1);
}

/// A platform token answered from memory.
pub fn platform_auth_remembered() {
    counter!(PLATFORM_AUTH_REMEMBERED).increment(1);
}

/// A bucket sync pass failed.
pub fn gcs_sync_failed() {
    counter!(GCS_SYNC_FAILURES).increment(1);
}

/// What a scrape reads from the daemon rather than from counters.
pub struct Snapshot<'a> {
    pub ready: bool,
    pub runs: u64,
    pub lines: u64,
    pub index_dir: &'a Path,
    pub gcs: Option<GcsGauges>,
}

/// The bucket sync's state as plain values, for the `runlogd_gcs_*` series.
#[derive(Debug, Clone, PartialEq)]
pub struct GcsGauges {
    /// Every state the sync can be in, and whether it is in it now.
    pub states: Vec<(&'static str, bool)>,
    pub objects: u64,
    pub downloaded: u64,
    pub passes: u64,
    pub consecutive_failures: u32,
    /// Unix time at which the last successful pass started.
    pub last_success_unix: Option<f64>,
}

/// Sets the values read at scrape time and renders every metric in the
/// Prometheus text format; `None` if no recorder could be installed.
pub fn render(s: &Snapshot<'_>) -> Option<String> {
    let handle = install()?;
    gauge!(READY).set(if s.ready { 1.0 } else { 0.0 });
    gauge!(INDEX_RUNS).set(s.runs as f64);
    gauge!(INDEX_LINES).set(s.lines as f64);
    gauge!(INDEX_SIZE).set(dir_size(s.index_dir) as f64);
    if let Some(rss) = resident_memory() {
        gauge!(RESIDENT_MEMORY).set(rss as f64);
    }
    if let Some(g) = &s.gcs {
        for &(state, on) in &g.states {
            gauge!(GCS_SYNC_STATE, "state" => state).set(if on { 1.0 } else { 0.0 });
        }
        gauge!(GCS_OBJECTS).set(g.objects as f64);
        counter!(GCS_DOWNLOADS).absolute(g.downloaded);
        counter!(GCS_SYNC_PASSES).absolute(g.passes);
        gauge!(GCS_CONSECUTIVE_FAILURES).set(g.consecutive_failures as f64);
        if let Some(t) = g.last_success_unix {
            gauge!(GCS_LAST_SUCCESS).set(t);
        }
        // Present from the start, so that rate() has a first sample.
        counter!(GCS_SYNC_FAILURES).increment(0);
    }
    handle.run_upkeep();
    Some(handle.render())
}

/// Total size of the files under `dir` (0 if it cannot be read).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// VmRSS of this process, from /proc/self/status.
pub fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_directory_sizes() {
        assert!(resident_memory().is_some_and(|b| b > 1 << 20));
        let dir = std::env::temp_dir().join(format!("runlogd-metrics-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("sub"));
        let _ = std::fs::write(dir.join("a"), [0u8; 100]);
        let _ = std::fs::write(dir.join("sub/b"), [0u8; 23]);
        assert_eq!(dir_size(&dir), 123);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
