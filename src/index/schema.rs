//! The index schema: which fields a block document and a run document have,
//! and how each is indexed.
//!
//! The unit of indexing is a *block* of [`BLOCK_LINES`] consecutive lines of
//! one run, not a line. Three choices carry the query design:
//! * `block` packs (run id, block number) into one indexed and fast u64, so a
//!   page at any depth looks its block up by one term, and a candidate
//!   document tells its run and position from one fast-field read.
//! * Trigrams are indexed per *chunk* of [`CHUNK_BLOCKS`] blocks, on a chunk
//!   document: `grams` holds the distinct character trigrams of its blocks'
//!   lowercased lines as integer terms (see [`super::grams`]), and `masks`
//!   stores which of its blocks hold each (see [`super::chunk`]). A
//!   `contains` needle intersects the postings of its rarest trigrams, so a
//!   rare or absent needle touches few documents whatever the size of the
//!   index; a candidate chunk's masks name its candidate blocks, which are
//!   then checked line by line against their stored text.
//! * `levels` and `sources` hold the distinct levels and sources of the
//!   block's lines, so `level`/`source` filters skip blocks without them.
//!
//! Per-line data (level, source, timestamp, text) lives in the block's stored
//! `body` (see [`super::block`]).

use tantivy::schema::{Field, NumericOptions, Schema, FAST, INDEXED, STORED};

use super::{IndexError, Result};

/// Lines per block: small enough that a false-positive candidate costs little
/// to check and an unfiltered page reads one or two blocks, large enough that
/// the postings per line stay few. Measured against 256 lines: 256 indexes
/// about 20% faster, but a search across runs took 2.5 to 3 times as long
/// (each candidate block holds twice the lines to check).
pub const BLOCK_SHIFT: u32 = 7;
pub const BLOCK_LINES: u64 = 1 << BLOCK_SHIFT;

/// Blocks per chunk: one chunk document carries their trigrams. A block
/// mask is 16 bits ([`super::chunk::BlockMask`]).
pub const CHUNK_SHIFT: u32 = 4;
pub const CHUNK_BLOCKS: usize = 1 << CHUNK_SHIFT;

/// Bits of a `block` value that hold the block number; the run id sits above.
/// 2^32 blocks of 128 lines per run, and run ids up to 2^31 - 1, fit in 64 bits.
const BLOCK_BITS: u32 = 32;

/// The layout this build writes. Stored in the state database; an index
/// written with another layout is rebuilt at start (see [`crate::daemon`]).
/// v2: the body is stored as text, and blocks carry their (level, source)
/// pairs. v3: the state database counts every run's lines by failure
/// signature (filled by the same rebuild; the blocks are as in v2). v4:
/// trigrams move to chunk documents, and a run's record is in fast fields.
pub const LAYOUT_VERSION: &str = "chunks-v4";

/// Handles to the schema's fields.
#[derive(Clone, Debug)]
pub struct Fields {
    /// Run id, on every document (block, chunk and run documents), so one
    /// delete removes a run completely.
    pub run_id: Field,
    /// [`block_key`] of the block, on block documents only (indexed + fast).
    pub block: Field,
    /// (run id, chunk number) packed as [`block_key`] packs a block, on
    /// chunk documents only (indexed + fast).
    pub chunk: Field,
    /// Trigram codes of the chunk's lines (indexed only).
    pub grams: Field,
    /// [`kind_code`]s present in the chunk (indexed only).
    pub chunk_kinds: Field,
    /// The chunk's block masks, by [`super::chunk::ChunkGrams::encode`]
    /// (stored only).
    pub masks: Field,
    /// Level codes present in the block (indexed only).
    pub levels: Field,
    /// Source codes present in the block (indexed only).
    pub sources: Field,
    /// [`kind_code`]s of the (level, source) pairs present in the block
    /// (indexed only): a level and source filter together finds the blocks
    /// holding a line with both, not only blocks holding each somewhere.
    pub kinds: Field,
    /// The block's lines, packed by [`super::block::encode`] (stored only).
    pub body: Field,
    /// Run id, on the run document only: finds it, and replaces it alone.
    pub run_doc: Field,
    /// On the run document: content generation and number of lines (fast:
    /// a restart reads every run's, and a stored read decompresses a whole
    /// doc-store block).
    pub generation: Field,
    pub lines: Field,
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let indexed = NumericOptions::default().set_indexed();
    let fields = Fields {
        run_id: b.add_u64_field("run_id", indexed.clone()),
        block: b.add_u64_field("block", INDEXED | FAST),
        chunk: b.add_u64_field("chunk", INDEXED | FAST),
        grams: b.add_u64_field("grams", indexed.clone()),
        chunk_kinds: b.add_u64_field("chunk_kinds", indexed.clone()),
        masks: b.add_text_field("masks", STORED),
        levels: b.add_u64_field("levels", indexed.clone()),
        sources: b.add_u64_field("sources", indexed.clone()),
        kinds: b.add_u64_field("kinds", indexed.clone()),
        body: b.add_text_field("body", STORED),
        run_doc: b.add_u64_field("run_doc", indexed),
        generation: b.add_u64_field("generation", FAST),
        lines: b.add_u64_field("lines", FAST),
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
            chunk: get("chunk")?,
            grams: get("grams")?,
            chunk_kinds: get("chunk_kinds")?,
            masks: get("masks")?,
            levels: get("levels")?,
            sources: get("sources")?,
            kinds: get("kinds")?,
            body: get("body")?,
            run_doc: get("run_doc")?,
            generation: get("generation")?,
            lines: get("lines")?,
        })
    }
}

/// The `kinds` code of a line's (level, source) pair.
pub fn kind_code(level: u64, source: u64) -> u64 {
    (level << 3) | (source & 7)
}

/// The block number of a 1-based line.
pub fn block_of(line: u64) -> u64 {
    line.saturating_sub(1) >> BLOCK_SHIFT
}

/// The chunk number of a block, and the block's place in it.
pub fn chunk_of(block: u64) -> (u64, usize) {
    (
        block >> CHUNK_SHIFT,
        (block & (CHUNK_BLOCKS as u64 - 1)) as usize,
    )
}

/// The first block of a chunk.
pub fn first_block_of(chunk: u64) -> u64 {
    chunk << CHUNK_SHIFT
}

/// The first line (1-based) of a block.
pub fn first_line_of(block: u64) -> u64 {
    (block << BLOCK_SHIFT) + 1
}

/// The `block` term value of a block of a run.
pub fn block_key(run_id: u64, block: u64) -> u64 {
    (run_id << BLOCK_BITS) | (block & ((1 << BLOCK_BITS) - 1))
}

/// The (run id, block number) of a `block` value.
pub fn split_block_key(key: u64) -> (u64, u64) {
    (key >> BLOCK_BITS, key & ((1 << BLOCK_BITS) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_keys_round_trip_and_order_runs_then_blocks() {
        assert_eq!(block_of(1), 0);
        assert_eq!(block_of(BLOCK_LINES), 0);
        assert_eq!(block_of(BLOCK_LINES + 1), 1);
        assert_eq!(first_line_of(block_of(BLOCK_LINES + 1)), BLOCK_LINES + 1);
        let max_run = 2_147_483_647;
        let last_block = block_of(u32::MAX as u64 * BLOCK_LINES);
        assert_eq!(
            split_block_key(block_key(max_run, last_block)),
            (max_run, last_block)
        );
        assert!(block_key(5, last_block) < block_key(6, 0));
        assert_eq!(block_key(5, 3) + 1, block_key(5, 4));
    }
}
