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
use std::ops::Range;

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
/// the indexing hot path. Trigrams of printable ASCII (and tab) are checked
/// in a bitmap indexed by the three characters' [`CLASS`]es: 71³ bits, 45
/// KB, which stays in the L1 cache where a bitmap of every ASCII trigram
/// (2²¹ bits) did not, and measured three times slower. Every other
/// trigram is kept in a hash set.
pub struct TrigramSet {
    printable: Vec<u64>,
    other: FxHashSet<u64>,
    codes: Vec<u64>,
}

/// Lowercased printable ASCII and tab: 69 + 1 characters.
const CLASSES: usize = 70;
/// The class of every other byte: its trigrams go to the hash set.
const NOT_PRINTABLE: u8 = CLASSES as u8;
const PRINTABLE_BITS: usize = (CLASSES + 1) * (CLASSES + 1) * (CLASSES + 1);

/// Each byte's class: its place among the lowercased printable ASCII
/// characters and tab (an upper-case letter shares its lower-case letter's
/// class, as `contains` matches), or [`NOT_PRINTABLE`].
const CLASS: [u8; 256] = {
    let mut class = [NOT_PRINTABLE; 256];
    let mut next = 0u8;
    let mut b = 0usize;
    while b < 128 {
        let byte = b as u8;
        let printable = (byte >= b' ' && byte <= b'~') || byte == b'\t';
        if printable && !byte.is_ascii_uppercase() {
            class[b] = next;
            next += 1;
        }
        b += 1;
    }
    let mut b = b'A';
    while b <= b'Z' {
        class[b as usize] = class[b.to_ascii_lowercase() as usize];
        b += 1;
    }
    class
};

/// The bitmap position of three classes (none [`NOT_PRINTABLE`]).
fn printable_bit(a: u8, b: u8, c: u8) -> usize {
    (a as usize * (CLASSES + 1) + b as usize) * (CLASSES + 1) + c as usize
}

impl Default for TrigramSet {
    fn default() -> Self {
        TrigramSet {
            printable: vec![0; PRINTABLE_BITS.div_ceil(64)],
            other: FxHashSet::default(),
            codes: Vec::new(),
        }
    }
}

impl TrigramSet {
    /// Adds the trigrams of `text` (not yet lowercased).
    pub fn insert_text(&mut self, text: &str) {
        if !text.is_ascii() {
            for_each_trigram(text, |g| self.insert(g));
            return;
        }
        // Split borrows: the bitmap is not reloaded after every push.
        let TrigramSet {
            printable, codes, ..
        } = self;
        let mut pending = Vec::new();
        let bytes = text.as_bytes();
        let lower = |x: u8| char::from(x.to_ascii_lowercase());
        // Each byte's class is looked up once and carried to the next two
        // windows (three lookups per window were an eighth of this loop).
        let (mut a, mut b) = match bytes {
            [x, y, _, ..] => (CLASS[*x as usize], CLASS[*y as usize]),
            _ => return,
        };
        for (i, &z) in bytes.iter().enumerate().skip(2) {
            let c = CLASS[z as usize];
            let (x, y) = (bytes[i - 2], bytes[i - 1]);
            // NOT_PRINTABLE is the greatest class.
            if a.max(b).max(c) == NOT_PRINTABLE {
                pending.push(pack(lower(x), lower(y), lower(z)));
            } else {
                let bit = printable_bit(a, b, c);
                let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                if printable[word] & mask == 0 {
                    printable[word] |= mask;
                    codes.push(pack(lower(x), lower(y), lower(z)));
                }
            }
            (a, b) = (b, c);
        }
        for code in pending {
            self.insert(code);
        }
    }

    pub fn insert(&mut self, code: u64) {
        match printable_bit_of(code) {
            Some(bit) => {
                let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                if self.printable[word] & mask == 0 {
                    self.printable[word] |= mask;
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

    /// The distinct codes inserted since the last [`TrigramSet::clear`],
    /// in first-seen order.
    pub fn codes(&self) -> &[u64] {
        &self.codes
    }

    /// Empties the set, keeping its memory for the next block.
    pub fn clear(&mut self) {
        // Zeroing the whole bitmap (45 KB) is cheaper than finding the
        // bit of each of a block's thousand-odd codes.
        self.printable.fill(0);
        self.other.clear();
        self.codes.clear();
    }
}

/// The bitmap position of a trigram code of three printable characters.
fn printable_bit_of(code: u64) -> Option<usize> {
    // Codes are lowercased; an upper-case letter here (a caller's own
    // code) must not share its lower-case letter's bit.
    let class = |c: u64| match u8::try_from(c) {
        Ok(byte) if !byte.is_ascii_uppercase() => CLASS[byte as usize],
        _ => NOT_PRINTABLE,
    };
    let (a, b, c) = (
        class(code >> 42),
        class((code >> 21) & 0x1F_FFFF),
        class(code & 0x1F_FFFF),
    );
    (a != NOT_PRINTABLE && b != NOT_PRINTABLE && c != NOT_PRINTABLE).then(|| printable_bit(a, b, c))
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

impl Needle {
    /// Where the needle occurs in `line`, as byte ranges of `line`, in
    /// order and not overlapping (what a reader sees highlighted).
    /// Characters are lowercased one by one, so a match is mapped back to
    /// the characters it came from.
    pub fn find_ranges(&self, line: &str) -> Vec<Range<usize>> {
        let needle = self.lower.as_str();
        let mut out = Vec::new();
        if needle.is_empty() {
            return out;
        }
        if line.is_ascii() {
            let (hay, n) = (line.as_bytes(), needle.as_bytes());
            let mut at = 0;
            while at + n.len() <= hay.len() {
                let here = hay[at..at + n.len()]
                    .iter()
                    .zip(n)
                    .all(|(h, c)| h.to_ascii_lowercase() == *c);
                if here {
                    out.push(at..at + n.len());
                    at += n.len();
                } else {
                    at += 1;
                }
            }
            return out;
        }
        // The lowercased line, and for each of its bytes the character of
        // `line` it came from.
        let mut lower = String::with_capacity(line.len());
        let mut origin: Vec<Range<usize>> = Vec::with_capacity(line.len());
        for (start, c) in line.char_indices() {
            let from = start..start + c.len_utf8();
            for l in c.to_lowercase() {
                lower.push(l);
                origin.extend(std::iter::repeat_n(from.clone(), l.len_utf8()));
            }
        }
        for (at, m) in lower.match_indices(needle) {
            if let (Some(first), Some(last)) = (origin.get(at), origin.get(at + m.len() - 1)) {
                out.push(first.start..last.end);
            }
        }
        out
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
    fn the_trigram_set_keeps_each_code_once_and_empties_on_clear() {
        let mut set = TrigramSet::default();
        for text in ["abcabc ABC", "straße STRASSE", "abc"] {
            set.insert_text(text);
        }
        let mut got = set.codes().to_vec();
        set.clear();
        got.sort_unstable();
        let mut want = grams("abcabc ABC");
        want.extend(grams("straße STRASSE"));
        want.sort_unstable();
        want.dedup();
        assert_eq!(got, want);
        assert!(set.codes().is_empty());
        set.insert_text("abc");
        assert_eq!(set.codes(), grams("abc"), "a cleared code can come back");
        set.clear();
        for_each_trigram("xyz", |g| set.insert(g));
        assert_eq!(set.codes(), grams("xyz"));
    }

    #[test]
    fn the_printable_bitmap_agrees_with_the_plain_extraction() {
        // Pseudo-random ASCII lines over every byte value below 128, both
        // cases included, one block at a time.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut set = TrigramSet::default();
        for round in 0..200 {
            let lines: Vec<String> = (0..8)
                .map(|_| {
                    let len = (x % 40) as usize;
                    (0..len)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            char::from((x % 128) as u8)
                        })
                        .collect()
                })
                .collect();
            let mut want = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                // Both ways in, one set: a code is kept once whichever way
                // it came.
                if i % 2 == 0 {
                    set.insert_text(line);
                } else {
                    for_each_trigram(line, |g| set.insert(g));
                }
                want.extend(grams(line));
            }
            want.sort_unstable();
            want.dedup();
            let mut got = set.codes().to_vec();
            got.sort_unstable();
            assert_eq!(got, want, "round {round}: {lines:?}");
            assert_eq!(set.codes().len(), want.len(), "each code once");
            set.clear();
        }
    }

    #[test]
    fn needle_ranges_point_at_the_original_characters() {
        let ranges = |line: &str, needle: &str| Needle::new(needle).find_ranges(line);
        assert_eq!(ranges("Error: an ERROR", "error"), vec![0..5, 10..15]);
        assert_eq!(ranges("aaaa", "aa"), vec![0..2, 2..4], "not overlapping");
        assert_eq!(ranges("abc", "x"), Vec::<Range<usize>>::new());
        // A character that lowercases to two covers both; bytes before it
        // keep their places.
        let line = "é İx STRASSE";
        let found = ranges(line, "i\u{307}x");
        assert_eq!(
            found.iter().map(|r| &line[r.clone()]).collect::<Vec<_>>(),
            ["İx"]
        );
        let found = ranges("Ünïcödé CAFÉ café", "café");
        assert_eq!(found, vec![12..17, 18..23]);
    }

    #[test]
    fn short_text_has_no_trigrams() {
        assert!(grams("ab").is_empty());
        assert!(Needle::new("é").trigrams().is_empty());
        assert_eq!(grams("abcd").len(), 2);
        assert_eq!(grams("ABC"), grams("abc"));
    }
}
