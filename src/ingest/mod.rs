//! The path from a change to a run's file to an index commit.
//!
//! Whatever noticed the change (the watch loop, the start-up scan, the
//! periodic reconcile, the bucket sync, a first request for a run not
//! indexed yet) hands run ids to [`Ingestor::sync_runs`] or
//! [`Ingestor::scan`], and each run goes through the same steps:
//!
//! 1. **plan** ([`plan`]): compare the file ([`crate::logfiles`] says which
//!    copy is the run's) with what the store remembers and the index holds:
//!    unchanged, touched, grown, replaced, or gone;
//! 2. **read and parse** ([`read`]): from where indexing left off, a chunk at
//!    a time, staging lines in an index batch;
//! 3. **write**: one index commit for the whole batch of runs;
//! 4. **record**: the store learns what the commit holds.
//!
//! The store is written after the commit, while the index writer is still
//! held, so a concurrent sync (a first request racing the start-up scan for
//! the same run) never plans from an index that is ahead of the store. After
//! a crash between the two, the store's record and the index's run document
//! disagree, and the next plan indexes that run again.

mod fingerprint;
pub mod plan;
mod progress;
pub mod read;
mod skipped;
mod tails;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use fingerprint::{fingerprint, fingerprint_matches};
pub use progress::{ScanProgress, ScanSummary};
pub use skipped::{Skipped, SkippedReport};

use crate::index::{LogIndex, WriteBatch};
use crate::logfiles::{LogFiles, OpenLog, SkipReason};
use crate::parse::Parser;
use crate::store::{RunChange, RunRecord, RunSignatures, Store};
use plan::{FileStat, Plan, Probe};
use read::{ParseFrom, ParseUntil, ReadError};
use tails::PendingTails;

/// The start-up scan commits at least this often, so progress is visible and
/// a crash loses little work.
const SCAN_COMMIT_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub type Result<T> = std::result::Result<T, IngestError>;

/// What a sync did to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The file and the index already agree.
    Unchanged,
    /// New lines were appended after those already indexed.
    Appended { lines: u64 },
    /// The run was indexed from the start (new, replaced, or repaired).
    Indexed { lines: u64 },
    /// The file is gone and so are its lines.
    Removed,
    /// There is no such file and nothing indexed for it.
    Missing,
    /// An entry is there, but it is not a log that may be read (see
    /// [`crate::logfiles::open_entry`]); nothing of it is in the index.
    Refused(SkipReason),
}

impl Outcome {
    /// What changed in the index, as the metrics label it; `None` when
    /// nothing did.
    pub fn change(&self) -> Option<&'static str> {
        match self {
            Outcome::Indexed { .. } => Some("indexed"),
            Outcome::Appended { .. } => Some("appended"),
            Outcome::Removed => Some("removed"),
            Outcome::Unchanged | Outcome::Missing | Outcome::Refused(_) => None,
        }
    }
}

/// What to do with a last line that has no newline yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The writer is done with the file (it was renamed into place or
    /// closed): the last line is complete, newline or not.
    Complete,
    /// The writer may still be appending: index the last line only once the
    /// file has been quiet for the configured moment; until then remember it
    /// in [`Ingestor::due_tails`].
    WhenQuiet,
}

pub struct Ingestor {
    files: LogFiles,
    index: Arc<LogIndex>,
    store: Arc<Store>,
    parser: Arc<Parser>,
    pub progress: Arc<ScanProgress>,
    /// Set on shutdown: a running scan commits what it has and returns.
    stop: AtomicBool,
    /// How long a file must be unchanged before its unterminated last line
    /// is taken as complete.
    quiet: Duration,
    pending_tails: PendingTails,
    /// Entries named like logs that are not read, for `/readyz`.
    skipped: Skipped,
}

/// What to write to the store after a commit.
enum Change {
    None,
    /// A run's record, and the signature counts of the lines just indexed
    /// (none when only the file's metadata changed).
    Put(Box<RunRecord>, Option<Box<RunSignatures>>),
    Delete(u64),
}

impl Ingestor {
    /// Reads runs from `files`.
    pub fn new(
        files: LogFiles,
        index: Arc<LogIndex>,
        store: Arc<Store>,
        parser: Arc<Parser>,
        quiet: Duration,
    ) -> Ingestor {
        Ingestor {
            files,
            index,
            store,
            parser,
            progress: Arc::default(),
            stop: AtomicBool::new(false),
            quiet,
            pending_tails: PendingTails::default(),
            skipped: Skipped::default(),
        }
    }

    /// Asks a running scan to commit what it has and return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether [`Ingestor::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub fn files(&self) -> &LogFiles {
        &self.files
    }

    pub fn log_dir(&self) -> &Path {
        self.files.dir()
    }

    /// The entries named like logs that are not read, and why.
    pub fn skipped(&self) -> &Skipped {
        &self.skipped
    }

    /// Brings one run up to date with its file and commits.
    pub fn sync_run(&self, run_id: u64) -> Result<Outcome> {
        let outcomes = self.sync_runs(&[(run_id, Tail::WhenQuiet)])?;
        Ok(outcomes.first().copied().unwrap_or(Outcome::Missing))
    }

    /// Brings several runs up to date in one commit (what one burst of file
    /// events touched); returns each run's outcome in order.
    pub fn sync_runs(&self, runs: &[(u64, Tail)]) -> Result<Vec<Outcome>> {
        let mut batch = self.index.batch()?;
        let mut outcomes = Vec::with_capacity(runs.len());
        let mut changes = Vec::with_capacity(runs.len());
        for &(run_id, tail) in runs {
            let (outcome, change) = self.sync_isolated(&mut batch, run_id, tail)?;
            outcomes.push(outcome);
            changes.push(change);
        }
        batch.commit_then(|| self.record_all(changes))??;
        Ok(outcomes)
    }

    /// Runs whose unterminated last line has now been quiet long enough to
    /// index; they are forgotten here, and come back if still not quiet.
    pub fn due_tails(&self) -> Vec<u64> {
        self.pending_tails.take_due(Instant::now())
    }

    /// When the next pending tail is due, if any.
    pub fn next_tail_due(&self) -> Option<Instant> {
        self.pending_tails.next_due()
    }

    /// Indexes every run file in the folder that is new or changed, and drops
    /// runs whose files are gone, reporting progress for `/readyz`, which it
    /// marks ready when done. Used at start-up.
    pub fn scan(&self) -> Result<ScanSummary> {
        let summary = self.scan_with(Some(&self.progress))?;
        self.progress.ready.store(true, Ordering::Release);
        Ok(summary)
    }

    /// The same as [`Ingestor::scan`], without touching the start-up
    /// progress: the periodic repair of anything a file event missed. A
    /// whole pass also makes the daemon ready, should the start-up scan
    /// have failed (the folder could not be listed, say).
    pub fn reconcile(&self) -> Result<ScanSummary> {
        let summary = self.scan_with(None)?;
        if !self.stop.load(Ordering::Acquire) {
            self.progress.ready.store(true, Ordering::Release);
        }
        Ok(summary)
    }

    fn scan_with(&self, progress: Option<&ScanProgress>) -> Result<ScanSummary> {
        let started = Instant::now();
        let ids = self.files.list().map_err(|source| IngestError::Io {
            path: self.files.dir().to_path_buf(),
            source,
        })?;
        let known: Vec<u64> = self.store.runs()?.iter().map(|r| r.run_id).collect();
        let gone: Vec<u64> = known
            .into_iter()
            .filter(|id| ids.binary_search(id).is_err())
            .collect();
        if let Some(p) = progress {
            p.files_total
                .store((ids.len() + gone.len()) as u64, Ordering::Relaxed);
        }

        let mut summary = ScanSummary::default();
        let mut batch = self.index.batch()?;
        let mut pending = Vec::new();
        let mut last_commit = Instant::now();
        for run_id in ids.iter().chain(gone.iter()).copied() {
            if self.stop.load(Ordering::Acquire) {
                tracing::info!("scan stopped before the end; it resumes at next start");
                break;
            }
            let (outcome, change) = self.sync_isolated(&mut batch, run_id, Tail::WhenQuiet)?;
            summary.count(outcome);
            pending.push(change);
            if let Some(p) = progress {
                p.files_done.fetch_add(1, Ordering::Relaxed);
            }
            if last_commit.elapsed() >= SCAN_COMMIT_EVERY {
                let done = std::mem::take(&mut pending);
                batch.commit_then(|| self.record_all(done))??;
                batch = self.index.batch()?;
                last_commit = Instant::now();
            }
        }
        batch.commit_then(|| self.record_all(pending))??;
        self.skipped.retain_existing();
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// [`Ingestor::sync_into`], with one run's file trouble kept to that
    /// run: a file that fails while it is read leaves the index (whatever
    /// of it was staged included) and is reported as unreadable, and the
    /// batch goes on with the other runs. Only the index and the store
    /// failing stop the batch.
    fn sync_isolated(
        &self,
        batch: &mut WriteBatch<'_>,
        run_id: u64,
        tail: Tail,
    ) -> Result<(Outcome, Change)> {
        match self.sync_into(batch, run_id, tail) {
            Err(IngestError::Io { path, source }) => {
                let skip = crate::logfiles::Skip {
                    reason: SkipReason::Unreadable,
                    detail: source.to_string(),
                };
                self.skipped.update(&path, Some(&skip));
                self.pending_tails.clear(run_id);
                batch.delete_run(run_id)?;
                Ok((Outcome::Refused(skip.reason), Change::Delete(run_id)))
            }
            other => other,
        }
    }

    /// Plans `run_id`, stages what the plan asks for into `batch`, and
    /// returns what to write to the store once the batch is committed.
    fn sync_into(
        &self,
        batch: &mut WriteBatch<'_>,
        run_id: u64,
        tail: Tail,
    ) -> Result<(Outcome, Change)> {
        let entries = self.files.open_run(run_id);
        for (path, skip) in &entries.seen {
            self.skipped.update(path, skip.as_ref());
        }
        let refused = entries.refusal().map(|s| s.reason);
        let path = match &entries.log {
            Some(log) => log.path.clone(),
            None => self.files.local(run_id),
        };
        let io = |source| IngestError::Io {
            path: path.clone(),
            source,
        };
        let (file, stat) = match entries.log {
            Some(OpenLog { path, file, meta }) => {
                let stat = FileStat {
                    path,
                    size: meta.len(),
                    mtime_ns: crate::logfiles::mtime_ns(&meta),
                };
                (Some(file), Some(stat))
            }
            None => (None, None),
        };
        let record = self.store.run(run_id)?;
        // Only asked when it can change the plan: a new file with no record
        // is indexed from the start whatever the index holds.
        let indexed = if record.is_some() || file.is_none() {
            self.index.snapshot().run_meta(run_id)?
        } else {
            None
        };
        let plan = match &file {
            Some(f) => plan::plan(
                run_id,
                stat.as_ref(),
                record.as_ref(),
                indexed,
                &mut FileProbe(f),
            ),
            None => plan::plan(run_id, None, record.as_ref(), indexed, &mut NoFile),
        }
        .map_err(io)?;
        // Only the plans for a file that exists read it.
        let mut opened = file.zip(stat);
        let mut take_file = || {
            opened
                .take()
                .ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))
        };
        let synced = match plan {
            Plan::Unchanged => (Outcome::Unchanged, Change::None),
            Plan::Missing => (Outcome::Missing, Change::None),
            Plan::Restat(record) => (Outcome::Unchanged, Change::Put(Box::new(record), None)),
            Plan::Remove => {
                batch.delete_run(run_id)?;
                (Outcome::Removed, Change::Delete(run_id))
            }
            Plan::Full { generation } => {
                let (file, stat) = take_file()?;
                let generation = match generation {
                    Some(g) => g,
                    None => self.store.next_generation()?,
                };
                batch.delete_run(run_id)?;
                let from = ParseFrom::start();
                let (record, counts) =
                    self.index_from(batch, run_id, file, from, stat, generation, tail)?;
                let lines = record.lines_indexed;
                (
                    Outcome::Indexed { lines },
                    Change::Put(Box::new(record), Some(Box::new(counts))),
                )
            }
            Plan::Append { from, section } => {
                let (file, stat) = take_file()?;
                let start = ParseFrom::after(&from, section);
                let (updated, counts) =
                    self.index_from(batch, run_id, file, start, stat, from.generation, tail)?;
                let lines = updated.lines_indexed - from.lines_indexed;
                (
                    Outcome::Appended { lines },
                    Change::Put(Box::new(updated), Some(Box::new(counts))),
                )
            }
        };
        if let Some(change) = synced.0.change() {
            crate::metrics::run_synced(change);
        }
        // A refused entry is what the caller hears of, whether or not the
        // run had lines to remove.
        match refused {
            Some(reason) => Ok((Outcome::Refused(reason), synced.1)),
            None => Ok(synced),
        }
    }

    /// Parses `file` from `start` to the size it had when planned, stages
    /// its lines and the run's document, and returns the run's new record
    /// and the new lines counted by signature.
    #[allow(clippy::too_many_arguments)]
    fn index_from(
        &self,
        batch: &mut WriteBatch<'_>,
        run_id: u64,
        mut file: File,
        start: ParseFrom,
        stat: FileStat,
        generation: u64,
        tail: Tail,
    ) -> Result<(RunRecord, RunSignatures)> {
        let FileStat {
            path,
            size,
            mtime_ns,
        } = stat;
        let quiet_for = quiet_since(mtime_ns);
        let until = ParseUntil {
            size,
            take_tail: tail == Tail::Complete || quiet_for >= self.quiet,
        };
        let from = start.offset;
        let first_line = start.state.next_line;
        let on_bytes = |n: u64| {
            self.progress.bytes_done.fetch_add(n, Ordering::Relaxed);
        };
        // From the top, the counts replace the run's; else they add to them.
        let mut counts = RunSignatures::new(start.offset == 0);
        let parsed = read::parse_into(
            batch,
            &mut counts,
            &self.parser,
            run_id,
            &mut file,
            start,
            until,
            &on_bytes,
        )
        .map_err(|e| match e {
            ReadError::Io(source) => IngestError::Io {
                path: path.clone(),
                source,
            },
            ReadError::Index(e) => IngestError::Index(e),
        })?;
        let lines = parsed.state.next_line - 1;
        crate::metrics::parsed(
            parsed.state.next_line.saturating_sub(first_line),
            parsed.offset - from,
        );
        if parsed.offset < size {
            let wait = self.quiet.saturating_sub(quiet_for);
            self.pending_tails.wait(run_id, Instant::now() + wait);
        } else {
            self.pending_tails.clear(run_id);
        }
        batch.set_run_meta(run_id, crate::index::RunMeta { generation, lines })?;
        let fingerprint = fingerprint(&file, parsed.offset).map_err(|source| IngestError::Io {
            path: path.clone(),
            source,
        })?;
        if counts.uncounted > 0 {
            tracing::warn!(
                run_id,
                lines = counts.uncounted,
                "lines with more distinct signatures than are counted per run are indexed but not counted"
            );
        }
        let record = RunRecord {
            run_id,
            path,
            size,
            mtime_ns,
            fingerprint,
            bytes_indexed: parsed.offset,
            lines_indexed: lines,
            generation,
            parse_section: parsed.state.section.as_u8(),
            levels: parsed.levels,
        };
        Ok((record, counts))
    }

    /// Writes what a committed batch did to the store, in one transaction.
    fn record_all(&self, changes: Vec<Change>) -> Result<()> {
        let changes: Vec<RunChange<'_>> = changes
            .iter()
            .filter_map(|change| match change {
                Change::None => None,
                Change::Put(record, counts) => Some(RunChange::Put(record, counts.as_deref())),
                Change::Delete(run_id) => Some(RunChange::Delete(*run_id)),
            })
            .collect();
        if !changes.is_empty() {
            self.store.record_changes(&changes)?;
        }
        Ok(())
    }
}

/// Answers the plan's questions from the open file.
struct FileProbe<'a>(&'a File);

impl Probe for FileProbe<'_> {
    fn starts_with(&mut self, len: u64, digest: &[u8]) -> std::io::Result<bool> {
        fingerprint_matches(self.0, len, digest)
    }

    fn ends_line_at(&mut self, len: u64) -> std::io::Result<bool> {
        // In the file's own encoding: a UTF-16 newline is two bytes.
        let (encoding, bom) = read::file_encoding(self.0)?;
        if len <= bom as u64 {
            return Ok(true);
        }
        let mut last = [0u8; 2];
        let last = &mut last[..encoding.unit()];
        self.0.read_exact_at(last, len - last.len() as u64)?;
        Ok(encoding.line_end(last) == Some(0))
    }
}

/// The plan for a file that does not exist asks nothing of it.
struct NoFile;

impl Probe for NoFile {
    fn starts_with(&mut self, _: u64, _: &[u8]) -> std::io::Result<bool> {
        Ok(false)
    }

    fn ends_line_at(&mut self, _: u64) -> std::io::Result<bool> {
        Ok(false)
    }
}

/// How long ago a file was last modified (zero if in the future).
fn quiet_since(mtime_ns: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Duration::from_nanos(now.saturating_sub(mtime_ns).max(0) as u64)
}
