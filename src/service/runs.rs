//! Runs' logs as the API serves them: one run found wherever it is, its
//! download, and the questions asked across runs.
//!
//! A run is looked for in the index first, then in the log folder (a log
//! that landed a moment ago is indexed on this request), then in the bucket
//! (fetched, mirrored and indexed). Not found means every configured place
//! was checked, and the answer names them; a bucket that cannot be reached
//! is "unavailable", never "not found".

use std::collections::BTreeSet;
use std::fs::File;
use std::sync::Arc;

use super::Parts;
use crate::bucket::Bucket;
use crate::index::{IndexError, LogIndex, RunHit, RunMeta, RunQuery, Snapshot};
use crate::ingest::{IngestError, Ingestor, Outcome};
use crate::logfiles::SkipReason;
use crate::store::{ListedRun, Store, StoreError};

/// Where a run's log can be: the local log folder.
pub const LOCAL: &str = "local";
/// Where a run's log can be: the GCS bucket.
pub const GCS: &str = "gcs";

/// Where a log came from, as the listing's `origin` names it.
pub fn origin(from_bucket: bool) -> &'static str {
    if from_bucket {
        GCS
    } else {
        LOCAL
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("no log for run {run_id}")]
    NotFound {
        run_id: u64,
        /// Every place looked in ([`LOCAL`], [`GCS`]).
        checked: &'static [&'static str],
    },
    #[error("the entry of run {run_id} in the log folder is not a log that may be read")]
    Unreadable { run_id: u64, reason: SkipReason },
    #[error("run {run_id} is not in the local folder and the bucket could not be reached")]
    StorageUnavailable { run_id: u64 },
    #[error("{0}")]
    Index(#[from] IndexError),
    #[error("{0}")]
    Ingest(#[from] IngestError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub type Result<T> = std::result::Result<T, RunsError>;

/// A run as indexed: the index state it was found in, and what it holds.
pub struct FoundRun {
    pub snapshot: Snapshot,
    pub meta: RunMeta,
}

/// Where a run's whole file can be had.
pub struct Download {
    pub run_id: u64,
    /// A signed URL of the bucket's object, when there is one and it could
    /// be signed.
    pub signed_url: Option<String>,
    /// The local file, opened (never waiting, never outside the folder),
    /// with the length to send: a writer may still be appending.
    pub file: Option<(File, u64)>,
    checked: &'static [&'static str],
}

impl Download {
    /// The local file, or not found (the bucket has no signed copy either).
    pub fn into_file(self) -> Result<(File, u64)> {
        self.file.ok_or(RunsError::NotFound {
            run_id: self.run_id,
            checked: self.checked,
        })
    }
}

/// One run of a search across runs, with when its file landed.
pub struct SearchedRun {
    pub hit: RunHit,
    /// The file's modification time, in ns since the epoch.
    pub landed_ns: Option<i64>,
}

pub struct RunLogs {
    index: Arc<LogIndex>,
    ingestor: Arc<Ingestor>,
    bucket: Option<Arc<Bucket>>,
    store: Arc<Store>,
}

impl RunLogs {
    pub fn new(parts: &Parts) -> RunLogs {
        RunLogs {
            index: parts.index.clone(),
            ingestor: parts.ingestor.clone(),
            bucket: parts.bucket.clone(),
            store: parts.store.clone(),
        }
    }

    /// Every place a run is looked for.
    pub fn places(&self) -> &'static [&'static str] {
        if self.bucket.is_some() {
            &[LOCAL, GCS]
        } else {
            &[LOCAL]
        }
    }

    /// The run as indexed, indexing its file first if the index has not
    /// seen it yet, or else fetching it from the bucket.
    pub async fn find(&self, run_id: u64) -> Result<FoundRun> {
        if let Some(found) = self.indexed(run_id)? {
            return Ok(found);
        }
        let ingestor = self.ingestor.clone();
        // Not on a request lane: indexing a large file takes seconds, and
        // queries must not wait behind it.
        let outcome = tokio::task::spawn_blocking(move || ingestor.sync_run(run_id)).await??;
        match outcome {
            Outcome::Indexed { lines } => tracing::info!(run_id, lines, "indexed on first request"),
            Outcome::Refused(reason) => return Err(RunsError::Unreadable { run_id, reason }),
            _ => {}
        }
        if let Some(found) = self.indexed(run_id)? {
            return Ok(found);
        }
        let not_found = RunsError::NotFound {
            run_id,
            checked: self.places(),
        };
        let Some(bucket) = &self.bucket else {
            return Err(not_found);
        };
        match bucket.fetch_missing(run_id).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found),
            Err(e) => {
                tracing::warn!(run_id, error = %e, "bucket lookup failed");
                return Err(RunsError::StorageUnavailable { run_id });
            }
        }
        // `None`: deleted again between the download and this look.
        self.indexed(run_id)?.ok_or(not_found)
    }

    fn indexed(&self, run_id: u64) -> Result<Option<FoundRun>> {
        let snapshot = self.index.snapshot();
        Ok(snapshot
            .run_meta(run_id)?
            .map(|meta| FoundRun { snapshot, meta }))
    }

    /// Where run `run_id`'s whole file can be had, once the run is found.
    pub async fn download(&self, run_id: u64) -> Result<Download> {
        self.find(run_id).await?;
        // Opened as ingest opens it, and the open file is what is sent:
        // the entry can be swapped after this, the bytes sent cannot.
        let files = self.ingestor.files().clone();
        let entries = tokio::task::spawn_blocking(move || files.open_run(run_id)).await?;
        if let Some(skip) = entries.refusal() {
            return Err(RunsError::Unreadable {
                run_id,
                reason: skip.reason,
            });
        }
        let opened = entries.log;
        let mut signed_url = None;
        if let Some(bucket) = &self.bucket {
            let source = opened.as_ref().map(|l| l.path.as_path());
            match bucket.signed_url(run_id, source).await {
                Ok(url) => signed_url = url,
                // The file is still here to send.
                Err(e) => tracing::warn!(run_id, error = %e, "cannot sign a download URL"),
            }
        }
        Ok(Download {
            run_id,
            signed_url,
            file: opened.map(|l| {
                let len = l.meta.len();
                (l.file, len)
            }),
            checked: self.places(),
        })
    }

    /// Runs in `query.runs` (and, when `landed` is given, whose file landed
    /// in `[landed.0, landed.1)` ns) with lines that pass the filters,
    /// highest id first; and whether another matches below them. Blocking.
    pub fn search(
        &self,
        mut query: RunQuery,
        landed: Option<(i64, i64)>,
    ) -> Result<(Vec<SearchedRun>, bool)> {
        if let Some(landed) = landed {
            let ids = self.store.run_ids_landed(query.runs, landed)?;
            query.only = Some(ids.into_iter().collect::<BTreeSet<u64>>());
        }
        let found = self.index.snapshot().search_runs(&query)?;
        let mut runs = Vec::with_capacity(found.runs.len());
        for hit in found.runs {
            let record = self.store.run(hit.run_id)?;
            runs.push(SearchedRun {
                landed_ns: record.map(|r| r.mtime_ns),
                hit,
            });
        }
        Ok((runs, found.has_more))
    }

    /// Up to `limit` indexed runs in `runs` whose file landed in `landed`,
    /// highest id first. Blocking.
    pub fn list(
        &self,
        runs: (u64, u64),
        landed: (i64, i64),
        limit: usize,
    ) -> Result<Vec<ListedRun>> {
        Ok(self.store.list_runs(runs, landed, limit)?)
    }
}
