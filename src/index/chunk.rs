//! A chunk's trigrams: which of its blocks hold each one.
//!
//! Trigram postings name *chunks* of [`CHUNK_BLOCKS`] consecutive blocks of a
//! run, not blocks: a chunk's distinct trigrams are about a fifth of its
//! blocks' trigrams added up (log lines repeat their words), and adding
//! postings was half of the indexing CPU. Block precision is kept beside
//! them: the chunk document stores, for each of its trigrams, a 16-bit mask
//! of the blocks holding it, and each block's (level, source) kinds. A
//! candidate chunk's masks evaluate the needle's [`GramQuery`] to the blocks
//! that may hold a match before any body is read.
//!
//! Stored form ([`ChunkGrams::encode`]): text, so that reading it back is
//! one copy (tantivy reads stored bytes a byte at a time). Every integer is
//! written in 6-bit digits, low first, each digit a character `0x40 | d`
//! when more follow and `d` when it is the last: the text is ASCII.
//! * the masks of the blocks present, of those that kept only their letter
//!   and digit trigrams ([`ONLY_ALNUM_GRAMS`]) and of those that kept none
//!   ([`NO_GRAMS`]); then each present block's kinds bits;
//! * the trigrams grouped by mask: the number of groups, then for each its
//!   mask, its number of trigrams and their [`compact`] keys, ascending,
//!   each as the difference from the one before.
//!
//! Grouping writes each distinct mask once (a chunk of 16 blocks has a few
//! hundred), and a trigram of ASCII characters keys in 21 bits, so a
//! trigram costs about two characters: about what the block postings it
//! replaces cost in tantivy.
//!
//! While a chunk is built, the two markers are entries like any trigram.

use rustc_hash::FxHashMap;

use super::grams::{is_alnum_gram, NO_GRAMS, ONLY_ALNUM_GRAMS};
use super::pattern::GramQuery;
use super::schema::CHUNK_BLOCKS;
use super::{IndexError, Result};

/// A block mask: bit `i` is the chunk's `i`-th block.
pub type BlockMask = u16;

/// A chunk's trigrams with their block masks, and its blocks' kinds, as
/// they are built while its blocks are written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChunkGrams {
    masks: FxHashMap<u64, BlockMask>,
    /// Per block, the bits of the [`super::schema::kind_code`]s of its
    /// lines; 0 for a block not (yet) in the chunk.
    kinds: [u64; CHUNK_BLOCKS],
}

impl ChunkGrams {
    /// Records block `at` (its place in the chunk) with its distinct trigram
    /// codes (markers included) and kinds bits. Adding a block again adds
    /// to what it had: a run's partial last block only ever grows.
    pub fn add_block(&mut self, at: usize, grams: impl IntoIterator<Item = u64>, kinds: u64) {
        let bit: BlockMask = 1 << (at % CHUNK_BLOCKS);
        for g in grams {
            *self.masks.entry(g).or_insert(0) |= bit;
        }
        self.kinds[at % CHUNK_BLOCKS] |= kinds;
    }

    /// Empties the chunk, keeping its memory for the next one.
    pub fn clear(&mut self) {
        self.masks.clear();
        self.kinds = [0; CHUNK_BLOCKS];
    }

    /// The distinct trigram codes (and markers), in no particular order.
    pub fn codes(&self) -> impl Iterator<Item = u64> + '_ {
        self.masks.keys().copied()
    }

    /// How many distinct trigram codes (and markers) the chunk has.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// The kinds bits of every block, together.
    pub fn kinds(&self) -> u64 {
        self.kinds.iter().fold(0, |all, k| all | k)
    }

    pub fn encode(&self) -> Result<String> {
        let mut out = Vec::with_capacity(self.masks.len() * 2 + 64);
        let marked = |marker| u64::from(self.masks.get(&marker).copied().unwrap_or(0));
        put(&mut out, u64::from(self.present()));
        put(&mut out, marked(ONLY_ALNUM_GRAMS));
        put(&mut out, marked(NO_GRAMS));
        for k in self.kinds.iter().filter(|&&k| k != 0) {
            put(&mut out, *k);
        }
        let entries = self.sorted_entries();
        let groups = entries.chunk_by(|a, b| a.0 == b.0);
        put(&mut out, groups.clone().count() as u64);
        for group in groups {
            put(&mut out, u64::from(group[0].0));
            put(&mut out, group.len() as u64);
            let mut previous = 0u64;
            for &(_, key) in group {
                put(&mut out, key - previous);
                previous = key;
            }
        }
        // Every byte `put` writes is below 0x80: this never fails.
        String::from_utf8(out).map_err(|_| IndexError::Malformed("chunk masks are not text"))
    }

    /// The trigrams' (mask, key), sorted: each mask's keys ascend. Keys of
    /// ASCII trigrams (nearly all) are sorted packed with their masks in one
    /// integer, twice as fast as sorting pairs, then merged with the rest.
    fn sorted_entries(&self) -> Vec<(BlockMask, u64)> {
        let mut packed: Vec<u64> = Vec::with_capacity(self.masks.len());
        let mut wide: Vec<(BlockMask, u64)> = Vec::new();
        for (&g, &m) in &self.masks {
            if g == ONLY_ALNUM_GRAMS || g == NO_GRAMS {
                continue;
            }
            match compact(g) {
                key if key < 1 << ASCII_KEY_BITS => {
                    packed.push((u64::from(m) << ASCII_KEY_BITS) | key)
                }
                key => wide.push((m, key)),
            }
        }
        packed.sort_unstable();
        wide.sort_unstable();
        let unpack = |p: u64| {
            (
                (p >> ASCII_KEY_BITS) as BlockMask,
                p & ((1 << ASCII_KEY_BITS) - 1),
            )
        };
        let mut out = Vec::with_capacity(packed.len() + wide.len());
        let (mut p, mut w) = (
            packed.into_iter().map(unpack).peekable(),
            wide.into_iter().peekable(),
        );
        loop {
            let next = match (p.peek(), w.peek()) {
                (Some(a), Some(b)) if a <= b => p.next(),
                (Some(_), Some(_)) => w.next(),
                (Some(_), None) => p.next(),
                (None, _) => w.next(),
            };
            match next {
                Some(entry) => out.push(entry),
                None => return out,
            }
        }
    }

    /// The chunk as stored, to add blocks to (a run grew).
    pub fn decode(stored: &str) -> Result<ChunkGrams> {
        let mut reader = StoredChunk::new(stored.as_bytes())?;
        let mut chunk = ChunkGrams {
            masks: FxHashMap::default(),
            kinds: reader.kinds,
        };
        for (marker, mask) in [(ONLY_ALNUM_GRAMS, reader.partial), (NO_GRAMS, reader.none)] {
            if mask != 0 {
                chunk.masks.insert(marker, mask);
            }
        }
        while let Some((key, mask)) = reader.next_entry()? {
            chunk.masks.insert(code_of(key), mask);
        }
        Ok(chunk)
    }

    fn present(&self) -> BlockMask {
        self.kinds
            .iter()
            .enumerate()
            .filter(|(_, &k)| k != 0)
            .fold(0, |m, (i, _)| m | 1 << i)
    }
}

/// What a candidate chunk's blocks must satisfy: the required trigrams (as
/// a full block answers them, and as a block that kept only its letter and
/// digit trigrams does), and the wanted (level, source) kinds.
#[derive(Debug, Clone)]
pub struct BlockCheck {
    required: GramQuery,
    alnum: GramQuery,
    /// Sorted [`compact`] keys of the codes the query names.
    keys: Vec<u64>,
    /// A bit per key, at `key % KEY_FILTER_BITS`: most of a chunk's
    /// trigrams are ruled out by one bit test, not a search.
    filter: [u64; (KEY_FILTER_BITS / 64) as usize],
    /// Bits of the wanted kind codes; all ones for any.
    kinds: u64,
}

impl BlockCheck {
    pub fn new(required: &GramQuery, kinds: u64) -> BlockCheck {
        let alnum = required.keeping(&is_alnum_gram);
        let mut codes = Vec::new();
        gather(required, &mut codes);
        let mut keys: Vec<u64> = codes.into_iter().map(compact).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut filter = [0u64; (KEY_FILTER_BITS / 64) as usize];
        for &key in &keys {
            filter[(key % KEY_FILTER_BITS) as usize / 64] |= 1 << (key % 64);
        }
        BlockCheck {
            required: required.clone(),
            alnum,
            keys,
            filter,
            kinds,
        }
    }

    /// The blocks of a stored chunk that may hold a matching line, and the
    /// blocks it has.
    pub fn blocks(&self, stored: &str) -> Result<(BlockMask, BlockMask)> {
        let mut reader = StoredChunk::new(stored.as_bytes())?;
        let mut found: Vec<BlockMask> = vec![0; self.keys.len()];
        let mut missing = self.keys.len();
        // Each key is in one group: reading stops once every key is found
        // (a common needle's are, about half-way through on average).
        while missing > 0 {
            let Some((key, mask)) = reader.next_entry()? else {
                break;
            };
            if self.filter[(key % KEY_FILTER_BITS) as usize / 64] & (1 << (key % 64)) == 0 {
                continue;
            }
            if let Ok(i) = self.keys.binary_search(&key) {
                found[i] = mask;
                missing -= 1;
            }
        }
        let mask_of =
            |g: u64| -> BlockMask { self.keys.binary_search(&compact(g)).map_or(0, |i| found[i]) };
        let (present, partial, none) = (reader.present, reader.partial, reader.none);
        let full = present & !partial & !none;
        let by_grams = (eval(&self.required, &mask_of) & full)
            | (eval(&self.alnum, &mask_of) & partial)
            | none;
        let by_kinds = reader
            .kinds
            .iter()
            .enumerate()
            .filter(|(_, &k)| k & self.kinds != 0)
            .fold(0 as BlockMask, |m, (i, _)| m | 1 << i);
        Ok((by_grams & by_kinds & present, present))
    }
}

/// The blocks whose trigrams satisfy `query`, given each trigram's mask.
fn eval(query: &GramQuery, mask_of: &impl Fn(u64) -> BlockMask) -> BlockMask {
    match query {
        GramQuery::All => BlockMask::MAX,
        GramQuery::Gram(g) => mask_of(*g),
        GramQuery::And(parts) => parts
            .iter()
            .fold(BlockMask::MAX, |m, p| m & eval(p, mask_of)),
        GramQuery::Or(parts) => parts.iter().fold(0, |m, p| m | eval(p, mask_of)),
    }
}

fn gather(query: &GramQuery, out: &mut Vec<u64>) {
    match query {
        GramQuery::All => {}
        GramQuery::Gram(g) => out.push(*g),
        GramQuery::And(parts) | GramQuery::Or(parts) => {
            parts.iter().for_each(|p| gather(p, out));
        }
    }
}

/// Reads a stored chunk: its header whole, its entries one at a time.
struct StoredChunk<'a> {
    bytes: &'a [u8],
    present: BlockMask,
    /// Blocks that kept only their letter and digit trigrams, and none.
    partial: BlockMask,
    none: BlockMask,
    kinds: [u64; CHUNK_BLOCKS],
    /// Groups not yet begun, and what is left of the current one.
    groups: u64,
    mask: BlockMask,
    remaining: u64,
    previous: u64,
}

impl<'a> StoredChunk<'a> {
    fn new(mut bytes: &'a [u8]) -> Result<StoredChunk<'a>> {
        let mut mask = || {
            BlockMask::try_from(take(&mut bytes)?)
                .map_err(|_| IndexError::Malformed("a chunk's block mask is out of range"))
        };
        let (present, partial, none) = (mask()?, mask()?, mask()?);
        let mut kinds = [0u64; CHUNK_BLOCKS];
        for (i, k) in kinds.iter_mut().enumerate() {
            if present & (1 << i) != 0 {
                *k = take(&mut bytes)?;
            }
        }
        let groups = take(&mut bytes)?;
        Ok(StoredChunk {
            bytes,
            present,
            partial,
            none,
            kinds,
            groups,
            mask: 0,
            remaining: 0,
            previous: 0,
        })
    }

    /// The next trigram's key and mask.
    fn next_entry(&mut self) -> Result<Option<(u64, BlockMask)>> {
        while self.remaining == 0 {
            if self.groups == 0 {
                return Ok(None);
            }
            self.groups -= 1;
            self.mask = BlockMask::try_from(take(&mut self.bytes)?)
                .map_err(|_| IndexError::Malformed("a chunk's block mask is out of range"))?;
            self.remaining = take(&mut self.bytes)?;
            self.previous = 0;
        }
        self.remaining -= 1;
        // A `match`, not `ok_or`: the error value `ok_or` is given is built
        // and dropped for every entry, a twentieth of a page's reading.
        let Some(key) = digits(&mut self.bytes).and_then(|d| self.previous.checked_add(d)) else {
            return Err(IndexError::Malformed("a chunk's masks are cut or damaged"));
        };
        self.previous = key;
        Ok(Some((key, self.mask)))
    }
}

/// Bits of [`BlockCheck`]'s key filter.
const KEY_FILTER_BITS: u64 = 4096;

/// Bits of the key of a trigram of three ASCII characters.
const ASCII_KEY_BITS: u32 = 21;

/// Keys trigrams of three ASCII characters (nearly all of a log's) in 21
/// bits, so that the differences between sorted keys are small; other
/// trigrams follow them, in their own order.
fn compact(code: u64) -> u64 {
    let (a, b, c) = (code >> 42, (code >> 21) & 0x1F_FFFF, code & 0x1F_FFFF);
    if a < 128 && b < 128 && c < 128 {
        (a << 14) | (b << 7) | c
    } else {
        // Codes use 63 bits: no overflow.
        (1 << ASCII_KEY_BITS) + code
    }
}

/// The code of a [`compact`] key.
fn code_of(key: u64) -> u64 {
    if key < 1 << ASCII_KEY_BITS {
        ((key >> 14) << 42) | (((key >> 7) & 0x7F) << 21) | (key & 0x7F)
    } else {
        key - (1 << ASCII_KEY_BITS)
    }
}

/// Bits of an integer per character, and the flag of a character that
/// more follow.
const DIGIT_BITS: u32 = 6;
const MORE: u8 = 0x40;

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= u64::from(MORE) {
        out.push((v as u8 & (MORE - 1)) | MORE);
        v >>= DIGIT_BITS;
    }
    out.push(v as u8);
}

fn take(bytes: &mut &[u8]) -> Result<u64> {
    match digits(bytes) {
        Some(v) => Ok(v),
        None => Err(IndexError::Malformed("a chunk's masks are cut or damaged")),
    }
}

/// The next integer, or `None` when the text ends first or is not what
/// [`put`] writes. (An `Option`, not a `Result`: building and dropping an
/// error value per number was a tenth of a chunk's reading.)
#[inline]
fn digits(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some((&b, rest)) = bytes.split_first() {
        *bytes = rest;
        if b >= 0x80 || shift >= 64 {
            return None;
        }
        v |= u64::from(b & (MORE - 1)) << shift;
        if b & MORE == 0 {
            return Some(v);
        }
        shift += DIGIT_BITS;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk(blocks: &[(usize, &[u64], u64)]) -> ChunkGrams {
        let mut c = ChunkGrams::default();
        for &(at, grams, kinds) in blocks {
            c.add_block(at, grams.iter().copied(), kinds);
        }
        c
    }

    #[test]
    fn masks_answer_and_or_and_kinds() -> Result<()> {
        let c = chunk(&[
            (0, &[1, 2, 3], 0b01),
            (1, &[2, 3, 4], 0b10),
            (5, &[1, 4, 1 << 40], 0b11),
        ]);
        let stored = c.encode()?;
        let g = GramQuery::Gram;
        let any = u64::MAX;
        let blocks =
            |q: GramQuery, kinds: u64| BlockCheck::new(&q, kinds).blocks(&stored).map(|b| b.0);
        assert_eq!(blocks(g(2), any)?, 0b11);
        assert_eq!(blocks(GramQuery::and(vec![g(1), g(4)]), any)?, 1 << 5);
        assert_eq!(blocks(GramQuery::or(vec![g(1), g(4)]), any)?, 0b10_0011);
        assert_eq!(blocks(g(1 << 40), any)?, 1 << 5);
        assert_eq!(blocks(g(9), any)?, 0);
        assert_eq!(blocks(GramQuery::All, 0b10)?, 0b10_0010);
        assert_eq!(blocks(g(3), 0b10)?, 0b10);
        assert_eq!(ChunkGrams::decode(&stored)?, c);
        Ok(())
    }

    #[test]
    fn blocks_without_all_their_trigrams_answer_what_they_kept() -> Result<()> {
        let alnum = (u64::from(b'a') << 42) | (u64::from(b'b') << 21) | u64::from(b'c');
        let other = (u64::from(b'a') << 42) | (u64::from(b'-') << 21) | u64::from(b'c');
        let c = chunk(&[
            (0, &[alnum, other], 1),
            (1, &[alnum, ONLY_ALNUM_GRAMS], 1),
            (2, &[NO_GRAMS], 1),
        ]);
        let stored = c.encode()?;
        let q = GramQuery::and(vec![GramQuery::Gram(alnum), GramQuery::Gram(other)]);
        assert_eq!(
            BlockCheck::new(&q, u64::MAX).blocks(&stored)?,
            (0b111, 0b111)
        );
        let q = GramQuery::Gram(other);
        assert_eq!(BlockCheck::new(&q, u64::MAX).blocks(&stored)?.0, 0b111);
        let q = GramQuery::Gram(alnum + 1);
        assert_eq!(BlockCheck::new(&q, u64::MAX).blocks(&stored)?.0, 0b100);
        Ok(())
    }

    #[test]
    fn damaged_chunks_are_errors_not_panics() -> Result<()> {
        let stored = chunk(&[(0, &[1, 300, 1 << 50], 1), (3, &[300], 2)]).encode()?;
        // A trigram in none of them: every entry is read.
        let check = BlockCheck::new(&GramQuery::Gram(1 << 51), u64::MAX);
        for end in 0..stored.len() {
            assert!(check.blocks(&stored[..end]).is_err(), "cut at {end}");
            assert!(ChunkGrams::decode(&stored[..end]).is_err(), "cut at {end}");
        }
        assert!(check.blocks(&"\u{7f}".repeat(12)).is_err());
        assert!(check.blocks("é").is_err());
        Ok(())
    }

    proptest! {
        /// Every query over a chunk's masks names exactly the blocks whose
        /// trigrams satisfy it, as a check of each block's own set does.
        #[test]
        fn masks_name_the_blocks_a_direct_check_names(
            blocks in proptest::collection::vec(
                (proptest::collection::btree_set(0u64..40, 0..12), 1u64..4), 1..=CHUNK_BLOCKS),
            wanted in proptest::collection::vec(0u64..40, 1..4),
            any_of in any::<bool>(),
            kinds in 1u64..4,
        ) {
            let mut c = ChunkGrams::default();
            for (at, (grams, k)) in blocks.iter().enumerate() {
                c.add_block(at, grams.iter().map(|g| g << 30), *k);
            }
            let parts = wanted.iter().map(|g| GramQuery::Gram(g << 30)).collect();
            let q = if any_of { GramQuery::or(parts) } else { GramQuery::and(parts) };
            let (got, present) = BlockCheck::new(&q, kinds).blocks(&c.encode()?)?;
            prop_assert_eq!(u32::from(present), (1u32 << blocks.len()) - 1);
            let want = blocks.iter().enumerate().fold(0, |m, (at, (grams, k))| {
                let holds = q.admits(&|g| grams.contains(&(g >> 30)));
                if holds && k & kinds != 0 { m | 1 << at } else { m }
            });
            prop_assert_eq!(got, want);
        }

        /// Trigrams of real text (printable ASCII and others) are stored
        /// and read back as added, and a chunk cleared for reuse builds the
        /// same masks as a new one.
        #[test]
        fn text_trigrams_read_back_and_a_reused_chunk_is_a_new_one(
            texts in proptest::collection::vec("[aAb-é\\t\\x01]{0,12}", 1..=CHUNK_BLOCKS),
            needle in "[ab-é]{3,5}",
        ) {
            let grams_of = |text: &str| {
                let mut grams = Vec::new();
                crate::index::grams::for_each_trigram(text, |g| grams.push(g));
                grams
            };
            let mut reused = chunk(&[(0, &[pack3(b"zzz"), pack3(b"z\x01z")], 4)]);
            reused.clear();
            let mut fresh = ChunkGrams::default();
            for (at, text) in texts.iter().enumerate() {
                fresh.add_block(at, grams_of(text), 1);
                reused.add_block(at, grams_of(text), 1);
            }
            let stored = fresh.encode()?;
            prop_assert_eq!(&reused.encode()?, &stored);
            prop_assert_eq!(&ChunkGrams::decode(&stored)?, &fresh);
            let wanted = grams_of(&needle);
            let q = GramQuery::and(wanted.iter().copied().map(GramQuery::Gram).collect());
            let (got, _) = BlockCheck::new(&q, u64::MAX).blocks(&stored)?;
            let want = texts.iter().enumerate().fold(0, |m, (at, text)| {
                let held = grams_of(text);
                if wanted.iter().all(|g| held.contains(g)) { m | 1 << at } else { m }
            });
            prop_assert_eq!(got, want);
        }
    }

    fn pack3(t: &[u8; 3]) -> u64 {
        (u64::from(t[0]) << 42) | (u64::from(t[1]) << 21) | u64::from(t[2])
    }
}
