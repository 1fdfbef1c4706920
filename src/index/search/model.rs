//! The shapes of requests and answers: what a run holds, the line filters, a
//! page of one run's lines, and a search across runs with its hits. Plain
//! types, shared by the API, the ingest and the query code, and kept apart
//! from how the answers are computed.
//!
//! A [`Page`] does not copy its lines out of the block bodies they were read
//! from: it keeps those bodies and where each line's fields are in them, and
//! serving borrows from it.

use crate::index::grams::Needle;
use crate::index::pattern::{GramQuery, Pattern};
use std::collections::BTreeSet;

use crate::index::block::{IndexedLine, LineRef};
use crate::parse::{Level, Source};
use crate::signature::SignatureId;

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
    pub contains: Option<Needle>,
    /// Lines of one signature; `None` means any.
    pub signature: Option<SignatureFilter>,
    /// Lines the regular expression matches anywhere (case-sensitive
    /// unless it says `(?i)`).
    pub regex: Option<Pattern>,
}

/// Lines of one signature, as the request named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFilter {
    /// The id the request gave (what a cursor is bound to).
    pub id: SignatureId,
    /// The base ids of the signature's group, sorted: a line whose base id
    /// is one of them passes. Filled from the state database, as it stands
    /// when the page is read.
    pub members: Vec<SignatureId>,
    /// Trigram codes every line of the signature holds (those of its
    /// template's literal text, see [`crate::index::grams::template_grams`]):
    /// they name the candidate blocks, as a needle's do.
    pub grams: Vec<u64>,
}

impl Filters {
    /// What the trigrams of every matching line satisfy: the needle's and
    /// the signature's trigrams, and the pattern's query.
    pub(super) fn required(&self) -> GramQuery {
        let needle = self.contains.iter().flat_map(|n| n.trigrams());
        let signature = self.signature.iter().flat_map(|s| s.grams.iter());
        let mut grams: Vec<u64> = needle.chain(signature).copied().collect();
        grams.sort_unstable();
        grams.dedup();
        let mut parts: Vec<GramQuery> = grams.into_iter().map(GramQuery::Gram).collect();
        parts.extend(self.regex.iter().map(|p| p.grams().clone()));
        GramQuery::and(parts)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.levels.is_empty()
            && self.sources.is_empty()
            && self.contains.is_none()
            && self.signature.is_none()
            && self.regex.is_none()
    }
}

/// A page of one run's lines. The lines are not copied out of the block
/// bodies they were read from: the page keeps those bodies and where each
/// line's fields are in them, and serving borrows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub(super) bodies: Vec<String>,
    pub(super) lines: Vec<PageLine>,
    /// True when at least one more matching line follows the page.
    pub has_more: bool,
}

/// Where one line of a [`Page`] is: its body, and its fields' byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageLine {
    pub(super) line: u64,
    pub(super) level: Level,
    pub(super) source: Source,
    pub(super) body: usize,
    pub(super) timestamp: std::ops::Range<usize>,
    pub(super) text: std::ops::Range<usize>,
}

impl Page {
    /// The page's lines, in order.
    pub fn lines(&self) -> impl ExactSizeIterator<Item = LineRef<'_>> + '_ {
        self.lines.iter().map(|l| {
            let body = self.bodies[l.body].as_str();
            LineRef {
                line: l.line,
                level: l.level,
                source: l.source,
                timestamp: &body[l.timestamp.clone()],
                text: &body[l.text.clone()],
            }
        })
    }

    /// The number of the page's last line.
    pub fn last_line(&self) -> Option<u64> {
        self.lines.last().map(|l| l.line)
    }
}

/// A search across runs.
#[derive(Debug, Clone)]
pub struct RunQuery {
    pub filters: Filters,
    /// Inclusive range of run ids to look in.
    pub runs: (u64, u64),
    /// Only these runs, when given (the caller's `since`/`until`).
    pub only: Option<BTreeSet<u64>>,
    /// Runs per page.
    pub limit: usize,
    /// Matching lines returned per run (the first ones).
    pub lines_per_run: usize,
}

/// One run in a search across runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHit {
    pub run_id: u64,
    pub meta: RunMeta,
    /// Every line of the run that matches.
    pub match_count: u64,
    /// The first `lines_per_run` of them.
    pub lines: Vec<IndexedLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsPage {
    pub runs: Vec<RunHit>,
    /// True when another run below the page's last matches.
    pub has_more: bool,
}
