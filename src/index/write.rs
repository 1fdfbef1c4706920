//! Writing runs into the index: a batch holds the single writer, stages
//! deletions and additions, and makes them visible in one commit.
//!
//! Lines arrive in order, a few at a time, and are packed into block
//! documents as they come. A block fills before it is written; the last,
//! partial block of a run is written when the run's record is set. Each
//! written block's trigrams go to its chunk (see [`super::chunk`]), whose
//! document is written when its last block is, or with the run's record.
//! When a run grows, its partial last block and its last chunk are read
//! back from the committed index, completed, and replaced in the same
//! commit as the run's new record.

use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::ops::Range;

use rustc_hash::{FxBuildHasher, FxHashMap};
use std::sync::{Arc, MutexGuard};

use tantivy::indexer::UserOperation;
use tantivy::{IndexReader, IndexWriter, Term};

use super::block::{self, LineRef};
use super::chunk::ChunkGrams;
use super::doc::IndexDoc;
use super::grams::{is_alnum_gram, TrigramSet, MAX_BLOCK_TRIGRAMS, NO_GRAMS, ONLY_ALNUM_GRAMS};
use super::schema::{
    block_key, block_of, chunk_of, first_line_of, kind_code, Fields, BLOCK_LINES, CHUNK_BLOCKS,
};
use super::search::{RunMeta, SegmentCache, Snapshot};
use super::{IndexError, Result};
use crate::parse::ParsedLine;

pub struct WriteBatch<'a> {
    /// `None` once the index is closed; [`super::LogIndex::batch`] hands
    /// out no batch then.
    writer: MutexGuard<'a, Option<IndexWriter<IndexDoc>>>,
    reader: &'a IndexReader,
    fields: Fields,
    segment_cache: Arc<SegmentCache>,
    changed: bool,
    /// Per run, the block being filled, not yet handed to the writer.
    open: FxHashMap<u64, OpenBlock>,
    /// Per run, the chunk its blocks are written to, not yet handed over.
    chunks: FxHashMap<u64, OpenChunk>,
    /// Chunks written, emptied for the next: a chunk's map grows to a few
    /// thousand trigrams, and growing a new one each time was measurable.
    spare_chunks: Vec<ChunkGrams>,
    /// Reused for every block's distinct trigram codes.
    scratch: TrigramSet,
    /// Reused for every block: a hash of each distinct line's text, with
    /// where the line is in the block.
    block_texts: FxHashMap<u64, usize>,
    /// Deletions and additions not yet handed to the writer, in order.
    staged: Vec<UserOperation<IndexDoc>>,
    /// What a new block's body reserves: the last written body's size and
    /// an eighth (at most [`BODY_RESERVE_MAX`]), so that a body is rarely
    /// copied as it grows.
    body_bytes: usize,
}

/// Operations are handed to the writer in groups of this many. tantivy puts
/// a group's documents into one segment, where documents handed over one by
/// one are spread over its indexing threads: a landed log committed alone
/// then made a segment per thread, and each small segment costs a fixed
/// setup and a later merge. Groups this size still keep both threads busy
/// when many runs are indexed at once.
const STAGED_OPS: usize = 256;

/// A block of long lines grows its body as it needs; it does not make every
/// block after it reserve as much.
const BODY_RESERVE_MAX: usize = 64 << 10;

struct OpenChunk {
    chunk: u64,
    grams: ChunkGrams,
    /// The committed index holds an older copy of this chunk.
    replaces: bool,
}

/// A block being filled: its body is encoded as its lines come, so a line
/// is copied once, from the bytes it was parsed from into the body.
struct OpenBlock {
    block: u64,
    /// The stored form of the lines so far ([`block::push_line`]).
    body: String,
    /// Where each line's text is in `body`.
    texts: Vec<Range<usize>>,
    levels: u8,
    sources: u8,
    kinds: u64,
    /// The committed index holds an older, shorter copy of this block.
    replaces: bool,
}

impl OpenBlock {
    fn new(block: u64, body_bytes: usize, replaces: bool) -> OpenBlock {
        OpenBlock {
            block,
            body: String::with_capacity(body_bytes),
            texts: Vec::with_capacity(BLOCK_LINES as usize),
            levels: 0,
            sources: 0,
            kinds: 0,
            replaces,
        }
    }

    fn lines(&self) -> u64 {
        self.texts.len() as u64
    }

    fn push(&mut self, line: &LineRef<'_>) {
        let (level, source) = (line.level.as_u64(), line.source.as_u64());
        self.levels |= 1 << level;
        self.sources |= 1 << source;
        self.kinds |= 1 << kind_code(level, source);
        let at = block::push_line(&mut self.body, line);
        self.texts.push(at..at + line.text.len());
    }

    fn text(&self, at: usize) -> &str {
        self.texts
            .get(at)
            .and_then(|range| self.body.get(range.clone()))
            .unwrap_or("")
    }
}

impl<'a> WriteBatch<'a> {
    pub(super) fn new(
        writer: MutexGuard<'a, Option<IndexWriter<IndexDoc>>>,
        reader: &'a IndexReader,
        fields: Fields,
        segment_cache: Arc<SegmentCache>,
    ) -> Self {
        WriteBatch {
            writer,
            reader,
            fields,
            segment_cache,
            changed: false,
            open: FxHashMap::default(),
            chunks: FxHashMap::default(),
            spare_chunks: Vec::new(),
            scratch: TrigramSet::default(),
            block_texts: FxHashMap::default(),
            staged: Vec::new(),
            body_bytes: 16 << 10,
        }
    }

    /// Removes every document of a run (blocks, chunks and run document).
    pub fn delete_run(&mut self, run_id: u64) -> Result<()> {
        self.open.remove(&run_id);
        self.chunks.remove(&run_id);
        let term = Term::from_field_u64(self.fields.run_id, run_id);
        self.stage(UserOperation::Delete(term))
    }

    /// Adds lines of a run. Lines must be consecutive and new to the index
    /// (after a `delete_run`, or right after the run's last indexed line).
    pub fn add_lines(&mut self, run_id: u64, lines: Vec<ParsedLine>) -> Result<()> {
        self.add_line_refs(run_id, lines.iter().map(LineRef::from))
    }

    /// [`WriteBatch::add_lines`] for borrowed lines: each is copied once,
    /// into its block's body.
    pub fn add_line_refs<'l>(
        &mut self,
        run_id: u64,
        lines: impl IntoIterator<Item = LineRef<'l>>,
    ) -> Result<()> {
        // The run's open block is taken out of the map once, not per line.
        let mut open = self.open.remove(&run_id);
        for l in lines {
            self.changed = true;
            let mut block = match open.take() {
                Some(block) if block.block == block_of(l.line) => block,
                Some(block) => {
                    // Only a full block is left behind: lines are consecutive.
                    self.write_block(run_id, block)?;
                    self.start_block(run_id, l.line)?
                }
                None => self.start_block(run_id, l.line)?,
            };
            if l.line != first_line_of(block.block) + block.lines() {
                return Err(IndexError::Malformed(
                    "lines must be added in order, right after the last indexed line",
                ));
            }
            block.push(&l);
            if block.lines() == BLOCK_LINES {
                self.write_block(run_id, block)?;
            } else {
                open = Some(block);
            }
        }
        if let Some(block) = open {
            self.open.insert(run_id, block);
        }
        Ok(())
    }

    /// Records what the index now holds for a run, replacing the previous
    /// record, and writes the run's partial last block and its last chunk.
    pub fn set_run_meta(&mut self, run_id: u64, meta: RunMeta) -> Result<()> {
        if let Some(open) = self.open.remove(&run_id) {
            self.write_block(run_id, open)?;
        }
        if let Some(chunk) = self.chunks.remove(&run_id) {
            self.write_chunk(run_id, chunk)?;
        }
        let f = &self.fields;
        let term = Term::from_field_u64(f.run_doc, run_id);
        let mut d = IndexDoc::default();
        d.add_u64(f.run_id, run_id);
        d.add_u64(f.run_doc, run_id);
        d.add_u64(f.generation, meta.generation);
        d.add_u64(f.lines, meta.lines);
        self.stage(UserOperation::Delete(term))?;
        self.stage(UserOperation::Add(d))
    }

    /// Commits everything staged and makes it visible to new snapshots.
    pub fn commit(self) -> Result<()> {
        self.commit_then(|| ())
    }

    /// Commits, then runs `after` while still holding the writer: another
    /// batch cannot start between the commit and what `after` records about
    /// it (the ingest's state writes), so no batch ever plans from an index
    /// that is ahead of the state.
    pub fn commit_then<R>(mut self, after: impl FnOnce() -> R) -> Result<R> {
        let open: Vec<(u64, OpenBlock)> = self.open.drain().collect();
        for (run_id, block) in open {
            self.write_block(run_id, block)?;
        }
        let chunks: Vec<(u64, OpenChunk)> = self.chunks.drain().collect();
        for (run_id, chunk) in chunks {
            self.write_chunk(run_id, chunk)?;
        }
        self.hand_over()?;
        if self.changed {
            let started = std::time::Instant::now();
            self.writer()?.commit()?;
            crate::metrics::committed(started.elapsed());
            self.reader.reload()?;
            self.changed = false;
        }
        Ok(after())
    }

    /// The block that `line` opens or continues. A line in the middle of a
    /// block continues the committed copy of that block (the run grew).
    fn start_block(&self, run_id: u64, line: u64) -> Result<OpenBlock> {
        let block = block_of(line);
        if line == first_line_of(block) {
            return Ok(OpenBlock::new(block, self.body_bytes, false));
        }
        let lines = self
            .committed()
            .block(run_id, block)?
            .ok_or(IndexError::Malformed(
                "a run grew, but its last block is not in the index",
            ))?;
        let mut open = OpenBlock::new(block, self.body_bytes, true);
        for l in &lines {
            open.push(&l.as_ref());
        }
        Ok(open)
    }

    /// The index as last committed: what a grown run's last block and
    /// chunk are read back from.
    fn committed(&self) -> Snapshot {
        Snapshot::from_reader(self.reader, self.fields.clone(), self.segment_cache.clone())
    }

    /// The chunk that `block` goes to. Its earlier blocks are in this batch
    /// (the chunk is open), or none are, or the committed index has them
    /// (the run grew): then the chunk is read back to be added to.
    fn chunk_for(&mut self, run_id: u64, block: u64, replaces: bool) -> Result<OpenChunk> {
        let (chunk, at) = chunk_of(block);
        match self.chunks.remove(&run_id) {
            Some(open) if open.chunk == chunk => return Ok(open),
            // Only a finished chunk is left behind: blocks are consecutive.
            Some(open) => self.write_chunk(run_id, open)?,
            None => {}
        }
        if at == 0 && !replaces {
            return Ok(OpenChunk {
                chunk,
                grams: self.spare_chunks.pop().unwrap_or_default(),
                replaces: false,
            });
        }
        let stored = self
            .committed()
            .chunk(run_id, chunk)?
            .ok_or(IndexError::Malformed(
                "a run grew, but its last chunk is not in the index",
            ))?;
        Ok(OpenChunk {
            chunk,
            grams: ChunkGrams::decode(&stored)?,
            replaces: true,
        })
    }

    fn write_chunk(&mut self, run_id: u64, open: OpenChunk) -> Result<()> {
        let f = self.fields.clone();
        let key = block_key(run_id, open.chunk);
        if open.replaces {
            self.stage(UserOperation::Delete(Term::from_field_u64(f.chunk, key)))?;
        }
        let mut d = IndexDoc::default();
        d.add_u64(f.run_id, run_id);
        d.add_u64(f.chunk, key);
        d.reserve_u64(open.grams.len());
        for g in open.grams.codes() {
            d.add_u64(f.grams, g);
        }
        let kinds = open.grams.kinds();
        for code in 0..64u64 {
            if kinds & (1 << code) != 0 {
                d.add_u64(f.chunk_kinds, code);
            }
        }
        d.add_text(f.masks, open.grams.encode()?);
        let mut spare = open.grams;
        spare.clear();
        self.spare_chunks.push(spare);
        self.stage(UserOperation::Add(d))
    }

    fn writer(&mut self) -> Result<&mut IndexWriter<IndexDoc>> {
        self.writer.as_mut().ok_or(IndexError::Closed)
    }

    fn stage(&mut self, op: UserOperation<IndexDoc>) -> Result<()> {
        self.changed = true;
        self.staged.push(op);
        if self.staged.len() >= STAGED_OPS {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands the staged operations to the writer, as one group.
    fn hand_over(&mut self) -> Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.staged);
        self.writer()?.run(ops)?;
        Ok(())
    }

    fn write_block(&mut self, run_id: u64, open: OpenBlock) -> Result<()> {
        let f = self.fields.clone();
        let key = block_key(run_id, open.block);
        if open.replaces {
            self.stage(UserOperation::Delete(Term::from_field_u64(f.block, key)))?;
        }
        let (levels, sources, kinds) = (open.levels, open.sources, open.kinds);
        self.body_bytes = (open.body.len() + open.body.len() / 8).min(BODY_RESERVE_MAX);
        // A set, not a sort and dedup: measured, sorting each block's codes
        // took a fifth of the indexing CPU.
        self.block_texts.clear();
        for at in 0..open.texts.len() {
            let text = open.text(at);
            // A line repeated in its block adds no trigram: about half of
            // a block's lines are, and hashing a line costs a fraction of
            // taking its trigrams. Equal hashes are compared in full, so a
            // collision never skips a line.
            match self.block_texts.entry(FxBuildHasher.hash_one(text)) {
                Entry::Occupied(first) if open.text(*first.get()) == text => continue,
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert(at);
                }
            }
            self.scratch.insert_text(text);
        }
        let mut chunk = self.chunk_for(run_id, open.block, open.replaces)?;
        let at = chunk_of(open.block).1;
        // A replaced block held a prefix of these lines: adding the whole
        // block's trigrams to its mask is exact.
        let grams = self.scratch.codes();
        if grams.len() > MAX_BLOCK_TRIGRAMS {
            let kept: Vec<u64> = grams
                .iter()
                .copied()
                .filter(|&g| is_alnum_gram(g))
                .collect();
            if kept.len() > MAX_BLOCK_TRIGRAMS {
                chunk.grams.add_block(at, [NO_GRAMS], kinds);
            } else {
                chunk
                    .grams
                    .add_block(at, kept.into_iter().chain([ONLY_ALNUM_GRAMS]), kinds);
            }
        } else {
            chunk.grams.add_block(at, grams.iter().copied(), kinds);
        }
        self.scratch.clear();
        let mut d = IndexDoc::default();
        d.add_u64(f.run_id, run_id);
        d.add_u64(f.block, key);
        for (field, mask) in [(f.levels, levels), (f.sources, sources)] {
            for code in 0..8u64 {
                if mask & (1 << code) != 0 {
                    d.add_u64(field, code);
                }
            }
        }
        for code in 0..64u64 {
            if kinds & (1 << code) != 0 {
                d.add_u64(f.kinds, code);
            }
        }
        let full = open.lines() == BLOCK_LINES;
        d.add_text(f.body, open.body);
        self.stage(UserOperation::Add(d))?;
        // A finished chunk is written right after its last block: its masks
        // are then stored next to its blocks' bodies.
        if full && at == CHUNK_BLOCKS - 1 {
            self.write_chunk(run_id, chunk)
        } else {
            self.chunks.insert(run_id, chunk);
            Ok(())
        }
    }
}

impl Drop for WriteBatch<'_> {
    /// A batch dropped without a commit (an error part-way through a file)
    /// must not leave half a run staged for the next batch's commit.
    fn drop(&mut self) {
        if self.changed {
            if let Some(writer) = self.writer.as_mut() {
                if let Err(e) = writer.rollback() {
                    tracing::error!(error = %e, "index rollback failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! On a real index in a temporary directory.
    use super::*;
    use crate::index::{testing, Filters, LogIndex};
    use crate::parse::{Level, Source};

    fn lines(from: u64, to: u64, tag: &str) -> Vec<ParsedLine> {
        (from..=to)
            .map(|n| testing::runner_line(n, 10, format!("{tag} line {n}")))
            .collect()
    }

    fn write(index: &LogIndex, run: u64, new: Vec<ParsedLine>, total: u64) -> Result<()> {
        let mut batch = index.batch()?;
        batch.add_lines(run, new)?;
        batch.set_run_meta(
            run,
            RunMeta {
                generation: 1,
                lines: total,
            },
        )?;
        batch.commit()
    }

    fn texts(index: &LogIndex, run: u64) -> Result<Vec<String>> {
        let snapshot = index.snapshot();
        let Some(meta) = snapshot.run_meta(run)? else {
            return Ok(Vec::new());
        };
        let page = snapshot.page(run, meta, &Filters::default(), 0, 10_000)?;
        Ok(page.lines().map(|l| l.text.to_owned()).collect())
    }

    #[test]
    fn a_run_that_grows_mid_block_reads_back_whole_and_in_order() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        // 200 lines end inside the second block; 100 more continue it.
        write(&index, 3, lines(1, 200, "a"), 200)?;
        write(&index, 3, lines(201, 300, "a"), 300)?;
        let want: Vec<String> = lines(1, 300, "a").into_iter().map(|l| l.message).collect();
        assert_eq!(texts(&index, 3)?, want);
        // The continued block replaced its shorter copy: each line once.
        let second = index
            .snapshot()
            .block(3, block_of(129))?
            .unwrap_or_default();
        assert_eq!(second.len(), BLOCK_LINES as usize);
        assert_eq!(second.first().map(|l| l.line), Some(129));
        Ok(())
    }

    #[test]
    fn a_run_grown_in_steps_finds_each_steps_words_in_its_blocks() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        // Steps end mid-block and mid-chunk (16 blocks, 2,048 lines), and
        // one crosses a chunk's end: each step's word is in its lines only.
        let ends = [1, 200, 2_000, 2_100, 4_500, 4_501];
        let mut from = 1;
        for (step, &to) in ends.iter().enumerate() {
            let new = (from..=to)
                .map(|n| testing::runner_line(n, 10, format!("step{step}word line {n}")))
                .collect();
            write(&index, 9, new, to)?;
            from = to + 1;
        }
        let mut from = 1;
        for (step, &to) in ends.iter().enumerate() {
            let want: Vec<u64> = (from..=to).take(100).collect();
            assert_eq!(found(&index, 9, &format!("step{step}word"))?, want);
            from = to + 1;
        }
        assert_eq!(found(&index, 9, "step9word")?, Vec::<u64>::new());
        // Each chunk is one document: replaced, not added again.
        let on_disk = tantivy::Index::open_in_dir(dir.path())?;
        let run = tantivy::query::TermQuery::new(
            Term::from_field_u64(on_disk.schema().get_field("run_id")?, 9),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let docs = on_disk
            .reader()?
            .searcher()
            .search(&run, &tantivy::collector::Count)?;
        // 36 blocks, 3 chunks, the run document.
        assert_eq!(docs, 4_501_usize.div_ceil(BLOCK_LINES as usize) + 3 + 1);
        Ok(())
    }

    /// Lines of pseudo-random characters drawn from `alphabet`, with
    /// `marked` as line 64.
    fn noise(alphabet: &[char], line_chars: usize, marked: &str) -> Vec<ParsedLine> {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        (1..=BLOCK_LINES)
            .map(|n| {
                let message = if n == 64 {
                    marked.to_owned()
                } else {
                    (0..line_chars)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            alphabet[(x % alphabet.len() as u64) as usize]
                        })
                        .collect()
                };
                testing::line(n, Level::Info, Source::Worker, message)
            })
            .collect()
    }

    fn found(index: &LogIndex, run: u64, needle: &str) -> Result<Vec<u64>> {
        let snapshot = index.snapshot();
        let Some(meta) = snapshot.run_meta(run)? else {
            return Ok(Vec::new());
        };
        let filters = Filters {
            contains: Some(crate::index::grams::Needle::new(needle)),
            ..Filters::default()
        };
        let page = snapshot.page(run, meta, &filters, 0, 100)?;
        Ok(page.lines().map(|l| l.line).collect())
    }

    #[test]
    fn blocks_with_too_many_trigrams_are_still_found() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        // Binary-like text: far more than MAX_BLOCK_TRIGRAMS distinct
        // trigrams, few of them letters and digits (only theirs are kept).
        let wide: Vec<char> = (0xA0u32..0x2A0).filter_map(char::from_u32).collect();
        write(
            &index,
            1,
            noise(&wide, 200, "§§§ found alpha42 é§"),
            BLOCK_LINES,
        )?;
        // Letters and digits only: too many even of those (none are kept).
        let alnum: Vec<char> = ('a'..='z').chain('0'..='9').collect();
        write(&index, 2, noise(&alnum, 1000, "zz-needle-zz"), BLOCK_LINES)?;
        // By its kept trigrams, by none of them, and by a mix.
        for needle in ["alpha42", "§§§", "42 é§", "found ALPHA"] {
            assert_eq!(found(&index, 1, needle)?, vec![64], "{needle}");
        }
        assert_eq!(found(&index, 2, "zz-needle-zz")?, vec![64]);
        // Candidates are checked line by line: no false matches.
        assert_eq!(found(&index, 1, "alpha43")?, Vec::<u64>::new());
        assert_eq!(found(&index, 2, "needle-yy")?, Vec::<u64>::new());
        Ok(())
    }

    #[test]
    fn deleting_a_run_leaves_the_others() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        write(&index, 1, lines(1, 50, "one"), 50)?;
        write(&index, 2, lines(1, 50, "two"), 50)?;
        let mut batch = index.batch()?;
        batch.delete_run(1)?;
        batch.commit()?;
        assert_eq!(index.snapshot().run_meta(1)?, None);
        assert!(texts(&index, 1)?.is_empty());
        assert_eq!(texts(&index, 2)?.len(), 50);
        Ok(())
    }

    #[test]
    fn a_batch_dropped_without_commit_leaves_nothing_for_the_next() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        {
            let mut batch = index.batch()?;
            batch.add_lines(5, lines(1, 300, "half"))?;
            batch.set_run_meta(
                5,
                RunMeta {
                    generation: 1,
                    lines: 300,
                },
            )?;
            // Dropped: an error part-way through a file.
        }
        write(&index, 6, lines(1, 10, "six"), 10)?;
        assert_eq!(index.snapshot().run_meta(5)?, None);
        assert!(texts(&index, 5)?.is_empty());
        assert_eq!(texts(&index, 6)?.len(), 10);
        Ok(())
    }

    #[test]
    fn a_closed_index_refuses_writes_and_still_reads() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        write(&index, 1, lines(1, 20, "kept"), 20)?;
        index.close()?;
        assert!(matches!(index.batch(), Err(IndexError::Closed)));
        assert_eq!(texts(&index, 1)?.len(), 20);
        // Closing twice is harmless.
        index.close()?;
        Ok(())
    }

    /// The ids of the index's committed segments and their sizes, as on disk.
    fn segments(dir: &std::path::Path) -> anyhow::Result<Vec<(String, u32)>> {
        let index = tantivy::Index::open_in_dir(dir)?;
        Ok(index
            .searchable_segment_metas()?
            .iter()
            .map(|m| (m.id().uuid_string(), m.max_doc()))
            .collect())
    }

    #[test]
    fn a_batch_commits_into_one_segment() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        // 20 blocks, their 2 chunks and a run document, on a writer with up
        // to two threads: handed over one by one, they were spread over both.
        write(
            &index,
            1,
            lines(1, 20 * BLOCK_LINES, "one"),
            20 * BLOCK_LINES,
        )?;
        let segments = segments(dir.path())?;
        assert_eq!(segments.len(), 1, "{segments:?}");
        assert_eq!(segments[0].1, 23);
        Ok(())
    }

    #[test]
    fn small_commits_do_not_rewrite_a_larger_segment() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        // 200 blocks: under tantivy's default policy, every segment under
        // 10,000 documents shares one level, so this segment would be merged
        // with the small ones below, again and again.
        write(
            &index,
            1,
            lines(1, 200 * BLOCK_LINES, "big"),
            200 * BLOCK_LINES,
        )?;
        let big = segments(dir.path())?;
        assert_eq!(big.len(), 1);
        for run in 2..=20 {
            write(&index, run, lines(1, 10, "small"), 10)?;
        }
        index.close()?;
        let after = segments(dir.path())?;
        // The small ones were merged among themselves...
        assert!(after.len() < 20, "{after:?}");
        // ...and the large one was left as it was.
        assert!(after.contains(&big[0]), "{big:?} not in {after:?}");
        Ok(())
    }
}
