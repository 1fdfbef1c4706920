//! Collection: from candidate blocks to verified lines. The index names the
//! candidate block documents, or candidate chunks whose stored masks name
//! their candidate blocks; each block's stored body is read and its lines
//! are checked one by one, in order, and the walk stops as soon as the page
//! is full.
//!
//! Bodies are read as the one string tantivy stores, with no document of
//! field values built around them, and lines are checked where they lie in
//! that string: only a line that is served is copied out.

use tantivy::query::{EnableScoring, Query, Weight};
use tantivy::schema::document::{
    DeserializeError, DocumentDeserialize, DocumentDeserializer, ValueDeserialize,
    ValueDeserializer,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocSet, SegmentReader, Term, TERMINATED};

use super::model::{Filters, Page, PageLine};
use super::Snapshot;
use crate::index::block::{self, IndexedLine, LineRef};
use crate::index::chunk::{BlockCheck, BlockMask};
use crate::index::grams::Needle;
use crate::index::pattern::Pattern;
use crate::index::schema::{
    block_key, chunk_of, first_block_of, first_line_of, split_block_key, CHUNK_BLOCKS,
};
use crate::index::{IndexError, Result};
use crate::parse::line_signature;
use crate::signature::SignatureId;

/// Which documents a query names: blocks, or chunks of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Blocks,
    Chunks,
}

impl Unit {
    /// What a query names: chunks when it comes with the check that
    /// narrows a chunk to its blocks.
    pub(super) fn of(check: Option<&BlockCheck>) -> Unit {
        match check {
            Some(_) => Unit::Chunks,
            None => Unit::Blocks,
        }
    }
}

impl Snapshot {
    /// The field holding the key of a `unit` document.
    pub(super) fn key_field(&self, unit: Unit) -> Field {
        match unit {
            Unit::Blocks => self.fields.block,
            Unit::Chunks => self.fields.chunk,
        }
    }

    /// (key, address) of the live `unit` documents matching `query` whose
    /// (run id, block or chunk number) `keep` accepts, in no particular
    /// order.
    pub(super) fn collect(
        &self,
        query: &dyn Query,
        unit: Unit,
        keep: impl Fn(u64, u64) -> bool,
        segments: &[u32],
    ) -> Result<Vec<(u64, DocAddress)>> {
        let weight: Box<dyn Weight> =
            query.weight(EnableScoring::disabled_from_searcher(&self.searcher))?;
        let mut out = Vec::new();
        for &ord in segments {
            let segment = self.searcher.segment_reader(ord);
            let info = self.segment_info(ord)?;
            let keys = match unit {
                Unit::Blocks => &info.block_keys,
                Unit::Chunks => &info.chunk_keys,
            };
            weight.for_each_no_score(segment, &mut |docs| {
                for &doc in docs {
                    if segment.is_deleted(doc) {
                        continue;
                    }
                    // Other documents have no such key: skipped here.
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
    pub(super) fn scan(
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
    pub(super) fn find_live(
        &self,
        field: Field,
        value: u64,
        segments: &[u32],
    ) -> Result<Option<DocAddress>> {
        let term = Term::from_field_u64(field, value);
        for &ord in segments {
            if let Some(doc) = live_doc(self.searcher.segment_reader(ord), field, &term)? {
                return Ok(Some(DocAddress::new(ord, doc)));
            }
        }
        Ok(None)
    }

    /// Offers the run's blocks from `from` on that `query` names (itself,
    /// or through their chunks' masks) to `walk`, in file order, until it
    /// is full.
    pub(super) fn verify_in_order(
        &self,
        query: &dyn Query,
        check: Option<&BlockCheck>,
        run_id: u64,
        from: u64,
        segments: &[u32],
        walk: &mut Walk<'_>,
    ) -> Result<()> {
        let unit = Unit::of(check);
        let first = match unit {
            Unit::Blocks => from,
            Unit::Chunks => chunk_of(from).0,
        };
        let mut found = self.collect(query, unit, |r, n| r == run_id && n >= first, segments)?;
        found.sort_unstable_by_key(|&(key, _)| key);
        for (key, addr) in found {
            if walk.full() {
                break;
            }
            match check {
                Some(check) => self.offer_chunk((key, addr), check, from, segments, walk)?,
                None => walk.offer(self.read_body(addr)?, split_block_key(key).1)?,
            }
        }
        Ok(())
    }

    /// Offers the run's candidate blocks of chunks `chunks`, from block
    /// `from` on, to `walk`, in file order, until it is full.
    pub(super) fn scan_chunks(
        &self,
        run_id: u64,
        chunks: std::ops::RangeInclusive<u64>,
        check: &BlockCheck,
        from: u64,
        segments: &[u32],
        walk: &mut Walk<'_>,
    ) -> Result<()> {
        for c in chunks {
            if walk.full() {
                break;
            }
            let key = block_key(run_id, c);
            let addr =
                self.find_live(self.fields.chunk, key, segments)?
                    .ok_or(IndexError::Malformed(
                        "a chunk of an indexed run is missing",
                    ))?;
            self.offer_chunk((key, addr), check, from, segments, walk)?;
        }
        Ok(())
    }

    fn offer_chunk(
        &self,
        chunk: (u64, DocAddress),
        check: &BlockCheck,
        from: u64,
        segments: &[u32],
        walk: &mut Walk<'_>,
    ) -> Result<()> {
        let run_id = split_block_key(chunk.0).0;
        // Found one at a time: a page often fills from the first.
        for (block, near) in self.chunk_blocks(chunk, check, from)? {
            if walk.full() {
                break;
            }
            let addr = self.block_addr(run_id, block, near, segments)?;
            walk.offer(self.read_body(addr)?, block)?;
        }
        Ok(())
    }

    /// The blocks of a chunk (its key and address) that its masks say may
    /// hold a match, from block `from` on, in order, each with where it is
    /// if it was written with the chunk: a chunk's document is written
    /// right after its last block, and its blocks right before that.
    pub(super) fn chunk_blocks(
        &self,
        (key, addr): (u64, DocAddress),
        check: &BlockCheck,
        from: u64,
    ) -> Result<Vec<(u64, Option<DocAddress>)>> {
        let chunk = split_block_key(key).1;
        let (mask, present) = check.blocks(&self.read_masks(addr)?)?;
        // The place of the chunk's last block (none present: no block named).
        let last = (BlockMask::BITS - present.leading_zeros()).saturating_sub(1);
        Ok((0..CHUNK_BLOCKS as u32)
            .filter(|&at| mask & (1 << at) != 0)
            .map(|at| {
                let near = addr
                    .doc_id
                    .checked_sub(1 + last.saturating_sub(at))
                    .map(|doc| DocAddress::new(addr.segment_ord, doc));
                (first_block_of(chunk) + u64::from(at), near)
            })
            .filter(|&(block, _)| block >= from)
            .collect())
    }

    /// The address of a block a chunk names: where the chunk says it may
    /// be, when it is there, or else where the index says it is.
    pub(super) fn block_addr(
        &self,
        run_id: u64,
        block: u64,
        near: Option<DocAddress>,
        segments: &[u32],
    ) -> Result<DocAddress> {
        let key = block_key(run_id, block);
        if let Some(near) = near {
            let segment = self.searcher.segment_reader(near.segment_ord);
            if near.doc_id < segment.max_doc()
                && !segment.is_deleted(near.doc_id)
                && self.block_keys(near.segment_ord)?.first(near.doc_id) == Some(key)
            {
                return Ok(near);
            }
        }
        self.find_live(self.fields.block, key, segments)?
            .ok_or(IndexError::Malformed(
                "a block named by its chunk is missing",
            ))
    }

    /// The stored masks of a run's chunk, or `None` when it is not indexed.
    pub(crate) fn chunk(&self, run_id: u64, chunk: u64) -> Result<Option<String>> {
        let segments = self.segments_of(run_id)?;
        match self.find_live(self.fields.chunk, block_key(run_id, chunk), &segments)? {
            Some(addr) => self.read_masks(addr).map(Some),
            None => Ok(None),
        }
    }

    /// The stored masks of a chunk document.
    fn read_masks(&self, addr: DocAddress) -> Result<String> {
        let doc: StoredDoc = self.searcher.doc(addr)?;
        doc.text
            .ok_or(IndexError::Malformed("chunk document lacks its masks"))
    }

    pub(super) fn read_block(&self, addr: DocAddress, block: u64) -> Result<Vec<IndexedLine>> {
        block::decode(&self.read_body(addr)?, first_line_of(block))
    }

    /// The stored body of a block document.
    pub(super) fn read_body(&self, addr: DocAddress) -> Result<String> {
        let doc: StoredDoc = self.searcher.doc(addr)?;
        doc.text
            .ok_or(IndexError::Malformed("block document lacks its body"))
    }
}

/// A block or chunk document as stored: its one stored text (a body, or
/// masks), taken as the string tantivy reads (no document of field values
/// built around it).
struct StoredDoc {
    text: Option<String>,
}

struct StoredText(String);

impl ValueDeserialize for StoredText {
    fn deserialize<'de, D: ValueDeserializer<'de>>(
        d: D,
    ) -> std::result::Result<Self, DeserializeError> {
        d.deserialize_string().map(StoredText)
    }
}

impl DocumentDeserialize for StoredDoc {
    fn deserialize<'de, D: DocumentDeserializer<'de>>(
        mut d: D,
    ) -> std::result::Result<Self, DeserializeError> {
        let mut stored = None;
        // Block and chunk documents store one text and nothing else.
        while let Some((_, StoredText(text))) = d.next_field::<StoredText>()? {
            stored = Some(text);
        }
        Ok(StoredDoc { text: stored })
    }
}

pub(super) fn live_doc(segment: &SegmentReader, field: Field, term: &Term) -> Result<Option<u32>> {
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
pub(super) struct LineFilter<'a> {
    pub(super) levels: u32,
    pub(super) sources: u32,
    needle: Option<&'a Needle>,
    signatures: Option<&'a [SignatureId]>,
    pattern: Option<&'a Pattern>,
}

impl<'a> LineFilter<'a> {
    pub(super) fn new(filters: &'a Filters, needle: Option<&'a Needle>) -> LineFilter<'a> {
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
            signatures: filters.signature.as_ref().map(|s| s.members.as_slice()),
            pattern: filters.regex.as_ref(),
        }
    }

    pub(super) fn passes(&self, line: &LineRef<'_>) -> bool {
        self.levels & (1 << (line.level.as_u64() & 31)) != 0
            && self.sources & (1 << (line.source.as_u64() & 31)) != 0
            && self.needle.is_none_or(|n| n.matches(line.text))
            && self
                .signatures
                .is_none_or(|s| s.binary_search(&line_signature(line.text)).is_ok())
            && self.pattern.is_none_or(|p| p.is_match(line.text))
    }
}

/// The lines of one page, gathered block by block in file order.
pub(super) struct Walk<'a> {
    pub(super) filter: LineFilter<'a>,
    pub(super) after: u64,
    pub(super) want: usize,
    pub(super) page: Page,
}

impl Walk<'_> {
    pub(super) fn full(&self) -> bool {
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
