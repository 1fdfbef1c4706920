//! The runs whose lines match, newest (highest id) first, each with its
//! exact match count and its first matching lines.
//!
//! With few candidate blocks in the whole index, they are listed at once;
//! with many, runs are read newest first in widening windows of run ids, so
//! a page of recent runs stops early instead of listing every candidate.

use std::ops::Bound;

use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery, Query};
use tantivy::{DocAddress, Term};

use super::collect::{LineFilter, Unit};
use super::model::{Filters, RunHit, RunQuery, RunsPage};
use super::plan::Candidates;
use super::Snapshot;
use crate::index::block;
use crate::index::grams::Needle;
use crate::index::schema::{block_key, first_line_of, split_block_key};
use crate::index::Result;

/// Where a candidate block is: known, or to be found when it is read
/// (perhaps where its chunk says).
#[derive(Debug, Clone, Copy)]
enum Located {
    At(DocAddress),
    Near(Option<DocAddress>),
}

impl Snapshot {
    /// Runs with at least one line passing `query.filters`, newest (highest
    /// id) first, with their exact match counts and first matching lines.
    pub fn search_runs(&self, query: &RunQuery) -> Result<RunsPage> {
        let (lo, hi) = query.runs;
        let needle = query.filters.contains.as_ref();
        let mut page = RunsPage {
            runs: Vec::new(),
            has_more: false,
        };
        if lo > hi {
            return Ok(page);
        }
        let wanted =
            |r: u64| r >= lo && r <= hi && query.only.as_ref().is_none_or(|only| only.contains(&r));
        let all = self.all_segments();
        let required = query.filters.required();
        let (clauses, estimate, check) =
            match self.candidates(None, &query.filters, &required, &all)? {
                Candidates::None => return Ok(page),
                Candidates::All => (None, u64::MAX, None),
                Candidates::Query { query, estimate } => (Some(query), estimate, None),
                Candidates::Chunks {
                    query,
                    estimate,
                    check,
                } => (query, estimate, Some(check)),
            };
        // Trigram queries name chunks, whose masks name their blocks.
        let unit = Unit::of(check.as_deref());
        let all_at_once_max = match unit {
            Unit::Blocks => self.limits.all_candidates_max,
            Unit::Chunks => self.limits.all_candidate_chunks_max,
        };
        let verify = |found: Vec<(u64, DocAddress)>, page: &mut RunsPage| -> Result<bool> {
            // `found` is sorted by key: runs ascending, then blocks (or
            // chunks). Walk runs from the highest down, each run's blocks in
            // file order.
            let mut end = found.len();
            while end > 0 {
                let run_id = split_block_key(found[end - 1].0).0;
                let start = found[..end].partition_point(|&(k, _)| split_block_key(k).0 < run_id);
                let last_needed = page.runs.len() == query.limit;
                let blocks: Vec<(u64, Located)> = match &check {
                    None => found[start..end]
                        .iter()
                        .map(|&(key, addr)| (key, Located::At(addr)))
                        .collect(),
                    Some(check) => {
                        let mut blocks = Vec::new();
                        for &chunk in &found[start..end] {
                            let named = self.chunk_blocks(chunk, check, 0)?;
                            blocks.extend(
                                named
                                    .into_iter()
                                    .map(|(b, near)| (block_key(run_id, b), Located::Near(near))),
                            );
                        }
                        blocks
                    }
                };
                let hit = self.verify_run(
                    run_id,
                    &blocks,
                    &query.filters,
                    needle,
                    query.lines_per_run,
                    last_needed,
                )?;
                end = start;
                if let Some(hit) = hit {
                    if last_needed {
                        page.has_more = true;
                        return Ok(true);
                    }
                    page.runs.push(hit);
                }
            }
            Ok(false)
        };
        match clauses {
            Some(q) if estimate <= all_at_once_max => {
                let mut found = self.collect(&q, unit, |r, _| wanted(r), &all)?;
                found.sort_unstable_by_key(|&(key, _)| key);
                verify(found, &mut page)?;
            }
            clauses => {
                // Many candidates: read runs newest first, in windows of run
                // ids that double until the page is full or the range ends.
                // The windows start at the highest run id indexed, not at the
                // top of the range asked for (often every id there is).
                let Some((lowest, highest)) = self.run_id_bounds()? else {
                    return Ok(page);
                };
                let lo = lo.max(lowest);
                let mut top = hi.min(highest);
                let mut width = (query.limit as u64 + 1) * 2;
                let field = self.key_field(unit);
                while top >= lo {
                    let bottom = top.saturating_sub(width - 1).max(lo);
                    let range = InvertedIndexRangeQuery::new(
                        Bound::Included(Term::from_field_u64(field, block_key(bottom, 0))),
                        Bound::Included(Term::from_field_u64(
                            field,
                            block_key(top, u32::MAX as u64),
                        )),
                    );
                    let mut parts: Vec<Box<dyn Query>> = vec![Box::new(range)];
                    if let Some(q) = &clauses {
                        parts.push(Box::new(q.clone()));
                    }
                    let window = BooleanQuery::intersection(parts);
                    let mut found = self.collect(&window, unit, |r, _| wanted(r), &all)?;
                    found.sort_unstable_by_key(|&(key, _)| key);
                    if verify(found, &mut page)? || bottom <= lo {
                        break;
                    }
                    top = bottom - 1;
                    width = width.saturating_mul(2);
                }
            }
        }
        Ok(page)
    }

    /// The lowest and highest run id with blocks in this snapshot (deleted
    /// ones may count: these are bounds), or `None` when it holds none.
    fn run_id_bounds(&self) -> Result<Option<(u64, u64)>> {
        let mut bounds: Option<(u64, u64)> = None;
        for (ord, segment) in self.searcher.segment_readers().iter().enumerate() {
            let keys = self.block_keys(ord as u32)?;
            if keys.num_docs() == 0 || segment.num_docs() == 0 {
                continue;
            }
            let (lo, hi) = (
                split_block_key(keys.min_value()).0,
                split_block_key(keys.max_value()).0,
            );
            bounds = Some(match bounds {
                Some((l, h)) => (l.min(lo), h.max(hi)),
                None => (lo, hi),
            });
        }
        Ok(bounds)
    }

    /// Counts the run's matching lines in its candidate blocks (sorted by
    /// key; an address not known is looked up when the block is read) and
    /// keeps the first `keep`. With `any`, stops at the first match.
    fn verify_run(
        &self,
        run_id: u64,
        blocks: &[(u64, Located)],
        filters: &Filters,
        needle: Option<&Needle>,
        keep: usize,
        any: bool,
    ) -> Result<Option<RunHit>> {
        let Some(meta) = self.run_meta(run_id)? else {
            // Blocks without a run document: a run half-written is never
            // committed, so this is a run deleted in this very snapshot.
            return Ok(None);
        };
        let mut hit = RunHit {
            run_id,
            meta,
            match_count: 0,
            lines: Vec::new(),
        };
        let filter = LineFilter::new(filters, needle);
        let mut segments = None;
        for &(key, addr) in blocks {
            let addr = match addr {
                Located::At(addr) => addr,
                Located::Near(near) => {
                    let segments = match &segments {
                        Some(s) => s,
                        None => segments.insert(self.segments_of(run_id)?),
                    };
                    self.block_addr(run_id, split_block_key(key).1, near, segments)?
                }
            };
            let body = self.read_body(addr)?;
            let mut lines = block::lines(&body, first_line_of(split_block_key(key).1));
            while let Some(line) = lines.next_of_kinds(filter.levels, filter.sources) {
                let line = line?;
                if filter.passes(&line) {
                    hit.match_count += 1;
                    if hit.lines.len() < keep {
                        hit.lines.push(line.to_owned_line());
                    }
                    if any {
                        return Ok(Some(hit));
                    }
                }
            }
        }
        Ok((hit.match_count > 0).then_some(hit))
    }
}
