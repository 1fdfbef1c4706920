//! Where a line's `contains` and `regex` filters matched it, for
//! `highlight=true`: `[start, end)` ranges of the served message, counted
//! in UTF-16 code units, which is how a browser's strings index. The page
//! marks exactly what the server matched and never re-implements the
//! matching (Rust regex, Unicode lowercasing) in JavaScript.

use std::ops::Range;

use crate::index::Filters;

/// The ranges, in order and disjoint (overlapping and touching matches of
/// the two filters are merged), of the first `served` bytes of `text`.
/// Matches are found in the whole line; a range past the served part is
/// dropped, one across its end is cut there.
pub fn matches(text: &str, served: usize, filters: &Filters) -> Vec<[usize; 2]> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    if let Some(n) = &filters.contains {
        ranges.extend(n.find_ranges(text));
    }
    if let Some(p) = &filters.regex {
        ranges.extend(p.find_iter(text));
    }
    ranges.retain(|r| r.start < r.end && r.start < served);
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        let end = r.end.min(served);
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(end),
            _ => merged.push(r.start..end),
        }
    }
    utf16_ranges(&text[..served.min(text.len())], &merged)
}

/// Byte ranges of `text` (sorted, on character boundaries) as UTF-16 ranges.
fn utf16_ranges(text: &str, ranges: &[Range<usize>]) -> Vec<[usize; 2]> {
    // Every boundary, in order, is reached by one walk over the text.
    let mut units = 0;
    let mut chars = text.char_indices().peekable();
    let mut at = |byte: usize| {
        while let Some(&(i, c)) = chars.peek() {
            if i >= byte {
                break;
            }
            units += c.len_utf16();
            chars.next();
        }
        units
    };
    ranges.iter().map(|r| [at(r.start), at(r.end)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::grams::Needle;
    use crate::index::pattern::Pattern;

    fn filters(contains: Option<&str>, regex: Option<&str>) -> Filters {
        Filters {
            contains: contains.map(Needle::new),
            regex: regex.and_then(|r| Pattern::new(r).ok()),
            ..Filters::default()
        }
    }

    /// The text a UTF-16 range names, as a browser would slice it.
    fn slice(text: &str, [from, to]: [usize; 2]) -> String {
        let units: Vec<u16> = text.encode_utf16().collect();
        String::from_utf16_lossy(&units[from..to])
    }

    #[test]
    fn ranges_count_utf16_units_and_merge_both_filters() {
        let text = "😀 Exit code: 139 — exit code: 0";
        let f = filters(Some("exit"), Some(r"code: [1-9]\d*"));
        let got = matches(text, text.len(), &f);
        let names: Vec<String> = got.iter().map(|r| slice(text, *r)).collect();
        assert_eq!(names, ["Exit", "code: 139", "exit"]);
        // The emoji is two UTF-16 units: "Exit" starts at 3, not 2.
        assert_eq!(got[0], [3, 7]);
        // Touching or overlapping matches are one range.
        let f = filters(Some("exit"), Some("(?i)exit code"));
        let got = matches(text, text.len(), &f);
        let names: Vec<String> = got.iter().map(|r| slice(text, *r)).collect();
        assert_eq!(names, ["Exit code", "exit code"]);
    }

    #[test]
    fn only_the_served_part_is_marked_and_empty_matches_are_not() {
        let text = "abc abc abc";
        let f = filters(None, Some("abc"));
        assert_eq!(matches(text, 6, &f), vec![[0, 3], [4, 6]]);
        assert!(matches(text, text.len(), &filters(None, Some("x*"))).is_empty());
        assert!(matches(text, text.len(), &Filters::default()).is_empty());
    }
}
