//! One run's lines: its record, a block of it, and a page of the lines that
//! pass a filter. A query on one run looks only at the segments holding that
//! run, so its cost does not grow with the other runs.
//!
//! A page with no filter, or whose filter matches most blocks, reads blocks
//! straight from the cursor instead of listing its candidates, and stops as
//! early as the page allows: a common needle fills its page from the first
//! window of blocks.

use std::ops::Bound;

use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery};
use tantivy::Term;

use super::collect::{LineFilter, Unit, Walk};
use super::model::{Filters, Page, RunMeta};
use super::plan::Candidates;
use super::Snapshot;
use crate::index::block::IndexedLine;
use crate::index::chunk::BlockCheck;
use crate::index::schema::{block_key, block_of, chunk_of};
use crate::index::{IndexError, Result};

impl Snapshot {
    /// The run's record in this snapshot, or `None` when the run is not indexed.
    pub fn run_meta(&self, run_id: u64) -> Result<Option<RunMeta>> {
        let Some(addr) = self.find_live(self.fields.run_doc, run_id, &self.segments_of(run_id)?)?
        else {
            return Ok(None);
        };
        let info = self.segment_info(addr.segment_ord)?;
        let get = |column: &tantivy::columnar::Column<u64>| {
            column
                .first(addr.doc_id)
                .ok_or(IndexError::Malformed("run document lacks a field"))
        };
        Ok(Some(RunMeta {
            generation: get(&info.generations)?,
            lines: get(&info.line_counts)?,
        }))
    }

    /// The lines of one block of a run, or `None` when it is not indexed.
    pub fn block(&self, run_id: u64, block: u64) -> Result<Option<Vec<IndexedLine>>> {
        let segments = self.segments_of(run_id)?;
        self.block_in(run_id, block, &segments)
    }

    fn block_in(
        &self,
        run_id: u64,
        block: u64,
        segments: &[u32],
    ) -> Result<Option<Vec<IndexedLine>>> {
        match self.find_live(self.fields.block, block_key(run_id, block), segments)? {
            Some(addr) => self.read_block(addr, block).map(Some),
            None => Ok(None),
        }
    }

    /// The first `limit` lines of the run after line `after` passing `filters`,
    /// and whether more follow. `meta` must come from this snapshot.
    pub fn page(
        &self,
        run_id: u64,
        meta: RunMeta,
        filters: &Filters,
        after: u64,
        limit: usize,
    ) -> Result<Page> {
        let want = limit.saturating_add(1);
        let needle = filters.contains.as_ref();
        let mut walk = Walk {
            filter: LineFilter::new(filters, needle),
            after,
            want,
            page: Page {
                bodies: Vec::new(),
                lines: Vec::with_capacity(want.min(1024)),
                has_more: false,
            },
        };
        if after < meta.lines {
            let first = block_of(after + 1);
            let last = block_of(meta.lines);
            let segments = self.segments_of(run_id)?;
            let candidates = if filters.is_empty() {
                Candidates::All
            } else {
                self.candidates(
                    Some((run_id, last + 1)),
                    filters,
                    &filters.required(),
                    &segments,
                )?
            };
            let (query, estimate, check) = match candidates {
                Candidates::None => (None, 0, None),
                Candidates::All => {
                    self.scan(run_id, first..=last, &segments, &mut walk)?;
                    (None, 0, None)
                }
                Candidates::Chunks {
                    query: None, check, ..
                } => {
                    let chunks = chunk_of(first).0..=chunk_of(last).0;
                    self.scan_chunks(run_id, chunks, &check, first, &segments, &mut walk)?;
                    (None, 0, None)
                }
                Candidates::Chunks {
                    query: Some(query),
                    estimate,
                    check,
                } => (Some(query), estimate, Some(check)),
                Candidates::Query { query, estimate } => (Some(query), estimate, None),
            };
            if let Some(query) = query {
                let from_block = block_of(after + 1);
                let candidates = Listed {
                    query: &query,
                    check: check.as_deref(),
                    estimate,
                };
                self.verify_listed(
                    run_id,
                    candidates,
                    (first, last),
                    from_block,
                    &segments,
                    &mut walk,
                )?;
            }
        }
        let mut page = walk.page;
        page.has_more = page.lines.len() > limit;
        page.lines.truncate(limit);
        Ok(page)
    }
}

/// A query naming a run's candidate blocks (or chunks, with the check that
/// narrows each chunk to its blocks), and an estimate of how many it names.
struct Listed<'q> {
    query: &'q BooleanQuery,
    check: Option<&'q BlockCheck>,
    estimate: u64,
}

impl Snapshot {
    /// Offers the blocks `listed` names among the run's blocks `first..=last`
    /// to `walk`, from block `from_block` on, in file order.
    fn verify_listed(
        &self,
        run_id: u64,
        listed: Listed<'_>,
        (first, last): (u64, u64),
        from_block: u64,
        segments: &[u32],
        walk: &mut Walk<'_>,
    ) -> Result<()> {
        // Blocks, or chunks of blocks: windows and counts are in the units
        // the query names.
        let unit = Unit::of(listed.check);
        let (first, last) = match unit {
            Unit::Blocks => (first, last),
            Unit::Chunks => (chunk_of(first).0, chunk_of(last).0),
        };
        let remaining = last - first + 1;
        let many = (remaining / 8).max(self.limits.sparse_max_blocks);
        if listed.estimate.min(remaining) <= many {
            // Few candidates: list them all at once.
            return self.verify_in_order(
                listed.query,
                listed.check,
                run_id,
                from_block,
                segments,
                walk,
            );
        }
        // Most are candidates: ask for them a window at a time from the
        // cursor, so a common needle stops after the first windows instead
        // of listing them all.
        let field = self.key_field(unit);
        let mut from = first;
        let mut width = self.limits.first_window_blocks;
        while from <= last && !walk.full() {
            let to = from.saturating_add(width - 1).min(last);
            let range = InvertedIndexRangeQuery::new(
                Bound::Included(Term::from_field_u64(field, block_key(run_id, from))),
                Bound::Included(Term::from_field_u64(field, block_key(run_id, to))),
            );
            let window =
                BooleanQuery::intersection(vec![Box::new(range), Box::new(listed.query.clone())]);
            self.verify_in_order(&window, listed.check, run_id, from_block, segments, walk)?;
            from = to + 1;
            width = width.saturating_mul(4);
        }
        Ok(())
    }
}
