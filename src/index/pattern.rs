//! Regular expressions answered from the trigram index: the pattern,
//! compiled once when the request is checked, and the boolean query of
//! trigrams that every line it matches must hold.
//!
//! The method is Russ Cox's ("Regular Expression Matching with a Trigram
//! Index", 2012), on the pattern's syntax tree as `regex-syntax` parses it
//! (the parser the `regex` crate itself uses). Each part of the tree gives
//! either the *exact* set of (lowercased) strings it can match, while that
//! set stays small, or a query its matches satisfy. A concatenation joins
//! exact sets (so `ab` then `c` requires `abc`), an alternation ORs its
//! branches, a repetition of at least one keeps its part's query, and
//! anything else (`.*`, `\d+`, a large class) requires nothing. The index
//! holds the trigrams of each *lowercased* line, so the strings are
//! lowercased too: the query may over-select, never miss, and every
//! candidate line is matched with the real regex.
//!
//! Lowercasing a line character by character gives `str::to_lowercase`
//! except for one rule: a capital sigma lowercases to `ς` at the end of a
//! word and to `σ` elsewhere. A trigram holding either sigma is therefore
//! never required.

use std::collections::BTreeSet;
use std::sync::Mutex;

use regex_syntax::hir::{Class, Hir, HirKind};

use super::grams::for_each_trigram;

/// The longest pattern accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 200;

/// Bound on the compiled program and on the lazy DFA's cache: matching is
/// linear in the line, and a pattern that compiles to more is refused.
const COMPILED_SIZE_LIMIT: usize = 1 << 20;

/// Exact sets larger than this become queries.
const MAX_EXACT_STRINGS: usize = 16;
/// A class of more characters than this requires nothing.
const MAX_CLASS_CHARS: u32 = 8;

/// A boolean query over trigram codes: what a line's trigrams must satisfy
/// for the line to possibly match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GramQuery {
    /// Any line may match.
    All,
    Gram(u64),
    And(Vec<GramQuery>),
    Or(Vec<GramQuery>),
}

impl GramQuery {
    /// All of `parts`, flattened; `All` when none requires anything.
    pub fn and(parts: Vec<GramQuery>) -> GramQuery {
        let mut out = Vec::new();
        for p in parts {
            match p {
                GramQuery::All => {}
                GramQuery::And(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        out.dedup();
        match out.len() {
            0 => GramQuery::All,
            1 => out.remove(0),
            _ => GramQuery::And(out),
        }
    }

    /// Any of `parts`, flattened; `All` when one of them is (or none is given).
    pub fn or(parts: Vec<GramQuery>) -> GramQuery {
        let mut out = Vec::new();
        for p in parts {
            match p {
                GramQuery::All => return GramQuery::All,
                GramQuery::Or(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        out.dedup();
        match out.len() {
            0 => GramQuery::All,
            1 => out.remove(0),
            _ => GramQuery::Or(out),
        }
    }

    /// Every trigram of `text` (lowercased as the index lowercases lines).
    pub fn all_grams_of(text: &str) -> GramQuery {
        let mut grams = Vec::new();
        for_each_trigram(text, |g| {
            if !has_sigma(g) {
                grams.push(g)
            }
        });
        grams.sort_unstable();
        grams.dedup();
        GramQuery::and(grams.into_iter().map(GramQuery::Gram).collect())
    }

    pub fn is_all(&self) -> bool {
        matches!(self, GramQuery::All)
    }

    /// Whether a line whose trigrams `has` names may match.
    pub fn admits(&self, has: &impl Fn(u64) -> bool) -> bool {
        match self {
            GramQuery::All => true,
            GramQuery::Gram(g) => has(*g),
            GramQuery::And(parts) => parts.iter().all(|p| p.admits(has)),
            GramQuery::Or(parts) => parts.iter().any(|p| p.admits(has)),
        }
    }

    /// The same query with every trigram that `keep` refuses turned into
    /// `All` (what a block that kept only some of its trigrams can answer).
    pub fn keeping(&self, keep: &impl Fn(u64) -> bool) -> GramQuery {
        match self {
            GramQuery::All => GramQuery::All,
            GramQuery::Gram(g) if keep(*g) => GramQuery::Gram(*g),
            GramQuery::Gram(_) => GramQuery::All,
            GramQuery::And(parts) => {
                GramQuery::and(parts.iter().map(|p| p.keeping(keep)).collect())
            }
            GramQuery::Or(parts) => GramQuery::or(parts.iter().map(|p| p.keeping(keep)).collect()),
        }
    }
}

/// Whether a trigram code holds either lowercase sigma (see the module doc).
fn has_sigma(code: u64) -> bool {
    [code >> 42, (code >> 21) & 0x1F_FFFF, code & 0x1F_FFFF]
        .iter()
        .any(|&c| c == 0x3C3 || c == 0x3C2)
}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("must be at most {MAX_PATTERN_CHARS} characters")]
    TooLong,
    #[error("{0}")]
    Invalid(String),
}

/// A checked `regex` filter: the compiled pattern and its trigram query.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
    grams: GramQuery,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

/// Patterns compiled lately, most recent last. Compiling takes a few
/// hundred microseconds, more than a rare pattern's whole first page, and
/// a reader asks the same pattern again and again (the next page, `n` in
/// the viewer).
static RECENT: Mutex<Vec<Pattern>> = Mutex::new(Vec::new());
const RECENT_PATTERNS: usize = 64;

impl Pattern {
    /// Compiles `source` with the `regex` crate's syntax (as ripgrep
    /// does): case-sensitive unless it says `(?i)`. A pattern compiled
    /// lately is reused.
    pub fn new(source: &str) -> Result<Pattern, PatternError> {
        if source.chars().count() > MAX_PATTERN_CHARS {
            return Err(PatternError::TooLong);
        }
        if let Ok(mut recent) = RECENT.lock() {
            if let Some(at) = recent.iter().position(|p| p.source == source) {
                let p = recent.remove(at);
                recent.push(p.clone());
                return Ok(p);
            }
        }
        let compiled = Pattern::compile(source)?;
        if let Ok(mut recent) = RECENT.lock() {
            if recent.len() >= RECENT_PATTERNS {
                recent.remove(0);
            }
            recent.push(compiled.clone());
        }
        Ok(compiled)
    }

    fn compile(source: &str) -> Result<Pattern, PatternError> {
        let regex = regex::RegexBuilder::new(source)
            .size_limit(COMPILED_SIZE_LIMIT)
            .dfa_size_limit(COMPILED_SIZE_LIMIT)
            .build()
            .map_err(|e| PatternError::Invalid(e.to_string()))?;
        // The same parser, with the same (default) options, as the regex.
        let hir = regex_syntax::Parser::new()
            .parse(source)
            .map_err(|e| PatternError::Invalid(e.to_string()))?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
            grams: Info::of(&hir).into_query(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// What the index is asked: the trigrams a matching line must hold.
    pub fn grams(&self) -> &GramQuery {
        &self.grams
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The byte ranges of the matches in `text`, in order.
    pub fn find_iter<'a>(
        &'a self,
        text: &'a str,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        self.regex.find_iter(text).map(|m| m.range())
    }
}

/// What one part of a pattern's syntax tree tells about its matches.
enum Info {
    /// It matches exactly these strings (lowercased), and no other.
    Exact(BTreeSet<String>),
    /// Each of its matches satisfies this query.
    Query(GramQuery),
}

impl Info {
    fn of(hir: &Hir) -> Info {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => Info::exact([String::new()]),
            HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
                Ok(text) => Info::exact([lower(text)]),
                // A byte-mode literal that is not text: nothing to require.
                Err(_) => Info::Query(GramQuery::All),
            },
            HirKind::Class(class) => match class_strings(class) {
                Some(set) => Info::Exact(set),
                None => Info::Query(GramQuery::All),
            },
            HirKind::Capture(cap) => Info::of(&cap.sub),
            HirKind::Repetition(rep) => {
                let sub = Info::of(&rep.sub);
                match (rep.min, rep.max) {
                    (_, Some(0)) => Info::exact([String::new()]),
                    (1, Some(1)) => sub,
                    (0, Some(1)) => match sub {
                        Info::Exact(mut set) if set.len() < MAX_EXACT_STRINGS => {
                            set.insert(String::new());
                            Info::Exact(set)
                        }
                        _ => Info::Query(GramQuery::All),
                    },
                    (0, _) => Info::Query(GramQuery::All),
                    // At least one occurrence: what one requires. (Exact
                    // repeats such as `x{3}` are left to this too.)
                    _ => Info::Query(sub.into_query()),
                }
            }
            HirKind::Concat(parts) => {
                let mut acc = Info::exact([String::new()]);
                for part in parts {
                    acc = acc.then(Info::of(part));
                }
                acc
            }
            HirKind::Alternation(branches) => {
                let infos: Vec<Info> = branches.iter().map(Info::of).collect();
                let mut union = BTreeSet::new();
                let all_exact = infos.iter().all(|i| match i {
                    Info::Exact(set) => {
                        union.extend(set.iter().cloned());
                        union.len() <= MAX_EXACT_STRINGS
                    }
                    Info::Query(_) => false,
                });
                if all_exact {
                    Info::Exact(union)
                } else {
                    GramQuery::or(infos.into_iter().map(Info::into_query).collect()).into()
                }
            }
        }
    }

    fn exact<const N: usize>(strings: [String; N]) -> Info {
        Info::Exact(strings.into_iter().collect())
    }

    /// This part followed by `next`.
    fn then(self, next: Info) -> Info {
        match (self, next) {
            (Info::Exact(a), Info::Exact(b)) if a.len() * b.len() <= MAX_EXACT_STRINGS => {
                Info::Exact(
                    a.iter()
                        .flat_map(|x| b.iter().map(move |y| format!("{x}{y}")))
                        .collect(),
                )
            }
            (a, b) => GramQuery::and(vec![a.into_query(), b.into_query()]).into(),
        }
    }

    fn into_query(self) -> GramQuery {
        match self {
            // Every string of the set is a whole match: a match holds all
            // of the trigrams of one of them.
            Info::Exact(set) => {
                GramQuery::or(set.iter().map(|s| GramQuery::all_grams_of(s)).collect())
            }
            Info::Query(q) => q,
        }
    }
}

impl From<GramQuery> for Info {
    fn from(q: GramQuery) -> Info {
        Info::Query(q)
    }
}

/// `text` lowercased character by character (see the module doc).
fn lower(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// The lowercased one-character strings of a small class, or `None` when
/// it holds more than [`MAX_CLASS_CHARS`] characters.
fn class_strings(class: &Class) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut count = 0u32;
    match class {
        Class::Unicode(c) => {
            for r in c.ranges() {
                count = count.saturating_add(r.end() as u32 - r.start() as u32 + 1);
                if count > MAX_CLASS_CHARS {
                    return None;
                }
                for ch in r.start()..=r.end() {
                    out.insert(ch.to_lowercase().collect());
                }
            }
        }
        Class::Bytes(c) => {
            for r in c.ranges() {
                count = count.saturating_add(u32::from(r.end() - r.start()) + 1);
                if count > MAX_CLASS_CHARS || !r.end().is_ascii() {
                    return None;
                }
                for b in r.start()..=r.end() {
                    out.insert(char::from(b.to_ascii_lowercase()).to_string());
                }
            }
        }
    }
    // An empty class matches nothing; requiring nothing of it is safe.
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grams_of(text: &str) -> BTreeSet<u64> {
        let mut set = BTreeSet::new();
        for_each_trigram(text, |g| {
            set.insert(g);
        });
        set
    }

    fn query(pattern: &str) -> GramQuery {
        match Pattern::new(pattern) {
            Ok(p) => p.grams().clone(),
            Err(e) => panic!("{pattern}: {e}"),
        }
    }

    fn gram(text: &str) -> GramQuery {
        GramQuery::all_grams_of(text)
    }

    #[test]
    fn literals_alternations_and_repetitions_give_their_trigrams() {
        assert_eq!(query("exit code"), gram("exit code"));
        assert_eq!(query("(?i)EXIT"), gram("exit"));
        assert_eq!(query("Exit"), gram("exit"), "the index is case-folded");
        assert_eq!(
            query("(Segmentation fault|Bus error)"),
            // (branches in the order of their strings)
            GramQuery::or(vec![gram("bus error"), gram("segmentation fault")])
        );
        assert_eq!(
            query(r"Output differs .* line \d{3,}"),
            GramQuery::and(vec![gram("output differs "), gram(" line ")])
        );
        assert_eq!(query(r"libtesseract\.so\.\d+"), gram("libtesseract.so."));
        // A small class multiplies out: both spellings are asked for.
        assert_eq!(
            query("colou?r"),
            GramQuery::or(vec![gram("color"), gram("colour")])
        );
        assert_eq!(query("(abc)+"), gram("abc"));
        for nothing in [r"\d+", ".*", "a*", "ab", "[a-z]+", "(abc)*", "x|.*y"] {
            assert!(query(nothing).is_all(), "{nothing}: {:?}", query(nothing));
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_the_parser_message() {
        assert_eq!(Pattern::new(&"a".repeat(201)), Err(PatternError::TooLong));
        assert!(Pattern::new(&"a".repeat(200)).is_ok());
        match Pattern::new("(unclosed") {
            Err(PatternError::Invalid(msg)) => assert!(msg.contains("unclosed"), "{msg}"),
            other => panic!("{other:?}"),
        }
        // Linear-time matching: a pattern compiling past the bound is refused.
        match Pattern::new(r"\w{1000}") {
            Err(PatternError::Invalid(msg)) => assert!(msg.contains("size"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recent_patterns_are_reused_and_the_oldest_forgotten() {
        // More distinct patterns than are kept: each still compiles to
        // itself, and the one asked again is the same.
        for i in 0..(RECENT_PATTERNS + 6) {
            let source = format!("recent-{i}-[a-z]+");
            let p = Pattern::new(&source).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.as_str(), source);
            assert!(p.is_match(&format!("x recent-{i}-abc")));
            assert!(!p.is_match(&format!("recent-{}-abc", i + 1000)));
        }
        let kept = RECENT.lock().map(|r| r.len()).unwrap_or(0);
        assert!(kept <= RECENT_PATTERNS, "{kept}");
        let again = Pattern::new("recent-0-[a-z]+").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.grams(), &GramQuery::all_grams_of("recent-0-"));
    }

    /// Patterns built from a small grammar over an alphabet that has both
    /// cases, digits, spaces and the sigmas.
    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            "[aAbß1 .ΣσςK]".prop_map(|c| regex::escape(&c)),
            Just("[ab]".to_owned()),
            Just("[^a]".to_owned()),
            Just("[Σς]".to_owned()),
            Just(r"\d".to_owned()),
            Just(".".to_owned()),
            Just(r"\b".to_owned()),
            Just("^".to_owned()),
            Just("$".to_owned()),
        ];
        let leaf = prop::collection::vec(atom, 1..6).prop_map(|v| v.concat());
        let tree = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
                prop::collection::vec(inner.clone(), 2..4)
                    .prop_map(|v| format!("({})", v.join("|"))),
                (
                    inner,
                    prop_oneof![Just("*"), Just("+"), Just("?"), Just("{2}"), Just("{1,3}")]
                )
                    .prop_map(|(p, r)| format!("({p}){r}")),
            ]
        });
        (any::<bool>(), tree).prop_map(|(i, p)| if i { format!("(?i){p}") } else { p })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The index never excludes a line the regex matches: checked by
        /// brute force against lines over the same alphabet.
        #[test]
        fn the_query_admits_every_matching_line(
            pattern in pattern(),
            lines in prop::collection::vec("[aAbBß1 .ΣσςKkx]{0,14}", 40),
        ) {
            let Ok(p) = Pattern::new(&pattern) else { return Ok(()) };
            for line in &lines {
                if p.is_match(line) {
                    let have = grams_of(line);
                    prop_assert!(
                        p.grams().admits(&|g| have.contains(&g)),
                        "{pattern:?} matches {line:?} but its query {:?} excludes it",
                        p.grams()
                    );
                }
            }
        }
    }
}
