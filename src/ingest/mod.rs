//! Bringing log files into the index: decide what changed, parse, write.
//!
//! Every path that brings a file in (the start-up scan, an on-demand request
//! for a run not indexed yet) goes through [`Ingestor::sync_run`] or
//! [`Ingestor::scan`], which compare the file with what the store remembers:
//!
//! * unchanged size and mtime: nothing to do;
//! * the indexed bytes are still the file's prefix (same [`fingerprint`]):
//!   the file grew, so only the new lines are parsed and added, and cursors
//!   stay valid;
//! * anything else: the content was replaced, so the run is re-indexed in one
//!   commit under a new generation, which makes old cursors fail loudly;
//! * the file is gone: the run leaves the index.
//!
//! A run's file is `LogFiles/{run_id}.txt`, or, when the bucket is mirrored
//! into a separate folder (see [`crate::sync`]), the copy there: of the two,
//! the one modified last wins (the mirror sets each copy's mtime to the
//! object's update time), so a log rewritten locally after it was uploaded
//! is served as rewritten, and a newer upload replaces an older local file.
//!
//! The index commit comes first and the store is written after it, while the
//! index writer is still held, so a concurrent sync (a first request racing
//! the start-up scan for the same run) never plans from an index that is
//! ahead of the store. After a crash between the two, the store's record and
//! the index's run document disagree, and the next sync re-indexes that run.

mod fingerprint;
mod naming;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use fingerprint::fingerprint;
pub use naming::{run_id_from_file_name, MAX_RUN_ID};

use crate::index::{LogIndex, RunMeta, WriteBatch};
use crate::parse::{ParseState, Parser, Section};
use crate::store::{RunRecord, Store};

/// Bytes read from a file per parse step; bounds memory for huge logs.
const CHUNK_BYTES: usize = 4 << 20;
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

/// Progress of the start-up scan, read by `/readyz`.
#[derive(Debug, Default)]
pub struct ScanProgress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
    pub ready: AtomicBool,
    /// Why this scan rebuilds the whole index, when it does.
    rebuild: std::sync::OnceLock<String>,
}

impl ScanProgress {
    /// Marks this start-up scan as a rebuild of the whole index.
    pub fn set_rebuild(&self, reason: String) {
        let _ = self.rebuild.set(reason);
    }

    pub fn rebuild(&self) -> Option<&str> {
        self.rebuild.get().map(String::as_str)
    }
}

/// Set on shutdown: a running scan commits what it has and returns.
#[derive(Debug, Default)]
struct StopFlag(AtomicBool);

pub struct Ingestor {
    log_dir: PathBuf,
    /// Where the bucket's objects are mirrored, when not into `log_dir` itself.
    mirror_dir: Option<PathBuf>,
    index: Arc<LogIndex>,
    store: Arc<Store>,
    parser: Arc<Parser>,
    pub progress: Arc<ScanProgress>,
    stop: StopFlag,
    /// How long a file must be unchanged before its unterminated last line
    /// is taken as complete.
    quiet: Duration,
    /// Runs with an unterminated last line not indexed yet, and when to look again.
    pending_tails: Mutex<HashMap<u64, Instant>>,
}

/// How a run will be brought up to date.
enum Plan {
    Unchanged,
    /// Only the stat changed (e.g. touched); remember the new one.
    Restat(RunRecord),
    Append {
        file: File,
        path: PathBuf,
        record: RunRecord,
        size: u64,
        mtime_ns: i64,
    },
    Full {
        file: File,
        path: PathBuf,
        size: u64,
        mtime_ns: i64,
        generation: Option<u64>,
    },
    Remove,
    Missing,
}

impl Ingestor {
    /// `log_dir` is the `LogFiles/` folder itself.
    pub fn new(
        log_dir: PathBuf,
        index: Arc<LogIndex>,
        store: Arc<Store>,
        parser: Arc<Parser>,
        quiet: Duration,
    ) -> Ingestor {
        Ingestor {
            log_dir,
            mirror_dir: None,
            index,
            store,
            parser,
            progress: Arc::default(),
            stop: StopFlag::default(),
            quiet,
            pending_tails: Mutex::default(),
        }
    }

    /// Also reads runs from `dir`, where the bucket is mirrored; a run in both
    /// folders is read from the file modified last.
    pub fn with_mirror(mut self, dir: PathBuf) -> Ingestor {
        if dir != self.log_dir {
            self.mirror_dir = Some(dir);
        }
        self
    }

    /// Asks a running scan to commit what it has and return.
    pub fn stop(&self) {
        self.stop.0.store(true, Ordering::Release);
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    pub fn log_path(&self, run_id: u64) -> PathBuf {
        self.log_dir.join(format!("{run_id}.txt"))
    }

    /// The file a run is read from: its `LogFiles/` file or its mirrored
    /// copy, whichever was modified last (the local file on a tie); `None`
    /// when neither exists.
    pub fn source_path(&self, run_id: u64) -> Option<PathBuf> {
        let name = format!("{run_id}.txt");
        let mtime = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
        };
        let local = self.log_dir.join(&name);
        let local_mtime = mtime(&local);
        let mirrored = self.mirror_dir.as_ref().map(|d| d.join(&name));
        match (
            local_mtime,
            mirrored.as_deref().and_then(|p| mtime(p).map(|t| (p, t))),
        ) {
            (Some(l), Some((m, t))) if t > l => Some(m.to_path_buf()),
            (Some(_), _) => Some(local),
            (None, Some((m, _))) => Some(m.to_path_buf()),
            (None, None) => None,
        }
    }

    /// Brings one run up to date with its file and commits.
    pub fn sync_run(&self, run_id: u64) -> Result<Outcome> {
        Ok(self.sync_runs(&[(run_id, Tail::WhenQuiet)])?[0])
    }

    /// Brings several runs up to date in one commit (what one burst of file
    /// events touched); returns each run's outcome in order.
    pub fn sync_runs(&self, runs: &[(u64, Tail)]) -> Result<Vec<Outcome>> {
        let mut batch = self.index.batch()?;
        let mut outcomes = Vec::with_capacity(runs.len());
        let mut changes = Vec::with_capacity(runs.len());
        for &(run_id, tail) in runs {
            let (outcome, change) = self.sync_into(&mut batch, run_id, tail)?;
            outcomes.push(outcome);
            changes.push(change);
        }
        batch.commit_then(|| self.record_all(changes))??;
        Ok(outcomes)
    }

    /// Runs whose unterminated last line has now been quiet long enough to
    /// index; they are forgotten here, and come back if still not quiet.
    pub fn due_tails(&self) -> Vec<u64> {
        let now = Instant::now();
        let Ok(mut pending) = self.pending_tails.lock() else {
            return Vec::new();
        };
        let due: Vec<u64> = pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            pending.remove(id);
        }
        due
    }

    /// When the next pending tail is due, if any.
    pub fn next_tail_due(&self) -> Option<Instant> {
        self.pending_tails
            .lock()
            .ok()
            .and_then(|p| p.values().min().copied())
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
    /// progress: the periodic repair of anything a file event missed.
    pub fn reconcile(&self) -> Result<ScanSummary> {
        self.scan_with(None)
    }

    fn scan_with(&self, progress: Option<&ScanProgress>) -> Result<ScanSummary> {
        let started = Instant::now();
        let mut ids = self.list_run_files()?;
        ids.sort_unstable();
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
            if self.stop.0.load(Ordering::Acquire) {
                tracing::info!("scan stopped before the end; it resumes at next start");
                break;
            }
            let (outcome, change) = self.sync_into(&mut batch, run_id, Tail::WhenQuiet)?;
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
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// The run ids of the well-named files in the log folder and the mirror.
    fn list_run_files(&self) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for dir in std::iter::once(&self.log_dir).chain(self.mirror_dir.as_ref()) {
            list_run_files_in(dir, &mut ids)?;
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Stages the changes that bring `run_id` up to date into `batch`, and
    /// returns what to write to the store once the batch is committed.
    fn sync_into(
        &self,
        batch: &mut WriteBatch<'_>,
        run_id: u64,
        tail: Tail,
    ) -> Result<(Outcome, Change)> {
        let plan = self.plan(run_id)?;
        let synced = match plan {
            Plan::Unchanged => (Outcome::Unchanged, Change::None),
            Plan::Missing => (Outcome::Missing, Change::None),
            Plan::Restat(record) => (Outcome::Unchanged, Change::Put(record)),
            Plan::Remove => {
                batch.delete_run(run_id);
                (Outcome::Removed, Change::Delete(run_id))
            }
            Plan::Full {
                file,
                path,
                size,
                mtime_ns,
                generation,
            } => {
                let generation = match generation {
                    Some(g) => g,
                    None => self.store.next_generation()?,
                };
                batch.delete_run(run_id);
                let start = Resume {
                    offset: 0,
                    state: ParseState::default(),
                    levels: [0; 5],
                };
                let target = Target {
                    path,
                    size,
                    mtime_ns,
                    generation,
                    tail,
                };
                let record = self.index_from(batch, run_id, file, start, target)?;
                let lines = record.lines_indexed;
                (Outcome::Indexed { lines }, Change::Put(record))
            }
            Plan::Append {
                file,
                path,
                record,
                size,
                mtime_ns,
            } => {
                let start = Resume {
                    offset: record.bytes_indexed,
                    state: ParseState {
                        next_line: record.lines_indexed + 1,
                        section: Section::from_u8(record.parse_section).unwrap_or_default(),
                    },
                    levels: record.levels,
                };
                let target = Target {
                    path,
                    size,
                    mtime_ns,
                    generation: record.generation,
                    tail,
                };
                let updated = self.index_from(batch, run_id, file, start, target)?;
                let lines = updated.lines_indexed - record.lines_indexed;
                (Outcome::Appended { lines }, Change::Put(updated))
            }
        };
        crate::metrics::run_synced(&synced.0);
        Ok(synced)
    }

    fn plan(&self, run_id: u64) -> Result<Plan> {
        let path = self
            .source_path(run_id)
            .unwrap_or_else(|| self.log_path(run_id));
        let record = self.store.run(run_id)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let indexed = self.index.snapshot().run_meta(run_id)?.is_some();
                return Ok(if record.is_some() || indexed {
                    Plan::Remove
                } else {
                    Plan::Missing
                });
            }
            Err(source) => return Err(IngestError::Io { path, source }),
        };
        let meta = file.metadata().map_err(|source| IngestError::Io {
            path: path.clone(),
            source,
        })?;
        let size = meta.len();
        let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        let Some(record) = record else {
            return Ok(Plan::Full {
                file,
                path,
                size,
                mtime_ns,
                generation: None,
            });
        };
        // The index must hold exactly what the record says; otherwise a crash
        // came between the index commit and the store write: start over.
        let expected = RunMeta {
            generation: record.generation,
            lines: record.lines_indexed,
        };
        let prefix_kept = size >= record.bytes_indexed
            && fingerprint(&file, record.bytes_indexed).map_err(|source| IngestError::Io {
                path: path.clone(),
                source,
            })? == record.fingerprint;
        if self.index.snapshot().run_meta(run_id)? != Some(expected) {
            // A crash between the index commit and the store write, or an
            // index rebuilt from scratch. When the file still starts with
            // what was indexed, its lines are the ones cursors were issued
            // for: the generation is kept, so those cursors stay valid.
            tracing::info!(run_id, "index and state disagree; re-indexing run");
            return Ok(Plan::Full {
                file,
                path,
                size,
                mtime_ns,
                generation: prefix_kept.then_some(record.generation),
            });
        }
        if size == record.size
            && mtime_ns == record.mtime_ns
            && path == record.path
            && record.bytes_indexed == size
        {
            return Ok(Plan::Unchanged);
        }
        if !prefix_kept {
            return Ok(Plan::Full {
                file,
                path,
                size,
                mtime_ns,
                generation: None,
            });
        }
        if size == record.bytes_indexed {
            return Ok(Plan::Restat(RunRecord {
                size,
                mtime_ns,
                path,
                ..record
            }));
        }
        // The last indexed line had no newline yet: it is about to change, so
        // index the run again, keeping its generation (the content only grew).
        if !self.ends_with_newline(&file, record.bytes_indexed)? {
            return Ok(Plan::Full {
                file,
                path,
                size,
                mtime_ns,
                generation: Some(record.generation),
            });
        }
        Ok(Plan::Append {
            file,
            path,
            record,
            size,
            mtime_ns,
        })
    }

    fn ends_with_newline(&self, file: &File, len: u64) -> Result<bool> {
        if len == 0 {
            return Ok(true);
        }
        let mut byte = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(file, &mut byte, len - 1).map_err(|source| {
            IngestError::Io {
                path: self.log_dir.clone(),
                source,
            }
        })?;
        Ok(byte[0] == b'\n')
    }

    /// Parses `file` from `start` up to `target.size` bytes and stages its lines.
    fn index_from(
        &self,
        batch: &mut WriteBatch<'_>,
        run_id: u64,
        mut file: File,
        start: Resume,
        target: Target,
    ) -> Result<RunRecord> {
        let Target {
            path,
            size,
            mtime_ns,
            generation,
            tail,
        } = target;
        let quiet_for = quiet_since(mtime_ns);
        let take_tail = tail == Tail::Complete || quiet_for >= self.quiet;
        let io = |source| IngestError::Io {
            path: path.clone(),
            source,
        };
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start.offset)).map_err(io)?;
        let mut reader = file.by_ref().take(size - start.offset);
        let first_line = start.state.next_line;
        let mut state = start.state;
        let mut levels = start.levels;
        let mut consumed = start.offset;
        // A read of one byte past the expected end finds EOF without a
        // second pass; a small file never pays for a whole chunk of zeroes.
        let step = CHUNK_BYTES.min((size - start.offset) as usize + 1);
        let mut buf: Vec<u8> = Vec::with_capacity(step);
        loop {
            let before = buf.len();
            buf.resize(before + step, 0);
            let n = reader.read(&mut buf[before..]).map_err(io)?;
            buf.truncate(before + n);
            let eof = n == 0;
            let (lines, used) = self.parser.parse(&mut state, &buf, eof && take_tail);
            for l in &lines {
                levels[l.level.as_u64() as usize] += 1;
            }
            batch.add_lines(run_id, lines)?;
            consumed += used as u64;
            self.progress
                .bytes_done
                .fetch_add(used as u64, Ordering::Relaxed);
            buf.drain(..used);
            if eof {
                break;
            }
        }
        let lines = state.next_line - 1;
        crate::metrics::parsed(
            state.next_line.saturating_sub(first_line),
            consumed - start.offset,
        );
        if let Ok(mut pending) = self.pending_tails.lock() {
            if consumed < size {
                let wait = self.quiet.saturating_sub(quiet_for);
                pending.insert(run_id, Instant::now() + wait);
            } else {
                pending.remove(&run_id);
            }
        }
        batch.set_run_meta(run_id, RunMeta { generation, lines })?;
        let fingerprint = fingerprint(&file, consumed).map_err(io)?;
        Ok(RunRecord {
            run_id,
            path,
            size,
            mtime_ns,
            fingerprint,
            bytes_indexed: consumed,
            lines_indexed: lines,
            generation,
            parse_section: state.section.as_u8(),
            levels,
        })
    }

    /// Writes what a committed batch did to the store.
    fn record_all(&self, changes: Vec<Change>) -> Result<()> {
        for change in changes {
            self.record(change)?;
        }
        Ok(())
    }

    fn record(&self, change: Change) -> Result<()> {
        match change {
            Change::None => {}
            Change::Put(record) => self.store.put_runs(&[record])?,
            Change::Delete(run_id) => self.store.delete_runs(&[run_id])?,
        }
        Ok(())
    }
}

/// Where parsing starts.
struct Resume {
    offset: u64,
    state: ParseState,
    /// Lines of each level already indexed before `offset`.
    levels: [u64; 5],
}

/// The file version being indexed, and how to treat its last line.
struct Target {
    path: PathBuf,
    size: u64,
    mtime_ns: i64,
    generation: u64,
    tail: Tail,
}

/// Adds the run ids of the well-named files in `dir` to `ids`.
fn list_run_files_in(dir: &Path, ids: &mut Vec<u64>) -> Result<()> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "log folder does not exist yet");
            return Ok(());
        }
        Err(e) => return Err(io(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        match name.to_str().and_then(run_id_from_file_name) {
            Some(id) => ids.push(id),
            None => tracing::debug!(file = ?name, "ignoring file not named {{run_id}}.txt"),
        }
    }
    Ok(())
}

/// How long ago a file was last modified (zero if in the future).
fn quiet_since(mtime_ns: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Duration::from_nanos(now.saturating_sub(mtime_ns).max(0) as u64)
}

/// What to write to the store after a commit.
enum Change {
    None,
    Put(RunRecord),
    Delete(u64),
}

/// Counts of what a scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    pub unchanged: u64,
    pub indexed: u64,
    pub appended: u64,
    pub removed: u64,
    pub lines: u64,
    pub elapsed: Duration,
}

impl ScanSummary {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Unchanged | Outcome::Missing => self.unchanged += 1,
            Outcome::Indexed { lines } => {
                self.indexed += 1;
                self.lines += lines;
            }
            Outcome::Appended { lines } => {
                self.appended += 1;
                self.lines += lines;
            }
            Outcome::Removed => self.removed += 1,
        }
    }
}
