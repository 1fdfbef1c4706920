//! Case-insensitive substring matching, and the trigram codes that let the
//! index find candidate blocks for it.
//!
//! The exact rule the API promises is "the lowercased line contains the
//! lowercased needle" (Rust's `str::to_lowercase`). Every character trigram of
//! the lowercased needle is then a trigram of the lowercased line, so a block
//! holding a matching line holds all of the needle's trigrams: the index can
//! only over-select, and [`Needle::matches`] decides.
//!
//! A trigram is packed into one `u64` (three 21-bit code points), so the
//! writer hands tantivy integers it computed itself: no tokenizer, no
//! per-trigram string.

use std::borrow::Cow;

use rustc_hash::FxHashSet;

/// Packs three characters into one trigram code.
fn pack(a: char, b: char, c: char) -> u64 {
    ((a as u64) << 42) | ((b as u64) << 21) | (c as u64)
}

/// The trigram codes every line of a signature holds: those of its
/// template's literal pieces (see [`crate::signature::literal_fragments`]),
/// matched as `contains` matches, sorted.
pub fn template_grams(template: &str) -> Vec<u64> {
    let mut grams: Vec<u64> = crate::signature::literal_fragments(template)
        .flat_map(|piece| Needle::new(piece).trigrams().to_vec())
        .collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// Calls `f` with each trigram code of `text` (not yet lowercased), in
/// order, duplicates included.
pub fn for_each_trigram(text: &str, mut f: impl FnMut(u64)) {
    if text.is_ascii() {
        for w in text.as_bytes().windows(3) {
            f(pack(
                w[0].to_ascii_lowercase() as char,
                w[1].to_ascii_lowercase() as char,
                w[2].to_ascii_lowercase() as char,
            ));
        }
    } else {
        let lower = text.to_lowercase();
        let mut chars = lower.chars();
        let (Some(mut a), Some(mut b)) = (chars.next(), chars.next()) else {
            return;
        };
        for c in chars {
            f(pack(a, b, c));
            a = b;
            b = c;
        }
    }
}

/// A block indexed with its letter-and-digit trigrams only: it had more
/// than [`MAX_BLOCK_TRIGRAMS`] distinct trigrams. Real codes use 63 bits,
/// so the two markers are never trigrams.
pub const ONLY_ALNUM_GRAMS: u64 = u64::MAX;
/// A block indexed with no trigrams: even its letter-and-digit ones were
/// too many. It is a candidate for every needle, checked line by line.
pub const NO_GRAMS: u64 = u64::MAX - 1;

/// Log text has a few thousand distinct trigrams per block; binary or random
/// bytes decoded as Windows-1252 have tens of thousands, and indexing each
/// of them took over a gigabyte of memory for a 20 MB file (each a distinct
/// term with a posting list of one). Past this many, a block keeps only its
/// trigrams of ASCII letters and digits: most needles have some, random
/// bytes have few, and there are only 36³ of them (keeping all ASCII ones
/// still made 1.3 million distinct terms of a 20 MB file, 180 MB of memory).
pub const MAX_BLOCK_TRIGRAMS: usize = 16_384;

/// Whether a trigram code is three ASCII letters or digits (lowercased).
pub fn is_alnum_gram(code: u64) -> bool {
    [code >> 42, (code >> 21) & 0x1F_FFFF, code & 0x1F_FFFF]
        .iter()
        .all(|&c| c < 128 && (c as u8).is_ascii_alphanumeric())
}

/// The distinct trigram codes of one block, gathered line by line.
///
/// Most of a block's trigrams repeat (log lines are alike), so the set is on
/// the indexing hot path: ASCII trigrams (21 bits) are checked in a bitmap
/// that is cleared code by code, the rest in a hash set.
pub struct TrigramSet {
    ascii: Vec<u64>,
    other: FxHashSet<u64>,
    codes: Vec<u64>,
}

const ASCII_BITS: usize = 1 << 21;

impl Default for TrigramSet {
    fn default() -> Self {
        TrigramSet {
            ascii: vec![0; ASCII_BITS / 64],
            other: FxHashSet::default(),
            codes: Vec::new(),
        }
    }
}

impl TrigramSet {
    /// Adds the trigrams of `text` (not yet lowercased).
    pub fn insert_text(&mut self, text: &str) {
        if text.is_ascii() {
            for w in text.as_bytes().windows(3) {
                let (a, b, c) = (
                    w[0].to_ascii_lowercase(),
                    w[1].to_ascii_lowercase(),
                    w[2].to_ascii_lowercase(),
                );
                let bit = ((a as usize) << 14) | ((b as usize) << 7) | c as usize;
                let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                if self.ascii[word] & mask == 0 {
                    self.ascii[word] |= mask;
                    self.codes.push(pack(a as char, b as char, c as char));
                }
            }
        } else {
            for_each_trigram(text, |g| self.insert(g));
        }
    }

    pub fn insert(&mut self, code: u64) {
        match ascii_bit(code) {
            Some(bit) => {
                let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                if self.ascii[word] & mask == 0 {
                    self.ascii[word] |= mask;
                    self.codes.push(code);
                }
            }
            None => {
                if self.other.insert(code) {
                    self.codes.push(code);
                }
            }
        }
    }

    /// The distinct codes inserted since the last call, in first-seen order;
    /// the set is empty afterwards.
    pub fn take(&mut self) -> Vec<u64> {
        for &code in &self.codes {
            if let Some(bit) = ascii_bit(code) {
                self.ascii[bit / 64] &= !(1u64 << (bit % 64));
            }
        }
        self.other.clear();
        std::mem::take(&mut self.codes)
    }
}

/// The bitmap position of an all-ASCII trigram code.
fn ascii_bit(code: u64) -> Option<usize> {
    let (a, b, c) = (code >> 42, (code >> 21) & 0x1F_FFFF, code & 0x1F_FFFF);
    (a < 128 && b < 128 && c < 128).then_some(((a << 14) | (b << 7) | c) as usize)
}

/// A `contains` needle, lowercased once (here, when the request is
/// checked), with its trigram codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    lower: String,
    /// Distinct trigram codes; empty for a needle under three characters.
    trigrams: Vec<u64>,
}

impl Needle {
    /// `text` is matched case-insensitively; it is lowercased here.
    pub fn new(text: &str) -> Needle {
        let lower = text.to_lowercase();
        let mut trigrams = Vec::new();
        for_each_trigram(&lower, |g| trigrams.push(g));
        trigrams.sort_unstable();
        trigrams.dedup();
        Needle { lower, trigrams }
    }

    /// The needle, lowercased.
    pub fn as_str(&self) -> &str {
        &self.lower
    }

    pub fn trigrams(&self) -> &[u64] {
        &self.trigrams
    }

    /// Whether the lowercased `line` contains the lowercased needle.
    pub fn matches(&self, line: &str) -> bool {
        if self.lower.is_empty() {
            return true;
        }
        // An ASCII line lowercases byte for byte, so no copy is needed. A
        // non-ASCII line may lowercase into ASCII (the Kelvin sign becomes
        // `k`) or change length, so it takes the exact, allocating path.
        if line.is_ascii() {
            ascii_contains_lower(line.as_bytes(), self.lower.as_bytes())
        } else {
            let lower: Cow<'_, str> = Cow::Owned(line.to_lowercase());
            lower.contains(self.lower.as_str())
        }
    }
}

/// Whether ASCII `hay`, lowercased, contains `needle` (already lowercase).
fn ascii_contains_lower(hay: &[u8], needle: &[u8]) -> bool {
    if needle.len() > hay.len() {
        return false;
    }
    if !needle.is_ascii() {
        // A lowercase non-ASCII needle cannot occur in an ASCII line.
        return false;
    }
    // Candidates are found on the needle's first byte in either case with
    // memchr (vectorized); only there is the rest compared.
    let first = needle[0];
    let rest = &needle[1..];
    let window = &hay[..=hay.len() - needle.len()];
    let at = |i: usize| {
        hay[i + 1..i + needle.len()]
            .iter()
            .zip(rest)
            .all(|(h, n)| h.to_ascii_lowercase() == *n)
    };
    if first.is_ascii_lowercase() {
        memchr::memchr2_iter(first, first.to_ascii_uppercase(), window).any(at)
    } else {
        memchr::memchr_iter(first, window).any(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str) -> Vec<u64> {
        let mut v = Vec::new();
        for_each_trigram(text, |g| v.push(g));
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn a_matching_line_holds_every_trigram_of_the_needle() {
        for (line, needle) in [
            ("[ERROR] Segmentation FAULT here", "segmentation fault"),
            ("Ünïcödé Straße ok", "STRASSE"),
            ("Ünïcödé Straße ok", "straße"),
            ("temperature 300\u{212A}", "300k"),
            ("café € 12", "É €"),
        ] {
            let n = Needle::new(needle);
            if n.matches(line) {
                let have = grams(line);
                assert!(
                    n.trigrams().iter().all(|g| have.binary_search(g).is_ok()),
                    "{line:?} / {needle:?}"
                );
            }
        }
    }

    #[test]
    fn matching_is_the_lowercase_substring_rule() {
        let cases = [
            (
                "[ERROR] Segmentation FAULT here",
                "segmentation fault",
                true,
            ),
            ("abc", "abcd", false),
            ("temperature 300\u{212A}", "300k", true),
            ("CAFÉ", "café", true),
            ("cafe", "café", false),
            ("x", "", true),
            ("", "a", false),
            ("aaab", "aab", true),
            ("[Error] at END", "at end", true),
            ("[Error] x", "[error]", true),
            ("x404", "404", true),
            ("aB", "ab", true),
            ("ab", "ba", false),
        ];
        for (line, needle, want) in cases {
            assert_eq!(
                Needle::new(needle).matches(line),
                want,
                "{line:?} {needle:?}"
            );
            assert_eq!(
                line.to_lowercase().contains(&needle.to_lowercase()),
                want,
                "oracle disagrees on {line:?} {needle:?}"
            );
        }
    }

    #[test]
    fn ascii_matching_agrees_with_lowercase_contains_on_every_short_string() {
        // Every string of up to 5 bytes over an alphabet with both cases of
        // a letter and non-letters, against every needle of up to 3 bytes.
        let alphabet = [b'a', b'A', b'b', b'[', b' '];
        let strings = |max: u32| {
            (0..=max).flat_map(move |len| {
                (0..5usize.pow(len)).map(move |mut n| {
                    let mut s = String::new();
                    for _ in 0..len {
                        s.push(char::from(alphabet[n % 5]));
                        n /= 5;
                    }
                    s
                })
            })
        };
        for needle in strings(3) {
            let n = Needle::new(&needle);
            for line in strings(5) {
                let want = line.to_lowercase().contains(&needle.to_lowercase());
                assert_eq!(n.matches(&line), want, "{line:?} {needle:?}");
            }
        }
    }

    #[test]
    fn the_trigram_set_keeps_each_code_once_and_empties_on_take() {
        let mut set = TrigramSet::default();
        for text in ["abcabc ABC", "straße STRASSE", "abc"] {
            set.insert_text(text);
        }
        let mut got = set.take();
        got.sort_unstable();
        let mut want = grams("abcabc ABC");
        want.extend(grams("straße STRASSE"));
        want.sort_unstable();
        want.dedup();
        assert_eq!(got, want);
        assert!(set.take().is_empty());
        set.insert_text("abc");
        assert_eq!(set.take(), grams("abc"), "a taken code can come back");
        for_each_trigram("xyz", |g| set.insert(g));
        assert_eq!(set.take(), grams("xyz"));
    }

    #[test]
    fn short_text_has_no_trigrams() {
        assert!(grams("ab").is_empty());
        assert!(Needle::new("é").trigrams().is_empty());
        assert_eq!(grams("abcd").len(), 2);
        assert_eq!(grams("ABC"), grams("abc"));
    }
}
