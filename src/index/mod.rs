//! The on-disk tantivy index of every parsed line, and the reads and writes on it.
//!
//! One document per *block* of 128 consecutive lines of a run, one *chunk
//! document* per 16 blocks carrying their trigrams, plus one
//! small *run document* per run that records what the index holds for that
//! run (its content generation and line count). Because the run document is
//! committed together with the blocks, a reader always sees a run's lines and
//! their count from the same commit, and start-up can tell exactly which runs
//! a crash left behind.
//!
//! * [`schema`] names the fields and how each is indexed;
//! * [`grams`] is the case-insensitive match and its trigram codes;
//! * [`pattern`] is a regular expression and the trigram query it asks;
//! * [`block`] packs a block's lines into its stored body, and reads them back;
//! * [`chunk`] records which blocks of a chunk hold each trigram;
//! * [`doc`] is the document type the writer hands tantivy;
//! * [`write`] adds, replaces and removes a run's lines in one commit;
//! * [`search`] answers a page of one run, and a search across runs.

pub mod block;
pub mod chunk;
pub mod doc;
pub mod grams;
pub mod pattern;
pub mod schema;
pub mod search;
pub mod write;

#[cfg(test)]
pub(crate) mod testing;

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tantivy::directory::error::LockError;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::LogMergePolicy;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyError};

use doc::IndexDoc;

pub use block::IndexedLine;
pub use schema::Fields;
pub use search::{
    Filters, Page, RunHit, RunMeta, RunQuery, RunsPage, SegmentCache, SignatureFilter, Snapshot,
};
pub use write::WriteBatch;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("cannot open index directory {path}: {message}")]
    Open { path: String, message: String },
    #[error(
        "the index {path} is locked by another process (waited {waited_secs} s): \
         another runlogd may be using the data directory"
    )]
    Busy { path: String, waited_secs: u64 },
    #[error("index writer lock is poisoned")]
    Poisoned,
    #[error("index document is malformed: {0}")]
    Malformed(&'static str),
    #[error("the index is closed: the daemon is shutting down")]
    Closed,
}

pub type Result<T> = std::result::Result<T, IndexError>;

/// The index of all runs' lines: one writer (behind a lock, tantivy allows one)
/// and a reader reloaded after every commit.
pub struct LogIndex {
    reader: IndexReader,
    /// Taken out by [`LogIndex::close`].
    writer: Mutex<Option<IndexWriter<IndexDoc>>>,
    fields: Fields,
    /// Which runs each segment holds, shared by every snapshot.
    segment_cache: Arc<SegmentCache>,
}

/// Segments are merged by size in *blocks*, not in tantivy's default
/// units. tantivy's default puts every segment under 10,000 documents in one
/// level; a block document holds 128 lines, so that level would hold about
/// 100 MB of logs, and each few landed logs would rewrite all of it.
/// Levels from 64 blocks up keep the rewriting of a landed log to a few
/// merges whatever the size of the index.
fn merge_policy() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    policy.set_min_layer_size(MIN_MERGE_LAYER_BLOCKS);
    policy
}

const MIN_MERGE_LAYER_BLOCKS: u32 = 64;

/// Bytes of stored block bodies compressed together in the doc store.
/// tantivy's default (16 KB) closes a compressed block after one or two
/// bodies of 128 lines; 64 KB puts five or six consecutive blocks of a run
/// together, where lz4 finds the lines they repeat from one another.
/// Measured on the 10,000-run corpus: the doc store 26% smaller (221 →
/// 163 MB), index and state database 0.29× → 0.24× the logs, the same
/// indexing CPU. The first page of a run not read before costs 7% more
/// (one body read decompresses up to 64 KB, not 16); a filtered page, which
/// reads the run's blocks in order, costs the same (tantivy keeps the blocks
/// it decompressed).
const DOCSTORE_BLOCK_BYTES: usize = 64 * 1024;

/// How the doc store compresses those blocks: zstd at level 1, not lz4 (the
/// default). Measured on 64 KB blocks of the platform's logs: zstd keeps
/// 36% fewer bytes (1.03 against 1.60 MB of 10.8 MB), compresses at half
/// lz4's speed (about 2% more indexing CPU) and decompresses a block in
/// about 30 µs instead of 15 (the first page of a run not read before).
/// The store is most of the index, and the chunk masks added to it fit
/// within 0.3× the logs this way.
const DOCSTORE_ZSTD_LEVEL: i32 = 1;

/// How long opening the index waits for a writer lock that another process
/// holds. A runlogd killed with SIGKILL keeps its lock until the kernel has
/// torn the process down (its memory is unmapped before its files are
/// closed): some 50 ms on an idle machine, about a second on a loaded one,
/// and a supervisor or an operator starting it again at once
/// got `LockBusy`. 10 s is far past that teardown, yet short enough that a
/// second daemon started by mistake on the same data directory says so
/// promptly.
pub const WRITER_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Pause between attempts at a busy writer lock.
const WRITER_LOCK_RETRY: Duration = Duration::from_millis(50);

impl LogIndex {
    /// Opens the index under `dir`, creating it the first time.
    /// `writer_memory` is the indexing heap in bytes, shared by the writer threads.
    pub fn open(dir: &Path, writer_memory: usize) -> Result<LogIndex> {
        // 0700 whatever the umask: the index holds every log line.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| IndexError::Open {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        let directory = MmapDirectory::open(dir).map_err(|e| IndexError::Open {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let (schema, _) = schema::build();
        let mut index = Index::open_or_create(directory, schema)?;
        // Applied on every open, not only at creation: an index written with
        // tantivy's default keeps its old segments as they are and writes
        // new and merged ones this way.
        index.settings_mut().docstore_blocksize = DOCSTORE_BLOCK_BYTES;
        index.settings_mut().docstore_compression = Compressor::Zstd(ZstdCompressor {
            compression_level: Some(DOCSTORE_ZSTD_LEVEL),
        });
        let fields = Fields::from_schema(&index.schema())?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().min(2))
            .unwrap_or(1);
        // tantivy needs at least 15 MB of heap per writer thread.
        let memory = writer_memory.max(threads * 16 * 1024 * 1024);
        let writer = writer_waiting_for_lock(&index, dir, threads, memory)?;
        writer.set_merge_policy(Box::new(merge_policy()));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(LogIndex {
            reader,
            writer: Mutex::new(Some(writer)),
            fields,
            segment_cache: Arc::default(),
        })
    }

    /// A consistent view of the index as of the last commit.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            self.reader.searcher(),
            self.fields.clone(),
            self.segment_cache.clone(),
        )
    }

    /// Takes the writer for a batch of changes, made visible together by
    /// [`WriteBatch::commit`].
    pub fn batch(&self) -> Result<WriteBatch<'_>> {
        let writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        if writer.is_none() {
            return Err(IndexError::Closed);
        }
        Ok(WriteBatch::new(
            writer,
            &self.reader,
            self.fields.clone(),
            self.segment_cache.clone(),
        ))
    }

    /// Stops writing and waits for background merges to finish; called on
    /// shutdown, when a batch in progress has committed or rolled back.
    /// Readers keep working; a later batch is refused with
    /// [`IndexError::Closed`].
    pub fn close(&self) -> Result<()> {
        let writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?.take();
        if let Some(writer) = writer {
            writer.wait_merging_threads()?;
        }
        Ok(())
    }
}

/// Takes the index writer, waiting up to [`WRITER_LOCK_WAIT`] while another
/// process holds its lock (see there why).
fn writer_waiting_for_lock(
    index: &Index,
    dir: &Path,
    threads: usize,
    memory: usize,
) -> Result<IndexWriter<IndexDoc>> {
    let started = Instant::now();
    let mut waiting = false;
    loop {
        match index.writer_with_num_threads(threads, memory) {
            Ok(writer) => {
                if waiting {
                    tracing::info!(
                        index = %dir.display(),
                        waited_ms = started.elapsed().as_millis() as u64,
                        "index lock released; opening the index"
                    );
                }
                return Ok(writer);
            }
            Err(TantivyError::LockFailure(LockError::LockBusy, _))
                if started.elapsed() < WRITER_LOCK_WAIT =>
            {
                if !waiting {
                    tracing::warn!(
                        index = %dir.display(),
                        wait_secs = WRITER_LOCK_WAIT.as_secs(),
                        "the index is locked by another process (a runlogd that was just \
                         killed, or one still running on this data directory); waiting for it"
                    );
                    waiting = true;
                }
                std::thread::sleep(WRITER_LOCK_RETRY);
            }
            Err(TantivyError::LockFailure(LockError::LockBusy, _)) => {
                return Err(IndexError::Busy {
                    path: dir.display().to_string(),
                    waited_secs: started.elapsed().as_secs(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! On a real index in a temporary directory.
    use super::*;
    use crate::index::search::RunMeta;

    /// The doc store's block size and compression are set on every open:
    /// an index created with tantivy's defaults writes its new segments
    /// with runlogd's.
    #[test]
    fn an_index_from_before_writes_new_segments_with_runlogds_store() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = |dir: &Path| -> anyhow::Result<(u64, String)> {
            let meta: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json"))?)?;
            let settings = &meta["index_settings"];
            Ok((
                settings["docstore_blocksize"]
                    .as_u64()
                    .ok_or_else(|| anyhow::anyhow!("meta.json has no docstore_blocksize"))?,
                settings["docstore_compression"].to_string(),
            ))
        };
        Index::create_in_dir(dir.path(), schema::build().0)?;
        assert_eq!(store(dir.path())?, (16_384, "\"lz4\"".to_owned()));
        let index = LogIndex::open(dir.path(), 16 << 20)?;
        let mut batch = index.batch()?;
        let lines = (1..=300)
            .map(|n| testing::runner_line(n, 7, format!("entry {n}")))
            .collect();
        batch.add_lines(1, lines)?;
        batch.set_run_meta(
            1,
            RunMeta {
                generation: 1,
                lines: 300,
            },
        )?;
        batch.commit()?;
        assert_eq!(
            store(dir.path())?,
            (
                DOCSTORE_BLOCK_BYTES as u64,
                "\"zstd(compression_level=1)\"".to_owned()
            )
        );
        Ok(())
    }
}
