//! What every query reads of each segment, read once per segment and kept
//! for the segment's life: the run ids it holds, and its columns of block
//! and chunk keys and of run records.
//!
//! A query on one run looks only at the segments holding that run. Asking
//! every segment's term dictionary for the run id, on every page, cost a
//! lookup per segment: at 100,000 runs (tens of segments) that was a third
//! of a small run's page, and a search across runs paid it again for each
//! run it named. Opening a segment's block-key column reads its block
//! index whole: in a segment of 800,000 blocks that was another tenth of a
//! small run's page. Segments never change once written, so both are read
//! the first time a snapshot holds the segment, and a run's segments are
//! then found by a binary search in each list.
//!
//! A list names every run with a document in the segment, deleted or not:
//! it says where a run *may* be, and the reads that follow skip deleted
//! documents as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::schema::Field;
use tantivy::{Searcher, SegmentReader};

use crate::index::schema::Fields;
use crate::index::{IndexError, Result};

/// What is kept of one segment.
pub(crate) struct SegmentInfo {
    /// The run ids with a document in it, ascending.
    pub(crate) runs: Box<[u64]>,
    /// Its `block` fast field (block documents only).
    pub(crate) block_keys: Column<u64>,
    /// Its `chunk` fast field (chunk documents only).
    pub(crate) chunk_keys: Column<u64>,
    /// Its `generation` and `lines` fast fields (run documents only).
    pub(crate) generations: Column<u64>,
    pub(crate) line_counts: Column<u64>,
}

/// The [`SegmentInfo`] of the segments seen so far, by segment.
#[derive(Default)]
pub struct SegmentCache {
    by_segment: Mutex<HashMap<SegmentId, Arc<SegmentInfo>>>,
}

impl SegmentCache {
    /// The info of each of the searcher's segments, in segment order.
    /// Reads that of segments not seen before, and forgets that of
    /// segments gone from the index (merged or deleted).
    pub(crate) fn of(&self, searcher: &Searcher, fields: &Fields) -> Result<Vec<Arc<SegmentInfo>>> {
        let schema = searcher.schema();
        let column = |segment: &SegmentReader, field: Field| {
            segment.fast_fields().u64(schema.get_field_name(field))
        };
        let mut known = self.by_segment.lock().map_err(|_| IndexError::Poisoned)?;
        let segments = searcher.segment_readers();
        let mut out = Vec::with_capacity(segments.len());
        let mut read_any = false;
        for segment in segments {
            let id = segment.segment_id();
            let info = match known.get(&id) {
                Some(info) => info.clone(),
                None => {
                    let info = Arc::new(SegmentInfo {
                        runs: run_ids(segment, fields.run_id)?,
                        block_keys: column(segment, fields.block)?,
                        chunk_keys: column(segment, fields.chunk)?,
                        generations: column(segment, fields.generation)?,
                        line_counts: column(segment, fields.lines)?,
                    });
                    known.insert(id, info.clone());
                    read_any = true;
                    info
                }
            };
            out.push(info);
        }
        // A new segment is the only sign that others may have gone.
        if read_any && known.len() > segments.len() {
            known.retain(|id, _| segments.iter().any(|s| s.segment_id() == *id));
        }
        Ok(out)
    }
}

/// The run ids with a document in `segment`, from its term dictionary of
/// the `run_id` field (one term per run, in ascending order).
fn run_ids(segment: &SegmentReader, run_id: Field) -> Result<Box<[u64]>> {
    let index = segment.inverted_index(run_id)?;
    let mut terms = index
        .terms()
        .stream()
        .map_err(tantivy::TantivyError::from)?;
    let mut ids = Vec::with_capacity(index.terms().num_terms());
    while terms.advance() {
        // A u64 term is its value in 8 big-endian bytes.
        let bytes: [u8; 8] = terms
            .key()
            .try_into()
            .map_err(|_| IndexError::Malformed("a run id term is not 8 bytes"))?;
        ids.push(u64::from_be_bytes(bytes));
    }
    Ok(ids.into())
}

/// The ordinals of the segments whose list holds `run_id`.
pub(crate) fn segments_holding(infos: &[Arc<SegmentInfo>], run_id: u64) -> Vec<u32> {
    infos
        .iter()
        .enumerate()
        .filter(|(_, info)| info.runs.binary_search(&run_id).is_ok())
        .map(|(ord, _)| ord as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    //! On a real index in a temporary directory.
    use crate::index::{testing, LogIndex, RunMeta};

    fn write(index: &LogIndex, runs: &[u64], lines: u64) -> anyhow::Result<()> {
        let mut batch = index.batch()?;
        for &run in runs {
            let parsed = (1..=lines)
                .map(|n| testing::runner_line(n, 10, format!("run {run} line {n}")))
                .collect();
            batch.add_lines(run, parsed)?;
            batch.set_run_meta(
                run,
                RunMeta {
                    generation: 1,
                    lines,
                },
            )?;
        }
        batch.commit()?;
        Ok(())
    }

    /// Each segment's run ids, as its term dictionary has them, against
    /// the runs with a live document in it, read document by document.
    #[test]
    fn each_segment_lists_the_runs_it_holds() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        // Three commits, three segments (too few to merge); run 7 is
        // written twice, so its first copy is deleted in the first segment.
        write(&index, &[1, 7, 2_147_483_647], 300)?;
        write(&index, &[3, 7], 10)?;
        write(&index, &[5], 1)?;
        let snapshot = index.snapshot();
        let searcher = &snapshot.searcher;
        let lists: Vec<Box<[u64]>> = snapshot
            .segment_cache
            .of(searcher, &snapshot.fields)?
            .iter()
            .map(|info| info.runs.clone())
            .collect();
        assert_eq!(lists.len(), 3);
        let mut seen = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let live = segment.fast_fields().u64("block")?;
            let mut held: Vec<u64> = segment
                .doc_ids_alive()
                .filter_map(|doc| live.first(doc))
                .map(|key| crate::index::schema::split_block_key(key).0)
                .collect();
            held.sort_unstable();
            held.dedup();
            // Live runs are listed; a list may also name a run whose
            // documents there were all deleted (run 7's first copy).
            assert!(held.iter().all(|r| lists[ord].binary_search(r).is_ok()));
            assert!(lists[ord].windows(2).all(|w| w[0] < w[1]), "ascending");
            seen.extend(lists[ord].iter().copied());
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 3, 5, 7, 7, 2_147_483_647]);
        // A run's segments, and nothing for a run not indexed.
        assert_eq!(snapshot.segments_of(7)?.len(), 2);
        assert_eq!(snapshot.segments_of(5)?.len(), 1);
        assert!(snapshot.segments_of(4)?.is_empty());
        assert_eq!(snapshot.run_meta(4)?, None);
        let meta = snapshot.run_meta(7)?;
        assert_eq!(meta.map(|m| m.lines), Some(10), "the newer copy of run 7");
        Ok(())
    }

    #[test]
    fn lists_of_merged_segments_are_forgotten() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        // One small segment per commit; the writer merges them in the
        // background, and a later commit's reload shows the merged ones.
        for run in 1..=40 {
            write(&index, &[run], 5)?;
            let snapshot = index.snapshot();
            assert_eq!(snapshot.segments_of(run)?.len(), 1);
            let segments = snapshot.searcher.segment_readers().len();
            let listed = snapshot.segment_cache.by_segment.lock().map(|m| m.len());
            assert_eq!(listed.ok(), Some(segments), "after run {run}");
        }
        let snapshot = index.snapshot();
        assert!(
            snapshot.searcher.segment_readers().len() < 40,
            "no merge happened"
        );
        for run in 1..=40 {
            assert_eq!(snapshot.segments_of(run)?.len(), 1, "run {run}");
        }
        Ok(())
    }
}
