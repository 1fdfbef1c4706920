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

use std::collections::BTreeSet;
use std::ops::Bound;

use tantivy::query::{
    BooleanQuery, EnableScoring, InvertedIndexRangeQuery, Query, TermQuery, Weight,
};
use tantivy::schema::document::{
    DeserializeError, DocumentDeserialize, DocumentDeserializer, ValueDeserialize,
    ValueDeserializer,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{
    DocAddress, DocSet, IndexReader, Searcher, SegmentReader, TantivyDocument, Term, TERMINATED,
};

use super::block::LineRef;
use super::grams::{is_alnum_gram, Needle, NO_GRAMS, ONLY_ALNUM_GRAMS};
use super::schema::{block_key, block_of, first_line_of, kind_code, split_block_key, Fields};
use super::{block, IndexError, Result};
use crate::parse::{Level, Source};

/// At most this many of a needle's trigrams (the rarest) go into the
/// intersection; the rest are checked with the line itself. The rarest list
/// leads the intersection, so each further list costs only a few seeks per
/// candidate, and removes false candidates that would each cost a block read.
const MAX_TRIGRAM_CLAUSES: usize = 12;

/// Where the query plan switches from listing every candidate at once to
/// asking the index a window at a time. Fixed in the product; tests lower
/// them to drive both plans over small data.
#[derive(Debug, Clone, Copy)]
struct PlanLimits {
    /// A page whose filter may match more than this many blocks of the run
    /// (and more than an eighth of them) asks the index a window of blocks
    /// at a time, from `first_window_blocks` on, widening fourfold: a common
    /// needle fills its page from the first window. Fewer candidates are
    /// listed at once.
    sparse_max_blocks: u64,
    first_window_blocks: u64,
    /// Across runs: with more candidate blocks than this in the whole index,
    /// runs are read newest first in widening windows instead of all at once.
    all_candidates_max: u64,
}

const PLAN_LIMITS: PlanLimits = PlanLimits {
    sparse_max_blocks: 256,
    first_window_blocks: 8,
    all_candidates_max: 20_000,
};

/// What the index holds for one run, from its run document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunMeta {
    /// Changes whenever the run's content is replaced (not when it grows).
    pub generation: u64,
    /// Number of lines indexed; lines are numbered 1..=lines.
    pub lines: u64,
}

/// Line filters; an empty list means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub levels: BTreeSet<Level>,
    pub sources: BTreeSet<Source>,
    /// Already lowercased; matched as a literal substring of the lowercased line.
    pub contains: Option<String>,
}

impl Filters {
    fn is_empty(&self) -> bool {
        self.levels.is_empty() && self.sources.is_empty() && self.contains.is_none()
    }
}

/// A line as read back from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedLine {
    pub line: u64,
    pub level: Level,
    pub source: Source,
    pub timestamp: Option<String>,
    pub text: String,
}

/// A page of one run's lines. The lines are not copied out of the block
/// bodies they were read from: the page keeps those bodies and where each
/// line's fields are in them, and serving borrows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    bodies: Vec<String>,
    lines: Vec<PageLine>,
    /// True when at least one more matching line follows the page.
    pub has_more: bool,
}

/// Where one line of a [`Page`] is: its body, and its fields' byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PageLine {
    line: u64,
    level: Level,
    source: Source,
    body: usize,
    timestamp: std::ops::Range<usize>,
    text: std::ops::Range<usize>,
}

impl Page {
    /// The page's lines, in order.
    pub fn lines(&self) -> impl ExactSizeIterator<Item = LineRef<'_>> + '_ {
        self.lines.iter().map(|l| {
            let body = self.bodies[l.body].as_str();
            LineRef {
                line: l.line,
                level: l.level,
                source: l.source,
                timestamp: &body[l.timestamp.clone()],
                text: &body[l.text.clone()],
            }
        })
    }

    /// The number of the page's last line.
    pub fn last_line(&self) -> Option<u64> {
        self.lines.last().map(|l| l.line)
    }
}

/// A search across runs.
#[derive(Debug, Clone)]
pub struct RunQuery {
    pub filters: Filters,
    /// Inclusive range of run ids to look in.
    pub runs: (u64, u64),
    /// Only these runs, when given (the caller's `since`/`until`).
    pub only: Option<BTreeSet<u64>>,
    /// Runs per page.
    pub limit: usize,
    /// Matching lines returned per run (the first ones).
    pub lines_per_run: usize,
}

/// One run in a search across runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHit {
    pub run_id: u64,
    pub meta: RunMeta,
    /// Every line of the run that matches.
    pub match_count: u64,
    /// The first `lines_per_run` of them.
    pub lines: Vec<IndexedLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsPage {
    pub runs: Vec<RunHit>,
    /// True when another run below the page's last matches.
    pub has_more: bool,
}

/// One committed state of the index.
pub struct Snapshot {
    searcher: Searcher,
    fields: Fields,
    limits: PlanLimits,
}

/// The blocks the index says may hold a match.
enum Candidates {
    /// Nothing can match (a trigram of the needle is nowhere).
    None,
    /// No clause narrows the search: every block is a candidate.
    All,
    /// The intersection to run, and an estimate of its size.
    Query { query: BooleanQuery, estimate: u64 },
}

impl Snapshot {
    pub(super) fn new(searcher: Searcher, fields: Fields) -> Snapshot {
        Snapshot {
            searcher,
            fields,
            limits: PLAN_LIMITS,
        }
    }

    pub(super) fn from_reader(reader: &IndexReader, fields: Fields) -> Snapshot {
        Snapshot::new(reader.searcher(), fields)
    }

    /// The run's record in this snapshot, or `None` when the run is not indexed.
    pub fn run_meta(&self, run_id: u64) -> Result<Option<RunMeta>> {
        let Some(addr) = self.find_live(self.fields.run_doc, run_id, &self.all_segments())? else {
            return Ok(None);
        };
        let doc: TantivyDocument = self.searcher.doc(addr)?;
        let get = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_u64())
                .ok_or(IndexError::Malformed("run document lacks a field"))
        };
        Ok(Some(RunMeta {
            generation: get(self.fields.generation)?,
            lines: get(self.fields.lines)?,
        }))
    }

    /// The lines of one block of a run, or `None` when it is not indexed.
    pub fn block(&self, run_id: u64, block: u64) -> Result<Option<Vec<IndexedLine>>> {
        let all = self.all_segments();
        self.block_in(run_id, block, &all)
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

    fn all_segments(&self) -> Vec<u32> {
        (0..self.searcher.segment_readers().len() as u32).collect()
    }

    /// The segments holding documents of the run: a query on one run looks
    /// nowhere else, so its cost does not grow with the other runs.
    fn segments_of(&self, run_id: u64) -> Result<Vec<u32>> {
        let term = Term::from_field_u64(self.fields.run_id, run_id);
        let mut out = Vec::new();
        for (ord, segment) in self.searcher.segment_readers().iter().enumerate() {
            if live_doc(segment, self.fields.run_id, &term)?.is_some() {
                out.push(ord as u32);
            }
        }
        Ok(out)
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
        let needle = filters.contains.as_deref().map(Needle::new);
        let mut walk = Walk {
            filter: LineFilter::new(filters, needle.as_ref()),
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
                self.candidates(Some(run_id), filters, needle.as_ref(), &segments)?
            };
            match candidates {
                Candidates::None => {}
                Candidates::All => self.scan(run_id, first..=last, &segments, &mut walk)?,
                Candidates::Query { query, estimate } => {
                    let remaining = last - first + 1;
                    if estimate.min(remaining) > (remaining / 8).max(self.limits.sparse_max_blocks)
                    {
                        // Most blocks are candidates: ask for them a window at
                        // a time from the cursor, so a common needle stops
                        // after the first windows instead of listing them all.
                        let mut from = first;
                        let mut width = self.limits.first_window_blocks;
                        while from <= last && !walk.full() {
                            let to = from.saturating_add(width - 1).min(last);
                            let range = InvertedIndexRangeQuery::new(
                                Bound::Included(Term::from_field_u64(
                                    self.fields.block,
                                    block_key(run_id, from),
                                )),
                                Bound::Included(Term::from_field_u64(
                                    self.fields.block,
                                    block_key(run_id, to),
                                )),
                            );
                            let window = BooleanQuery::intersection(vec![
                                Box::new(range),
                                Box::new(query.clone()),
                            ]);
                            self.verify_in_order(&window, run_id, from, &segments, &mut walk)?;
                            from = to + 1;
                            width = width.saturating_mul(4);
                        }
                    } else {
                        // Few candidates: list them all at once.
                        self.verify_in_order(&query, run_id, first, &segments, &mut walk)?;
                    }
                }
            }
        }
        let mut page = walk.page;
        page.has_more = page.lines.len() > limit;
        page.lines.truncate(limit);
        Ok(page)
    }

    /// Runs with at least one line passing `query.filters`, newest (highest
    /// id) first, with their exact match counts and first matching lines.
    pub fn search_runs(&self, query: &RunQuery) -> Result<RunsPage> {
        let (lo, hi) = query.runs;
        let needle = query.filters.contains.as_deref().map(Needle::new);
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
        let (clauses, estimate) =
            match self.candidates(None, &query.filters, needle.as_ref(), &all)? {
                Candidates::None => return Ok(page),
                Candidates::All => (None, u64::MAX),
                Candidates::Query { query, estimate } => (Some(query), estimate),
            };
        let verify = |blocks: Vec<(u64, DocAddress)>, page: &mut RunsPage| -> Result<bool> {
            // `blocks` is sorted by key: runs ascending, then blocks. Walk runs
            // from the highest down, each run's blocks in file order.
            let mut end = blocks.len();
            while end > 0 {
                let run_id = split_block_key(blocks[end - 1].0).0;
                let start = blocks[..end].partition_point(|&(k, _)| split_block_key(k).0 < run_id);
                let last_needed = page.runs.len() == query.limit;
                let hit = self.verify_run(
                    run_id,
                    &blocks[start..end],
                    &query.filters,
                    needle.as_ref(),
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
            Some(q) if estimate <= self.limits.all_candidates_max => {
                let mut blocks = self.collect(&q, |r, _| wanted(r), &all)?;
                blocks.sort_unstable_by_key(|&(key, _)| key);
                verify(blocks, &mut page)?;
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
                while top >= lo {
                    let bottom = top.saturating_sub(width - 1).max(lo);
                    let range = InvertedIndexRangeQuery::new(
                        Bound::Included(Term::from_field_u64(
                            self.fields.block,
                            block_key(bottom, 0),
                        )),
                        Bound::Included(Term::from_field_u64(
                            self.fields.block,
                            block_key(top, u32::MAX as u64),
                        )),
                    );
                    let mut parts: Vec<Box<dyn Query>> = vec![Box::new(range)];
                    if let Some(q) = &clauses {
                        parts.push(Box::new(q.clone()));
                    }
                    let window = BooleanQuery::intersection(parts);
                    let mut blocks = self.collect(&window, |r, _| wanted(r), &all)?;
                    blocks.sort_unstable_by_key(|&(key, _)| key);
                    if verify(blocks, &mut page)? || bottom <= lo {
                        break;
                    }
                    top = bottom - 1;
                    width = width.saturating_mul(2);
                }
            }
        }
        Ok(page)
    }

    /// Offers the run's blocks from `from` on that `query` names to `walk`,
    /// in file order, until it is full.
    fn verify_in_order(
        &self,
        query: &dyn Query,
        run_id: u64,
        from: u64,
        segments: &[u32],
        walk: &mut Walk<'_>,
    ) -> Result<()> {
        let mut blocks = self.collect(query, |r, b| r == run_id && b >= from, segments)?;
        blocks.sort_unstable_by_key(|&(key, _)| key);
        for (key, addr) in blocks {
            if walk.full() {
                break;
            }
            walk.offer(self.read_body(addr)?, split_block_key(key).1)?;
        }
        Ok(())
    }

    /// The lowest and highest run id with blocks in this snapshot (deleted
    /// ones may count: these are bounds), or `None` when it holds none.
    fn run_id_bounds(&self) -> Result<Option<(u64, u64)>> {
        let name = self.searcher.schema().get_field_name(self.fields.block);
        let mut bounds: Option<(u64, u64)> = None;
        for segment in self.searcher.segment_readers() {
            let keys = segment.fast_fields().u64(name)?;
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

    /// Counts the run's matching lines in its candidate blocks (sorted) and
    /// keeps the first `keep`. With `any`, stops at the first match.
    fn verify_run(
        &self,
        run_id: u64,
        blocks: &[(u64, DocAddress)],
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
        for &(key, addr) in blocks {
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

    /// The query naming candidate blocks for `filters` (in one run, or in
    /// all), rarest clauses first.
    fn candidates(
        &self,
        run_id: Option<u64>,
        filters: &Filters,
        needle: Option<&Needle>,
        segments: &[u32],
    ) -> Result<Candidates> {
        let doc_freq = |term: &Term| -> Result<u64> {
            let mut df = 0;
            for &ord in segments {
                let index = self
                    .searcher
                    .segment_reader(ord)
                    .inverted_index(term.field())?;
                df += u64::from(index.doc_freq(term).map_err(tantivy::TantivyError::from)?);
            }
            Ok(df)
        };
        let f = &self.fields;
        let mut clauses: Vec<Box<dyn Query>> = Vec::new();
        let mut estimate = u64::MAX;
        if let Some(needle) = needle.filter(|n| !n.trigrams().is_empty()) {
            let mut grams = Vec::with_capacity(needle.trigrams().len());
            let mut absent = false;
            for &g in needle.trigrams() {
                let term = Term::from_field_u64(f.grams, g);
                let df = doc_freq(&term)?;
                absent |= df == 0;
                grams.push((df, g, term));
            }
            grams.sort_unstable_by_key(|(df, _, _)| *df);
            let term_query = |t: &Term| -> Box<dyn Query> {
                Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic))
            };
            // (estimate, query) of each kind of block that may hold it.
            let mut parts: Vec<(u64, Box<dyn Query>)> = Vec::new();
            if !absent {
                let rarest = grams.iter().take(MAX_TRIGRAM_CLAUSES);
                let estimate = grams.first().map_or(u64::MAX, |(df, _, _)| *df);
                parts.push((
                    estimate,
                    Box::new(BooleanQuery::intersection(
                        rarest.map(|(_, _, t)| term_query(t)).collect(),
                    )),
                ));
            }
            // Blocks indexed with part of their trigrams or none (binary
            // content; see `grams::MAX_BLOCK_TRIGRAMS`) are asked only
            // about what they kept.
            let alnum = Term::from_field_u64(f.grams, ONLY_ALNUM_GRAMS);
            let alnum_df = doc_freq(&alnum)?;
            let kept: Vec<&(u64, u64, Term)> =
                grams.iter().filter(|(_, g, _)| is_alnum_gram(*g)).collect();
            if alnum_df > 0 && kept.iter().all(|(df, _, _)| *df > 0) {
                let mut both = vec![term_query(&alnum)];
                both.extend(
                    kept.iter()
                        .take(MAX_TRIGRAM_CLAUSES)
                        .map(|(_, _, t)| term_query(t)),
                );
                let estimate = kept
                    .first()
                    .map_or(alnum_df, |(df, _, _)| alnum_df.min(*df));
                parts.push((estimate, Box::new(BooleanQuery::intersection(both))));
            }
            let none = Term::from_field_u64(f.grams, NO_GRAMS);
            let none_df = doc_freq(&none)?;
            if none_df > 0 {
                parts.push((none_df, term_query(&none)));
            }
            match parts.len() {
                0 => return Ok(Candidates::None),
                1 => {
                    let (df, query) = parts.remove(0);
                    estimate = df;
                    clauses.push(query);
                }
                _ => {
                    estimate = parts
                        .iter()
                        .fold(0u64, |sum, (df, _)| sum.saturating_add(*df));
                    clauses.push(Box::new(BooleanQuery::union(
                        parts.into_iter().map(|(_, q)| q).collect(),
                    )));
                }
            }
        }
        let codes =
            |set: Vec<u64>, all: usize, field: Field| -> Result<Option<(u64, Box<dyn Query>)>> {
                if set.is_empty() || set.len() >= all {
                    return Ok(None);
                }
                let mut df = 0;
                let mut terms: Vec<Box<dyn Query>> = Vec::new();
                for code in set {
                    let term = Term::from_field_u64(field, code);
                    df += doc_freq(&term)?;
                    terms.push(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
                }
                Ok(Some((df, Box::new(BooleanQuery::union(terms)))))
            };
        let levels: Vec<u64> = filters.levels.iter().map(|l| l.as_u64()).collect();
        let sources: Vec<u64> = filters.sources.iter().map(|s| s.as_u64()).collect();
        let narrows = |set: &[u64], all: usize| !set.is_empty() && set.len() < all;
        let kind_clauses =
            if narrows(&levels, Level::ALL.len()) && narrows(&sources, Source::ALL.len()) {
                // Both: the blocks with a line of a wanted level *and* source.
                let kinds = levels
                    .iter()
                    .flat_map(|&l| sources.iter().map(move |&s| kind_code(l, s)))
                    .collect();
                vec![codes(kinds, usize::MAX, f.kinds)?]
            } else {
                vec![
                    codes(levels, Level::ALL.len(), f.levels)?,
                    codes(sources, Source::ALL.len(), f.sources)?,
                ]
            };
        for clause in kind_clauses.into_iter().flatten() {
            let (df, query) = clause;
            if df == 0 {
                return Ok(Candidates::None);
            }
            estimate = estimate.min(df);
            clauses.push(query);
        }
        if clauses.is_empty() {
            return Ok(Candidates::All);
        }
        if let Some(run_id) = run_id {
            clauses.push(Box::new(TermQuery::new(
                Term::from_field_u64(f.run_id, run_id),
                IndexRecordOption::Basic,
            )));
        }
        Ok(Candidates::Query {
            query: BooleanQuery::intersection(clauses),
            estimate,
        })
    }

    /// (block key, address) of the live block documents matching `query`
    /// whose (run id, block number) `keep` accepts, in no particular order.
    fn collect(
        &self,
        query: &dyn Query,
        keep: impl Fn(u64, u64) -> bool,
        segments: &[u32],
    ) -> Result<Vec<(u64, DocAddress)>> {
        let weight: Box<dyn Weight> =
            query.weight(EnableScoring::disabled_from_searcher(&self.searcher))?;
        let mut out = Vec::new();
        let name = self.searcher.schema().get_field_name(self.fields.block);
        for &ord in segments {
            let segment = self.searcher.segment_reader(ord);
            let keys = segment.fast_fields().u64(name)?;
            weight.for_each_no_score(segment, &mut |docs| {
                for &doc in docs {
                    if segment.is_deleted(doc) {
                        continue;
                    }
                    // The run document has no block key: skipped here.
                    if let Some(key) = keys.first(doc) {
                        let (run, block) = split_block_key(key);
                        if keep(run, block) {
                            out.push((key, DocAddress::new(ord, doc)));
                        }
                    }
                }
            })?;
        }
        Ok(out)
    }

    /// Reads blocks in order straight from their keys.
    fn scan(
        &self,
        run_id: u64,
        blocks: std::ops::RangeInclusive<u64>,
        segments: &[u32],
        walk: &mut Walk<'_>,
    ) -> Result<()> {
        for b in blocks {
            if walk.full() {
                break;
            }
            let addr = self
                .find_live(self.fields.block, block_key(run_id, b), segments)?
                .ok_or(IndexError::Malformed(
                    "a block of an indexed run is missing",
                ))?;
            walk.offer(self.read_body(addr)?, b)?;
        }
        Ok(())
    }

    /// The live document holding `value` in `field`, if any.
    fn find_live(&self, field: Field, value: u64, segments: &[u32]) -> Result<Option<DocAddress>> {
        let term = Term::from_field_u64(field, value);
        for &ord in segments {
            if let Some(doc) = live_doc(self.searcher.segment_reader(ord), field, &term)? {
                return Ok(Some(DocAddress::new(ord, doc)));
            }
        }
        Ok(None)
    }

    fn read_block(&self, addr: DocAddress, block: u64) -> Result<Vec<IndexedLine>> {
        block::decode(&self.read_body(addr)?, first_line_of(block))
    }

    /// The stored body of a block document.
    fn read_body(&self, addr: DocAddress) -> Result<String> {
        let doc: BlockDoc = self.searcher.doc(addr)?;
        doc.body
            .ok_or(IndexError::Malformed("block document lacks its body"))
    }
}

/// A block document as stored: its body, taken as the string tantivy
/// reads (no document of field values built around it).
struct BlockDoc {
    body: Option<String>,
}

struct StoredText(String);

impl ValueDeserialize for StoredText {
    fn deserialize<'de, D: ValueDeserializer<'de>>(
        d: D,
    ) -> std::result::Result<Self, DeserializeError> {
        d.deserialize_string().map(StoredText)
    }
}

impl DocumentDeserialize for BlockDoc {
    fn deserialize<'de, D: DocumentDeserializer<'de>>(
        mut d: D,
    ) -> std::result::Result<Self, DeserializeError> {
        let mut body = None;
        // A block document stores its body and nothing else.
        while let Some((_, StoredText(text))) = d.next_field::<StoredText>()? {
            body = Some(text);
        }
        Ok(BlockDoc { body })
    }
}

fn live_doc(segment: &SegmentReader, field: Field, term: &Term) -> Result<Option<u32>> {
    let index = segment.inverted_index(field)?;
    let postings = index
        .read_postings(term, IndexRecordOption::Basic)
        .map_err(tantivy::TantivyError::from)?;
    let Some(mut postings) = postings else {
        return Ok(None);
    };
    let mut doc = postings.doc();
    while doc != TERMINATED {
        if !segment.is_deleted(doc) {
            return Ok(Some(doc));
        }
        doc = postings.advance();
    }
    Ok(None)
}

/// [`Filters`] in the form checked against every line read: the levels and
/// sources as bit masks of their codes (all bits set: any).
struct LineFilter<'a> {
    levels: u32,
    sources: u32,
    needle: Option<&'a Needle>,
}

impl<'a> LineFilter<'a> {
    fn new(filters: &Filters, needle: Option<&'a Needle>) -> LineFilter<'a> {
        let mask = |codes: Vec<u64>| {
            if codes.is_empty() {
                u32::MAX
            } else {
                codes.into_iter().fold(0, |m, c| m | 1u32 << (c & 31))
            }
        };
        LineFilter {
            levels: mask(filters.levels.iter().map(|l| l.as_u64()).collect()),
            sources: mask(filters.sources.iter().map(|s| s.as_u64()).collect()),
            needle,
        }
    }

    fn passes(&self, line: &LineRef<'_>) -> bool {
        self.levels & (1 << (line.level.as_u64() & 31)) != 0
            && self.sources & (1 << (line.source.as_u64() & 31)) != 0
            && self.needle.is_none_or(|n| n.matches(line.text))
    }
}

/// The lines of one page, gathered block by block in file order.
struct Walk<'a> {
    filter: LineFilter<'a>,
    after: u64,
    want: usize,
    page: Page,
}

impl Walk<'_> {
    fn full(&self) -> bool {
        self.page.lines.len() >= self.want
    }

    /// Takes the lines of block `block` (its stored body) that pass; the
    /// page keeps the body if any does.
    fn offer(&mut self, body: String, block: u64) -> Result<()> {
        let index = self.page.bodies.len();
        let before = self.page.lines.len();
        // A line's fields are slices of `body`: their place in it is where
        // their bytes start, less where the body's start.
        let start = body.as_ptr() as usize;
        let span = |field: &str| {
            let from = field.as_ptr() as usize - start;
            from..from + field.len()
        };
        let mut lines = block::lines(&body, first_line_of(block));
        let (levels, sources) = (self.filter.levels, self.filter.sources);
        while self.page.lines.len() < self.want {
            let Some(line) = lines.next_of_kinds(levels, sources) else {
                break;
            };
            let line = line?;
            if line.line > self.after && self.filter.passes(&line) {
                self.page.lines.push(PageLine {
                    line: line.line,
                    level: line.level,
                    source: line.source,
                    body: index,
                    timestamp: span(line.timestamp),
                    text: span(line.text),
                });
            }
        }
        if self.page.lines.len() > before {
            self.page.bodies.push(body);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Both query plans (everything at once, and windows) against a plain
    //! scan of the same lines, on a real index in a temporary directory.
    use super::*;
    use crate::index::LogIndex;
    use crate::parse::ParsedLine;

    fn line(n: u64, text: String) -> ParsedLine {
        ParsedLine {
            line: n,
            level: if n % 7 == 0 {
                Level::Error
            } else {
                Level::Info
            },
            source: Source::TestRunner,
            timestamp: None,
            message: text,
        }
    }

    /// Runs 1..=4 of 1,000 lines; "needle" is in every 3rd line of run 2,
    /// every 50th of run 3, nowhere in runs 1 and 4.
    fn runs() -> Vec<(u64, Vec<String>)> {
        (1..=4)
            .map(|run| {
                let lines = (1..=1000u64)
                    .map(|n| match run {
                        2 if n % 3 == 0 => format!("[ERROR] a NEEDLE at {n}"),
                        3 if n % 50 == 0 => format!("[ERROR] needle-like needle {n}"),
                        _ => format!("[INFO] entry {n} of run {run} needs nothing"),
                    })
                    .collect();
                (run, lines)
            })
            .collect()
    }

    #[test]
    fn both_plans_answer_what_a_scan_answers() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let index = LogIndex::open(dir.path(), 32 << 20)?;
        let runs = runs();
        for (run, lines) in &runs {
            let mut batch = index.batch()?;
            let parsed = lines
                .iter()
                .enumerate()
                .map(|(i, t)| line(i as u64 + 1, t.clone()))
                .collect();
            batch.add_lines(*run, parsed)?;
            batch.set_run_meta(
                *run,
                RunMeta {
                    generation: 1,
                    lines: lines.len() as u64,
                },
            )?;
            batch.commit()?;
        }
        let windowed = PlanLimits {
            sparse_max_blocks: 0,
            first_window_blocks: 1,
            all_candidates_max: 0,
        };
        for limits in [PLAN_LIMITS, windowed] {
            let mut snapshot = index.snapshot();
            snapshot.limits = limits;
            for needle in ["needle", "eedl", "ne", "nothing", "absent!"] {
                let filters = Filters {
                    contains: Some(needle.to_owned()),
                    ..Filters::default()
                };
                for (run, lines) in &runs {
                    let want: Vec<u64> = lines
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.to_lowercase().contains(needle))
                        .map(|(i, _)| i as u64 + 1)
                        .collect();
                    let meta = snapshot
                        .run_meta(*run)?
                        .ok_or_else(|| anyhow::anyhow!("run {run} not indexed"))?;
                    let (mut got, mut after) = (Vec::new(), 0);
                    loop {
                        let page = snapshot.page(*run, meta, &filters, after, 37)?;
                        got.extend(page.lines().map(|l| l.line));
                        match (page.has_more, page.last_line()) {
                            (true, Some(last)) => after = last,
                            _ => break,
                        }
                    }
                    assert_eq!(got, want, "run {run} needle {needle:?} {limits:?}");
                }
                if needle.len() >= 3 {
                    let found = snapshot.search_runs(&RunQuery {
                        filters: filters.clone(),
                        runs: (1, 4),
                        only: None,
                        limit: 1,
                        lines_per_run: 2,
                    })?;
                    let matching: Vec<(u64, u64)> = runs
                        .iter()
                        .rev()
                        .map(|(run, lines)| {
                            let n = lines.iter().filter(|t| t.to_lowercase().contains(needle));
                            (*run, n.count() as u64)
                        })
                        .filter(|(_, n)| *n > 0)
                        .collect();
                    let got: Vec<(u64, u64)> = found
                        .runs
                        .iter()
                        .map(|h| (h.run_id, h.match_count))
                        .collect();
                    assert_eq!(got, matching.iter().copied().take(1).collect::<Vec<_>>());
                    assert_eq!(found.has_more, matching.len() > 1, "{needle:?} {limits:?}");
                }
            }
        }
        Ok(())
    }
}
