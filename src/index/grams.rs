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

/// Packs three characters into one trigram code.
fn pack(a: char, b: char, c: char) -> u64 {
    ((a as u64) << 42) | ((b as u64) << 21) | (c as u64)
}

/// Appends the trigram codes of `text` (not yet lowercased) to `out`.
/// Duplicates are left for the caller to remove once per block.
pub fn push_trigrams(text: &str, out: &mut Vec<u64>) {
    if text.is_ascii() {
        let b = text.as_bytes();
        out.extend(b.windows(3).map(|w| {
            pack(
                w[0].to_ascii_lowercase() as char,
                w[1].to_ascii_lowercase() as char,
                w[2].to_ascii_lowercase() as char,
            )
        }));
    } else {
        let lower = text.to_lowercase();
        let mut chars = lower.chars();
        let (Some(mut a), Some(mut b)) = (chars.next(), chars.next()) else {
            return;
        };
        for c in chars {
            out.push(pack(a, b, c));
            a = b;
            b = c;
        }
    }
}

/// A `contains` needle, lowercased once, with its trigram codes.
#[derive(Debug, Clone)]
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
        push_trigrams(&lower, &mut trigrams);
        trigrams.sort_unstable();
        trigrams.dedup();
        Needle { lower, trigrams }
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
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    (0..=last_start).any(|i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i..i + needle.len()]
                .iter()
                .zip(needle)
                .all(|(h, n)| h.to_ascii_lowercase() == *n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str) -> Vec<u64> {
        let mut v = Vec::new();
        push_trigrams(text, &mut v);
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
    fn short_text_has_no_trigrams() {
        assert!(grams("ab").is_empty());
        assert!(Needle::new("é").trigrams().is_empty());
        assert_eq!(grams("abcd").len(), 2);
        assert_eq!(grams("ABC"), grams("abc"));
    }
}
