//! Answering a page request from one index snapshot.
//!
//! A page is "the first `limit + 1` lines of run r after line n that pass the
//! filters". Rather than collecting every match of the run and sorting, the
//! search reads a window of line blocks after `n` (see [`super::schema`]),
//! widening the window fourfold until enough lines are found or the run ends.
//! An unfiltered page therefore reads about `limit` documents at any depth, and
//! a sparse filter crosses a large run in a logarithmic number of steps.

use std::collections::BTreeSet;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, DocId, Index, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument, Term,
};

use super::schema::{block_key, Fields, BLOCK_LINES};
use super::{IndexError, Result};
use crate::parse::{Level, Source};

/// Windows up to this many blocks are read as a union of term queries; wider
/// ones as one term-range query.
const MAX_TERM_UNION_BLOCKS: u64 = 8;

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

/// A line as read back from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedLine {
    pub line: u64,
    pub level: Level,
    pub source: Source,
    pub timestamp: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub lines: Vec<IndexedLine>,
    /// True when at least one more matching line follows the page.
    pub has_more: bool,
}

/// One committed state of the index.
pub struct Snapshot {
    searcher: Searcher,
    fields: Fields,
    trigrams: Option<TextAnalyzer>,
}

impl Snapshot {
    pub(super) fn new(searcher: Searcher, fields: Fields, index: &Index) -> Snapshot {
        let trigrams = index.tokenizer_for_field(fields.grams).ok();
        Snapshot {
            searcher,
            fields,
            trigrams,
        }
    }

    /// The run's record in this snapshot, or `None` when the run is not indexed.
    pub fn run_meta(&self, run_id: u64) -> Result<Option<RunMeta>> {
        let q = TermQuery::new(
            Term::from_field_u64(self.fields.run_doc, run_id),
            IndexRecordOption::Basic,
        );
        let hits = self
            .searcher
            .search(&q, &tantivy::collector::DocSetCollector)?;
        let Some(addr) = hits.into_iter().next() else {
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
        let filter_clauses = self.filter_clauses(filters);
        let mut found: Vec<IndexedLine> = Vec::with_capacity(want.min(1024));
        let mut start = after.saturating_add(1);
        let mut span = (want as u64).max(BLOCK_LINES);
        while start <= meta.lines && found.len() < want {
            let end = start.saturating_add(span - 1).min(meta.lines);
            let mut clauses: Vec<(Occur, Box<dyn Query>)> =
                vec![(Occur::Must, self.window_query(run_id, start, end))];
            clauses.extend(filter_clauses.iter().map(|q| (Occur::Must, q.box_clone())));
            let query = BooleanQuery::new(clauses);
            let mut hits = self.searcher.search(
                &query,
                &LinesInRange {
                    line_field: self.fields.line,
                    first: start,
                    last: end,
                },
            )?;
            hits.sort_unstable_by_key(|&(line, _)| line);
            for (_, addr) in hits {
                let line = self.read_line(addr)?;
                if let Some(needle) = &filters.contains {
                    if !line.text.to_lowercase().contains(needle.as_str()) {
                        continue;
                    }
                }
                found.push(line);
                if found.len() == want {
                    break;
                }
            }
            start = end.saturating_add(1);
            span = span.saturating_mul(4);
        }
        let has_more = found.len() > limit;
        found.truncate(limit);
        Ok(Page {
            lines: found,
            has_more,
        })
    }

    /// Documents of lines `first..=last` of the run (and a few neighbours in
    /// the same blocks, which the collector drops).
    fn window_query(&self, run_id: u64, first: u64, last: u64) -> Box<dyn Query> {
        let lo = block_key(run_id, first);
        let hi = block_key(run_id, last);
        let term = |k| Term::from_field_u64(self.fields.block, k);
        if hi - lo < MAX_TERM_UNION_BLOCKS {
            let terms = (lo..=hi)
                .map(|k| {
                    Box::new(TermQuery::new(term(k), IndexRecordOption::Basic)) as Box<dyn Query>
                })
                .collect();
            Box::new(BooleanQuery::union(terms))
        } else {
            Box::new(InvertedIndexRangeQuery::new(
                std::ops::Bound::Included(term(lo)),
                std::ops::Bound::Included(term(hi)),
            ))
        }
    }

    fn filter_clauses(&self, filters: &Filters) -> Vec<Box<dyn Query>> {
        let mut clauses: Vec<Box<dyn Query>> = Vec::new();
        let any_of = |field, values: Vec<u64>| -> Box<dyn Query> {
            let terms = values
                .into_iter()
                .map(|v| {
                    Box::new(TermQuery::new(
                        Term::from_field_u64(field, v),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>
                })
                .collect();
            Box::new(BooleanQuery::union(terms))
        };
        if !filters.levels.is_empty() && filters.levels.len() < Level::ALL.len() {
            let values = filters.levels.iter().map(|l| l.as_u64()).collect();
            clauses.push(any_of(self.fields.level, values));
        }
        if !filters.sources.is_empty() && filters.sources.len() < Source::ALL.len() {
            let values = filters.sources.iter().map(|s| s.as_u64()).collect();
            clauses.push(any_of(self.fields.source, values));
        }
        if let Some(needle) = &filters.contains {
            for gram in self.trigrams_of(needle) {
                clauses.push(Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.grams, &gram),
                    IndexRecordOption::Basic,
                )));
            }
        }
        clauses
    }

    /// The distinct trigrams of an (already lowercased) needle; none for a
    /// needle shorter than three characters, which then checks every line.
    fn trigrams_of(&self, needle: &str) -> BTreeSet<String> {
        let mut grams = BTreeSet::new();
        if let Some(analyzer) = &self.trigrams {
            let mut analyzer = analyzer.clone();
            let mut stream = analyzer.token_stream(needle);
            while stream.advance() {
                grams.insert(stream.token().text.clone());
            }
        }
        grams
    }

    fn read_line(&self, addr: DocAddress) -> Result<IndexedLine> {
        let doc: TantivyDocument = self.searcher.doc(addr)?;
        let f = &self.fields;
        let u64_of = |field| doc.get_first(field).and_then(|v| v.as_u64());
        let line = u64_of(f.line).ok_or(IndexError::Malformed("line document lacks line"))?;
        let level = u64_of(f.level)
            .and_then(Level::from_u64)
            .ok_or(IndexError::Malformed("line document has no valid level"))?;
        let source = u64_of(f.source)
            .and_then(Source::from_u64)
            .ok_or(IndexError::Malformed("line document has no valid source"))?;
        let text = doc
            .get_first(f.text)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let timestamp = doc
            .get_first(f.timestamp)
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Ok(IndexedLine {
            line,
            level,
            source,
            timestamp,
            text,
        })
    }
}

/// Collects (line number, address) of matching documents whose line lies in
/// `first..=last`.
struct LinesInRange {
    line_field: tantivy::schema::Field,
    first: u64,
    last: u64,
}

struct LinesInRangeSegment {
    lines: Column<u64>,
    segment: SegmentOrdinal,
    first: u64,
    last: u64,
    hits: Vec<(u64, DocAddress)>,
}

impl Collector for LinesInRange {
    type Fruit = Vec<(u64, DocAddress)>;
    type Child = LinesInRangeSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<LinesInRangeSegment> {
        let name = reader.schema().get_field_name(self.line_field).to_owned();
        Ok(LinesInRangeSegment {
            lines: reader.fast_fields().u64(&name)?,
            segment,
            first: self.first,
            last: self.last,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<Vec<(u64, DocAddress)>>,
    ) -> tantivy::Result<Vec<(u64, DocAddress)>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for LinesInRangeSegment {
    type Fruit = Vec<(u64, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(line) = self.lines.first(doc) {
            if line >= self.first && line <= self.last {
                self.hits.push((line, DocAddress::new(self.segment, doc)));
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.hits
    }
}
