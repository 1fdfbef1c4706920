//! How the daemon is doing: readiness for `/readyz` (the start-up scan is
//! indexed; the bucket sync is reported but does not gate readiness, since a
//! daemon whose bucket is down still serves what it has), and the values a
//! metrics scrape reads from the daemon rather than from counters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use super::Parts;
use crate::bucket::{Bucket, SyncStatus};
use crate::ingest::{Ingestor, SkippedReport};
use crate::store::{Store, StoreError};

/// The body of `/readyz`. Fields in name order, as the endpoint has always
/// written them.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub bytes_done: u64,
    pub files_done: u64,
    pub files_total: u64,
    pub gcs: Option<SyncStatus>,
    pub lines: u64,
    pub ready: bool,
    /// Why the index is being rebuilt, while it is.
    pub rebuild: Option<String>,
    pub runs: u64,
    /// Entries named like logs that are not read, by reason (only regular
    /// files inside the log folder are).
    pub skipped: BTreeMap<&'static str, SkippedReport>,
}

pub struct Status {
    store: Arc<Store>,
    ingestor: Arc<Ingestor>,
    bucket: Option<Arc<Bucket>>,
    index_dir: PathBuf,
}

impl Status {
    pub fn new(parts: &Parts) -> Status {
        Status {
            store: parts.store.clone(),
            ingestor: parts.ingestor.clone(),
            bucket: parts.bucket.clone(),
            index_dir: parts.index_dir.clone(),
        }
    }

    pub fn readiness(&self) -> Result<Readiness, StoreError> {
        let p = &self.ingestor.progress;
        let (runs, lines) = self.store.totals()?;
        Ok(Readiness {
            bytes_done: p.bytes_done.load(Ordering::Relaxed),
            files_done: p.files_done.load(Ordering::Relaxed),
            files_total: p.files_total.load(Ordering::Relaxed),
            gcs: self.bucket.as_ref().map(|b| b.status()),
            lines,
            ready: p.ready.load(Ordering::Acquire),
            rebuild: p.rebuild().map(str::to_owned),
            runs,
            skipped: self.ingestor.skipped().report(),
        })
    }

    /// Every metric in the Prometheus text format, with the values read at
    /// scrape time set first; `None` if no recorder could be installed.
    /// Blocking (it sizes the index directory).
    pub fn metrics_text(&self) -> Result<Option<String>, StoreError> {
        let (runs, lines) = self.store.totals()?;
        Ok(crate::metrics::render(&crate::metrics::Snapshot {
            ready: self.ingestor.progress.ready.load(Ordering::Acquire),
            runs,
            lines,
            index_dir: &self.index_dir,
            gcs: self.bucket.as_ref().map(|b| b.status().gauges()),
        }))
    }
}
