//! Answering requests from one index snapshot: a page of one run's lines, and
//! the runs whose lines match, newest first.
//!
//! Both go from candidate *blocks* to verified *lines*:
//! * the index names the blocks that can hold a matching line: for a needle,
//!   the chunks holding every chosen trigram of it, narrowed to their blocks
//!   by the chunks' stored masks; for levels and sources alone, the blocks
//!   holding a wanted level and source;
//! * each candidate block's stored lines are checked one by one, in order,
//!   and the walk stops as soon as the page is full.
//!
//! The query plan picks the needle's rarest trigrams first, so a rare or
//! absent needle costs a few posting reads whatever the size of the index.
//! A page with no filter, or whose filter matches most blocks, reads blocks
//! straight from the cursor instead, and stops as early as the page allows.
//!
//! * `model` holds the request and answer types;
//! * `plan` chooses the candidate blocks, and when to ask for them in windows;
//! * `collect` reads candidate blocks and checks their lines;
//! * `page` answers a page of one run;
//! * `runs` answers a search across runs.
//!
//! [`Snapshot`] is defined here; each of those modules adds its part of it.

mod collect;
mod model;
mod page;
mod plan;
mod runs;
mod segments;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use tantivy::{IndexReader, Searcher};

pub use model::{Filters, Page, RunHit, RunMeta, RunQuery, RunsPage, SignatureFilter};
use plan::{PlanLimits, PLAN_LIMITS};
pub use segments::SegmentCache;
use segments::{segments_holding, SegmentInfo};

use super::schema::Fields;

/// One committed state of the index.
pub struct Snapshot {
    searcher: Searcher,
    fields: Fields,
    limits: PlanLimits,
    segment_cache: Arc<SegmentCache>,
    /// What is kept of each segment, taken from `segment_cache` when first
    /// needed (a snapshot taken for a write may never need it).
    segment_infos: OnceLock<Vec<Arc<SegmentInfo>>>,
}

impl Snapshot {
    pub(super) fn new(
        searcher: Searcher,
        fields: Fields,
        segment_cache: Arc<SegmentCache>,
    ) -> Snapshot {
        Snapshot {
            searcher,
            fields,
            limits: PLAN_LIMITS,
            segment_cache,
            segment_infos: OnceLock::new(),
        }
    }

    pub(super) fn from_reader(
        reader: &IndexReader,
        fields: Fields,
        segment_cache: Arc<SegmentCache>,
    ) -> Snapshot {
        Snapshot::new(reader.searcher(), fields, segment_cache)
    }

    fn all_segments(&self) -> Vec<u32> {
        (0..self.searcher.segment_readers().len() as u32).collect()
    }

    /// The segments holding documents of the run: a query on one run looks
    /// nowhere else, so its cost does not grow with the other runs.
    fn segments_of(&self, run_id: u64) -> super::Result<Vec<u32>> {
        Ok(segments_holding(self.segment_infos()?, run_id))
    }

    /// What is kept of segment `ord` (its fast fields, read once per segment).
    fn segment_info(&self, ord: u32) -> super::Result<&SegmentInfo> {
        self.segment_infos()?
            .get(ord as usize)
            .map(|info| &**info)
            .ok_or(super::IndexError::Malformed(
                "a segment ordinal past the snapshot's",
            ))
    }

    /// The block keys of segment `ord`.
    fn block_keys(&self, ord: u32) -> super::Result<&tantivy::columnar::Column<u64>> {
        Ok(&self.segment_info(ord)?.block_keys)
    }

    fn segment_infos(&self) -> super::Result<&[Arc<SegmentInfo>]> {
        if let Some(infos) = self.segment_infos.get() {
            return Ok(infos);
        }
        let infos = self.segment_cache.of(&self.searcher, &self.fields)?;
        Ok(self.segment_infos.get_or_init(|| infos))
    }
}
