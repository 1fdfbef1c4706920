//! The Google Cloud Storage bucket as a second source of run logs.
//!
//! Many instances keep old logs only in the bucket, as `{prefix}{run_id}.txt`
//! objects. runlogd mirrors them into a local folder and indexes the copies
//! through the same ingest path as `LogFiles/`:
//!
//! * a sync lists the prefix at start and every `sync_interval_secs`,
//!   downloads new and changed objects (see [`mirror`]: temporary file, then
//!   rename), newest first, records each object in the store, and hands the
//!   runs to the ingestor a few dozen per commit; objects gone from the
//!   listing are kept or dropped as configured;
//! * a request for a run indexed nowhere asks the bucket for it
//!   ([`Bucket::fetch_missing`]); concurrent requests for one run share one
//!   download, and runs absent from both places are remembered briefly;
//! * raw downloads are redirected to V4 signed URLs ([`Bucket::signed_url`]).
//!
//! A run with both a `LogFiles/` file and an object is read from the one
//! modified last (the copy's mtime is the object's update time); a local
//! file with the same bytes makes the download unnecessary.
//!
//! Failures (bucket unreachable, 5xx, slow or cut-off downloads) are retried
//! with backoff by the client, then reported in [`SyncStatus`] for
//! `/readyz`; what is already indexed keeps being served.
//!
//! The parts: [`client`] builds the object-store client (credentials,
//! endpoint, retries, signing), [`mirror`] writes copies, [`flights`] shares
//! first fetches, [`misses`] remembers absent runs, [`status`] is what
//! `/readyz` and `/metrics` show. [`Bucket`] here is the sync loop and the
//! first fetch that use them.

mod client;
mod flights;
mod mirror;
mod misses;
mod status;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

pub use client::EMULATOR_HOST_VAR;
pub use status::{SyncReport, SyncState, SyncStatus};

use flights::Flights;
use misses::MissCache;

use crate::config::{Config, GcsConfig, MirrorTarget, OnDelete};
use crate::ingest::{Ingestor, Tail};
use crate::logfiles::{file_mtime_ns, file_name, local_wins_over_object, run_id_from_file_name};
use crate::store::{ObjectRecord, Store};

/// Objects downloaded, then indexed in one commit, at a time: a first sync
/// of a large bucket makes runs searchable as it goes, not at its end.
const RUNS_PER_COMMIT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("bucket request failed: {0}")]
    Bucket(#[from] object_store::Error),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("download of {name} was cut off after {got} of {expected} bytes")]
    Truncated {
        name: String,
        got: u64,
        expected: u64,
    },
    #[error("invalid GCS configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("background task failed: {0}")]
    Task(String),
}

pub struct Bucket {
    storage: object_store::gcp::GoogleCloudStorage,
    can_sign: bool,
    config: GcsConfig,
    log_dir: PathBuf,
    mirror_dir: PathBuf,
    ingestor: Arc<Ingestor>,
    store: Arc<Store>,
    status: Mutex<SyncStatus>,
    /// Misses being looked up now, so concurrent requests share one lookup.
    flights: Flights,
    /// Runs found in neither place, for a while.
    misses: MissCache,
}

/// Where the bucket is mirrored for `config`, or `None` with no bucket.
/// `LogFiles/` itself when so configured and writable; else the data folder.
pub fn mirror_dir(config: &Config, log_dir: &Path) -> Option<PathBuf> {
    let bucket = config.gcs.bucket.as_ref()?;
    let in_data = config.data.join("gcs-mirror").join(bucket);
    if config.gcs.mirror == MirrorTarget::Repository {
        if is_writable(log_dir) {
            return Some(log_dir.to_path_buf());
        }
        tracing::warn!(
            dir = %log_dir.display(),
            mirror = %in_data.display(),
            "gcs.mirror = \"repository\" but LogFiles/ is not writable; mirroring under the data directory"
        );
    }
    Some(in_data)
}

fn is_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".runlogd-write-probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

impl Bucket {
    /// Connects the configured bucket (no request is made yet); `None` when
    /// no bucket is configured.
    pub fn open(
        config: &Config,
        mirror_dir: Option<PathBuf>,
        ingestor: Arc<Ingestor>,
        store: Arc<Store>,
    ) -> Result<Option<Bucket>, SyncError> {
        let (Some(bucket), Some(mirror_dir)) = (config.gcs.bucket.clone(), mirror_dir) else {
            return Ok(None);
        };
        let client = client::build(&config.gcs, &bucket)?;
        std::fs::create_dir_all(&mirror_dir).map_err(|source| SyncError::Io {
            path: mirror_dir.clone(),
            source,
        })?;
        mirror::remove_stale_parts(&mirror_dir);
        tracing::info!(
            bucket = %bucket,
            prefix = %config.gcs.prefix,
            endpoint = client.base_url.as_deref().unwrap_or("https://storage.googleapis.com"),
            mirror = %mirror_dir.display(),
            signed_urls = client.can_sign,
            "mirroring the GCS bucket"
        );
        Ok(Some(Bucket {
            status: Mutex::new(SyncStatus::new(bucket.clone(), config.gcs.prefix.clone())),
            storage: client.storage,
            can_sign: client.can_sign,
            config: config.gcs.clone(),
            log_dir: ingestor.log_dir().to_path_buf(),
            mirror_dir,
            ingestor,
            store,
            flights: Flights::default(),
            misses: MissCache::new(Duration::from_secs(config.gcs.miss_cache_secs)),
        }))
    }

    pub fn status(&self) -> SyncStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Syncs now and then every `sync_interval_secs`; after a failure, again
    /// sooner (see [`status::retry_wait`]). Runs until aborted.
    pub async fn run(self: Arc<Self>) {
        let interval = Duration::from_secs(self.config.sync_interval_secs);
        let mut failures = 0u32;
        loop {
            let wait = match self.sync_once().await {
                Ok(report) => {
                    failures = 0;
                    if report != SyncReport::default() {
                        tracing::info!(
                            listed = report.listed,
                            downloaded = report.downloaded,
                            superseded_locally = report.superseded_locally,
                            forgotten = report.forgotten,
                            failed = report.failed,
                            "bucket sync done"
                        );
                    }
                    interval
                }
                Err(e) => {
                    crate::metrics::gcs_sync_failed();
                    failures = failures.saturating_add(1);
                    let wait = status::retry_wait(failures, interval);
                    tracing::warn!(error = %e, failures, retry_in_secs = wait.as_secs(), "bucket sync failed");
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One pass: list, mirror what is new or changed, forget what is gone,
    /// index the runs that changed.
    pub async fn sync_once(&self) -> Result<SyncReport, SyncError> {
        self.update_status(|s| s.last_sync = Some(crate::time_format::now()));
        let result = self.sync_pass().await;
        self.update_status(|s| match &result {
            Ok(report) => {
                s.state = if report.failed == 0 {
                    SyncState::Ok
                } else {
                    SyncState::Error
                };
                s.objects = report.listed;
                s.passes += 1;
                s.last_success = s.last_sync.clone();
                if report.failed == 0 {
                    s.consecutive_failures = 0;
                    s.last_error = None;
                }
            }
            Err(e) => {
                s.state = SyncState::Error;
                s.last_error = Some(e.to_string());
                s.consecutive_failures += 1;
            }
        });
        result
    }

    async fn sync_pass(&self) -> Result<SyncReport, SyncError> {
        let prefix = self.config.prefix.trim_end_matches('/');
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let listed: Vec<ObjectMeta> = self.storage.list(prefix.as_ref()).try_collect().await?;
        let mut report = SyncReport::default();
        let known: HashMap<u64, ObjectRecord> = self
            .store
            .objects()?
            .into_iter()
            .map(|r| (r.run_id, r))
            .collect();
        let mut seen = HashSet::new();
        let mut todo = Vec::new();
        for meta in listed {
            let Some(run_id) = self.run_id_of(&meta.location) else {
                continue;
            };
            seen.insert(run_id);
            report.listed += 1;
            // Unchanged, and whichever file stood for it is still there.
            let unchanged = known.get(&run_id).is_some_and(|r| {
                r.etag == meta.e_tag
                    && r.size == meta.size
                    && r.updated_ns == mirror::updated_ns(&meta)
                    && match &r.mirrored_path {
                        Some(copy) => copy.exists(),
                        None => self.log_dir.join(file_name(run_id)).exists(),
                    }
            });
            if !unchanged {
                todo.push((run_id, meta));
            }
        }
        self.misses.forget_found(|id| seen.contains(&id));

        // Newest first: the runs most likely to be asked for come in first.
        todo.sort_unstable_by_key(|(_, meta)| std::cmp::Reverse(meta.last_modified));
        let mut last_error = None;
        for chunk in todo.chunks(RUNS_PER_COMMIT) {
            let results: Vec<(u64, Result<bool, SyncError>)> =
                futures_util::stream::iter(chunk.iter().cloned())
                    .map(|(run_id, meta)| async move {
                        (run_id, self.mirror_object(run_id, meta).await)
                    })
                    .buffer_unordered(self.config.download_concurrency)
                    .collect()
                    .await;
            let mut changed = Vec::with_capacity(results.len());
            for (run_id, result) in results {
                match result {
                    Ok(true) => {
                        report.downloaded += 1;
                        changed.push(run_id);
                    }
                    Ok(false) => {
                        report.superseded_locally += 1;
                        changed.push(run_id);
                    }
                    Err(e) => {
                        tracing::warn!(run_id, error = %e, "cannot mirror object");
                        report.failed += 1;
                        last_error = Some(e.to_string());
                    }
                }
            }
            self.ingest_runs(changed).await?;
        }
        let mut gone = Vec::new();
        for (run_id, record) in known {
            if !seen.contains(&run_id) {
                self.forget(&record)?;
                report.forgotten += 1;
                gone.push(run_id);
            }
        }
        for chunk in gone.chunks(RUNS_PER_COMMIT) {
            self.ingest_runs(chunk.to_vec()).await?;
        }
        if let Some(e) = last_error {
            self.update_status(|s| {
                s.last_error = Some(e);
                s.consecutive_failures += 1;
            });
        }
        Ok(report)
    }

    /// For a run indexed nowhere: looks for its object, and if there is one,
    /// mirrors and indexes it. `Ok(false)`: the bucket has no such object.
    /// Concurrent calls for one run share one lookup and download.
    pub async fn fetch_missing(&self, run_id: u64) -> Result<bool, Arc<SyncError>> {
        if self.misses.is_missing(run_id, Instant::now()) {
            return Ok(false);
        }
        self.flights
            .share(run_id, || async {
                self.fetch_one(run_id).await.map_err(Arc::new)
            })
            .await
    }

    async fn fetch_one(&self, run_id: u64) -> Result<bool, SyncError> {
        let location = self.object_path(run_id);
        let meta = match self.storage.head(&location).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => {
                self.misses.remember(run_id, Instant::now());
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let started = Instant::now();
        self.mirror_object(run_id, meta).await?;
        self.ingest_runs(vec![run_id]).await?;
        tracing::info!(
            run_id,
            ms = started.elapsed().as_millis() as u64,
            "fetched from the bucket on first request"
        );
        Ok(true)
    }

    /// Where a raw download of the run can be redirected: a signed URL of
    /// its object, when there is one, signing is possible, and the file the
    /// run is served from (`source`) is that object's copy or older.
    pub async fn signed_url(
        &self,
        run_id: u64,
        source: Option<&Path>,
    ) -> Result<Option<String>, SyncError> {
        if !self.can_sign {
            return Ok(None);
        }
        let Some(record) = self.store.object(run_id)? else {
            return Ok(None);
        };
        if let Some(source) = source {
            let is_copy = record.mirrored_path.as_deref() == Some(source);
            if !is_copy
                && file_mtime_ns(source)
                    .is_some_and(|t| local_wins_over_object(t, record.updated_ns))
            {
                return Ok(None);
            }
        }
        let options = SignedUrlOptions::default().with_query([(
            "response-content-disposition",
            format!("attachment; filename=\"{}\"", file_name(run_id)),
        )]);
        let url = self
            .storage
            .signed_url_opts(
                object_store::signer::Method::GET,
                &ObjectPath::from(record.name.as_str()),
                Duration::from_secs(self.config.signed_url_expiry_secs),
                &options,
            )
            .await?;
        Ok(Some(url.to_string()))
    }

    /// Brings the object's copy up to date, unless the `LogFiles/` file
    /// makes it unnecessary; records the object. `Ok(true)`: downloaded.
    async fn mirror_object(&self, run_id: u64, meta: ObjectMeta) -> Result<bool, SyncError> {
        let local = self.log_dir.join(file_name(run_id));
        let target = self.mirror_dir.join(file_name(run_id));
        let updated_ns = mirror::updated_ns(&meta);
        let check = {
            let (local, meta) = (local.clone(), meta.clone());
            tokio::task::spawn_blocking(move || mirror::local_supersedes(&local, &meta))
        };
        let superseded = check
            .await
            .map_err(|e| SyncError::Task(e.to_string()))?
            .map_err(|source| SyncError::Io {
                path: local.clone(),
                source,
            })?;
        let mut record = ObjectRecord {
            run_id,
            name: meta.location.to_string(),
            etag: meta.e_tag.clone(),
            generation: meta.version.clone(),
            size: meta.size,
            updated_ns,
            mirrored_path: None,
        };
        if superseded {
            if target != local {
                remove_if_exists(&target)?;
            }
            self.store.put_object(&record)?;
            return Ok(false);
        }
        let generation =
            mirror::download(&self.storage, &meta.location, &target, updated_ns).await?;
        self.update_status(|s| s.downloaded += 1);
        record.generation = generation.or(record.generation);
        record.mirrored_path = Some(target);
        self.store.put_object(&record)?;
        Ok(true)
    }

    /// The object is gone from the bucket: forget it, and with
    /// `on_delete = "drop"` remove its copy (never a newer local file).
    fn forget(&self, record: &ObjectRecord) -> Result<(), SyncError> {
        self.store.delete_object(record.run_id)?;
        if self.config.on_delete == OnDelete::Keep {
            return Ok(());
        }
        if let Some(copy) = &record.mirrored_path {
            let still_ours = copy.parent() == Some(self.mirror_dir.as_path())
                && (self.mirror_dir != self.log_dir
                    || file_mtime_ns(copy).is_some_and(|t| t == record.updated_ns));
            if still_ours {
                remove_if_exists(copy)?;
            }
        }
        Ok(())
    }

    async fn ingest_runs(&self, runs: Vec<u64>) -> Result<(), SyncError> {
        if runs.is_empty() {
            return Ok(());
        }
        let ingestor = self.ingestor.clone();
        tokio::task::spawn_blocking(move || {
            let runs: Vec<(u64, Tail)> = runs.into_iter().map(|id| (id, Tail::Complete)).collect();
            ingestor.sync_runs(&runs)
        })
        .await
        .map_err(|e| SyncError::Task(e.to_string()))??;
        Ok(())
    }

    fn object_path(&self, run_id: u64) -> ObjectPath {
        ObjectPath::from(format!("{}{}", self.config.prefix, file_name(run_id)))
    }

    /// The run id of an object directly under the prefix named `{run_id}.txt`.
    fn run_id_of(&self, location: &ObjectPath) -> Option<u64> {
        let name = location
            .as_ref()
            .strip_prefix(self.config.prefix.as_str())?;
        if name.contains('/') {
            return None;
        }
        run_id_from_file_name(name)
    }

    fn update_status(&self, f: impl FnOnce(&mut SyncStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

fn remove_if_exists(path: &Path) -> Result<(), SyncError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SyncError::Io {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}
