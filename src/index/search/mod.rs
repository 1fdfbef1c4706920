//! Answering requests from one index snapshot: a page of one run's lines, and
//! the runs whose lines match, newest first.
//!
//! Both go from candidate *blocks* to verified *lines*:
//! * the index names the blocks that can hold a matching line (those holding
//!   every chosen trigram of the needle, and a wanted level and source);
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
mod segment_runs;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use tantivy::{IndexReader, Searcher};

pub use model::{Filters, Page, RunHit, RunMeta, RunQuery, RunsPage, SignatureFilter};
use plan::{PlanLimits, PLAN_LIMITS};
pub use segment_runs::SegmentRuns;
use segment_runs::{segments_holding, RunIds};

use super::schema::Fields;

/// One committed state of the index.
pub struct Snapshot {
    searcher: Searcher,
    fields: Fields,
    limits: PlanLimits,
    segment_runs: Arc<SegmentRuns>,
    /// The run ids of each segment, taken from `segment_runs` when first
    /// needed (a snapshot taken for a write may never need them).
    runs_by_segment: OnceLock<Vec<RunIds>>,
}

impl Snapshot {
    pub(super) fn new(
        searcher: Searcher,
        fields: Fields,
        segment_runs: Arc<SegmentRuns>,
    ) -> Snapshot {
        Snapshot {
            searcher,
            fields,
            limits: PLAN_LIMITS,
            segment_runs,
            runs_by_segment: OnceLock::new(),
        }
    }

    pub(super) fn from_reader(
        reader: &IndexReader,
        fields: Fields,
        segment_runs: Arc<SegmentRuns>,
    ) -> Snapshot {
        Snapshot::new(reader.searcher(), fields, segment_runs)
    }

    fn all_segments(&self) -> Vec<u32> {
        (0..self.searcher.segment_readers().len() as u32).collect()
    }

    /// The segments holding documents of the run: a query on one run looks
    /// nowhere else, so its cost does not grow with the other runs.
    fn segments_of(&self, run_id: u64) -> super::Result<Vec<u32>> {
        let lists = match self.runs_by_segment.get() {
            Some(lists) => lists,
            None => {
                let lists = self.segment_runs.of(&self.searcher, self.fields.run_id)?;
                self.runs_by_segment.get_or_init(|| lists)
            }
        };
        Ok(segments_holding(lists, run_id))
    }
}
