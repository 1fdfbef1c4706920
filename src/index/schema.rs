//! The index schema: which fields a line document and a run document have,
//! and how each is indexed.
//!
//! Two choices carry the query design:
//! * `block` packs (run id, line number / [`BLOCK_LINES`]) into one indexed
//!   u64, so "lines a..b of run r" is a short, contiguous range of terms. A
//!   page request reads a window of blocks after its cursor instead of every
//!   line of the run, so a deep page costs what the first page costs.
//! * `grams` holds the character trigrams of the lowercased line. A
//!   `contains` needle of three or more characters only looks at lines that
//!   have all of its trigrams, then checks each candidate's stored text, so the
//!   answer is exact and a rare needle touches few lines.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{NgramTokenizer, TextAnalyzer};
use tantivy::Index;

use super::{IndexError, Result};

/// Lines per `block` term. Small enough that an unfiltered page reads one or
/// two blocks, large enough that a sparse filter crosses a big run in few steps.
pub const BLOCK_SHIFT: u32 = 7;
pub const BLOCK_LINES: u64 = 1 << BLOCK_SHIFT;

/// Bits of a `block` value that hold the block number; the run id sits above.
/// 2^25 blocks of 128 lines = 4 billion lines per run.
const BLOCK_BITS: u32 = 25;

pub const TRIGRAM_TOKENIZER: &str = "runlogd_trigram";

/// Handles to the schema's fields.
#[derive(Clone, Debug)]
pub struct Fields {
    /// Run id, on every document (line and run documents), so one delete
    /// removes a run completely.
    pub run_id: Field,
    /// (run id, block of line numbers), on line documents only.
    pub block: Field,
    /// 1-based line number (fast field: read for every candidate).
    pub line: Field,
    pub level: Field,
    pub source: Field,
    /// The whole decoded line.
    pub text: Field,
    /// Trigrams of the lowercased line (indexed only).
    pub grams: Field,
    /// RFC 3339 timestamp, when the line has one.
    pub timestamp: Field,
    /// Run id, on the run document only: finds it, and replaces it alone.
    pub run_doc: Field,
    /// On the run document: content generation and number of lines.
    pub generation: Field,
    pub lines: Field,
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let indexed_u64 = NumericOptions::default().set_indexed();
    let grams = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TRIGRAM_TOKENIZER)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let fields = Fields {
        run_id: b.add_u64_field("run_id", indexed_u64.clone()),
        block: b.add_u64_field("block", indexed_u64.clone()),
        line: b.add_u64_field("line", FAST | STORED),
        level: b.add_u64_field("level", INDEXED | STORED),
        source: b.add_u64_field("source", INDEXED | STORED),
        text: b.add_text_field("text", STORED),
        grams: b.add_text_field("grams", grams),
        timestamp: b.add_text_field("timestamp", STRING | STORED),
        run_doc: b.add_u64_field("run_doc", indexed_u64),
        generation: b.add_u64_field("generation", STORED),
        lines: b.add_u64_field("lines", STORED),
    };
    (b.build(), fields)
}

impl Fields {
    /// Looks the fields up by name in an existing index's schema.
    pub fn from_schema(schema: &Schema) -> Result<Fields> {
        let get = |name: &'static str| {
            schema
                .get_field(name)
                .map_err(|_| IndexError::Malformed("index schema lacks a runlogd field"))
        };
        Ok(Fields {
            run_id: get("run_id")?,
            block: get("block")?,
            line: get("line")?,
            level: get("level")?,
            source: get("source")?,
            text: get("text")?,
            grams: get("grams")?,
            timestamp: get("timestamp")?,
            run_doc: get("run_doc")?,
            generation: get("generation")?,
            lines: get("lines")?,
        })
    }
}

pub fn register_tokenizers(index: &Index) -> Result<()> {
    let trigram = NgramTokenizer::new(3, 3, false)?;
    index
        .tokenizers()
        .register(TRIGRAM_TOKENIZER, TextAnalyzer::from(trigram));
    Ok(())
}

/// The `block` term value of a line of a run.
pub fn block_key(run_id: u64, line: u64) -> u64 {
    (run_id << BLOCK_BITS) | ((line >> BLOCK_SHIFT) & ((1 << BLOCK_BITS) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_keys_are_contiguous_within_a_run_and_ordered_across_runs() {
        assert_eq!(block_key(5, 0), block_key(5, BLOCK_LINES - 1));
        assert_eq!(block_key(5, BLOCK_LINES), block_key(5, 0) + 1);
        assert!(block_key(5, u32::MAX as u64) < block_key(6, 0));
        assert!(block_key(2_147_483_647, u32::MAX as u64) > block_key(2_147_483_646, 1));
    }
}
