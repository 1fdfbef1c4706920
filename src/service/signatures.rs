//! Failure signatures as the API serves them: the distinct messages of one
//! run, the signatures across a window of runs, and the runs holding one.
//!
//! The counts come from the state database (written with each run's
//! record), the templates and groups from the store's grouping, and the
//! example lines from the index. An id is answered for the group it is in
//! now: a base id whose signature was merged into another answers for the
//! merged one.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Parts;
use crate::index::pattern::Pattern;
use crate::index::schema::block_of;
use crate::index::{IndexError, IndexedLine, LogIndex, Snapshot};
use crate::parse::{Level, Source};
use crate::signature::SignatureId;
use crate::store::{
    GroupStats, RunSignatureRow, SignatureRunRow, SignatureWindowRow, Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum SignaturesError {
    #[error("no signature {0} has been indexed")]
    NotFound(SignatureId),
    #[error("{0}")]
    Index(#[from] IndexError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, SignaturesError>;

/// A signature as a request named it, resolved to its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub group: SignatureId,
    /// The group's base ids, sorted.
    pub members: Vec<SignatureId>,
    pub template: String,
}

/// The order of one run's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOrder {
    /// By first occurrence: the order a reader meets them.
    First,
    /// Most lines first (ties by first occurrence).
    Count,
}

/// The order of signatures across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowOrder {
    /// In most runs of the window first.
    Runs,
    /// First seen most recently first.
    New,
}

/// One signature of one run, of one level and source.
#[derive(Debug, Clone)]
pub struct RunSignature {
    pub row: RunSignatureRow,
    pub template: String,
    /// The first line of it in the run (`None` if the index no longer has
    /// it: the run was replaced meanwhile).
    pub example: Option<IndexedLine>,
    /// Which indexed runs hold it.
    pub seen: Option<GroupStats>,
}

/// What a signature listing asks of the templates: text they contain
/// (case-insensitive) and a regular expression they match.
#[derive(Debug, Clone, Default)]
pub struct TemplateText {
    /// Lowercased.
    pub contains: Option<String>,
    pub regex: Option<Pattern>,
}

impl TemplateText {
    pub fn keeps(&self, template: &str) -> bool {
        self.contains
            .as_ref()
            .is_none_or(|c| template.to_lowercase().contains(c.as_str()))
            && self.regex.as_ref().is_none_or(|r| r.is_match(template))
    }
}

impl RunSignature {
    /// Where it sits in `order`: pages resume after the last one served.
    pub fn position(&self, order: RunOrder) -> (u64, u64) {
        run_position(order, &self.row)
    }
}

/// Where a run's signature sits in `order` (ascending).
fn run_position(order: RunOrder, row: &RunSignatureRow) -> (u64, u64) {
    match order {
        RunOrder::First => (0, row.first_line),
        RunOrder::Count => (u64::MAX - row.lines, row.first_line),
    }
}

/// One signature across a window of runs, of one level and source.
#[derive(Debug, Clone)]
pub struct WindowSignature {
    pub row: SignatureWindowRow,
    pub template: String,
    /// The lowest run holding it (0 when unknown), as `position` orders by.
    first_run: u64,
    pub seen: Option<GroupStats>,
    /// The text of the example line (`row.example_run`, `row.example_line`).
    pub example: Option<String>,
}

impl WindowSignature {
    /// Where it sits in `order`: (primary key, group, level and source).
    pub fn position(&self, order: WindowOrder) -> (u64, u64, u64) {
        let primary = match order {
            WindowOrder::Runs => u64::MAX - self.row.runs,
            WindowOrder::New => u64::MAX - self.first_run,
        };
        (
            primary,
            self.row.group.0,
            kind(self.row.level, self.row.source),
        )
    }
}

/// A (level, source) pair as one number, for positions.
fn kind(level: u8, source: u8) -> u64 {
    (u64::from(level) << 8) | u64::from(source)
}

/// The levels and sources of the lines a signature listing counts (empty:
/// any).
#[derive(Debug, Clone, Default)]
pub struct Kinds {
    pub levels: BTreeSet<Level>,
    pub sources: BTreeSet<Source>,
}

impl Kinds {
    fn codes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.levels.iter().map(|l| l.as_u64() as u8).collect(),
            self.sources.iter().map(|s| s.as_u64() as u8).collect(),
        )
    }
}

pub struct Signatures {
    store: Arc<Store>,
    index: Arc<LogIndex>,
}

impl Signatures {
    pub fn new(parts: &Parts) -> Signatures {
        Signatures {
            store: parts.store.clone(),
            index: parts.index.clone(),
        }
    }

    /// The group an id answers for, or not found.
    pub fn resolve(&self, id: SignatureId) -> Result<Resolved> {
        let group = self
            .store
            .signature_group(id)?
            .ok_or(SignaturesError::NotFound(id))?;
        let members = self.store.signature_members(group)?;
        let template = self.store.signature_template(group)?.unwrap_or_default();
        Ok(Resolved {
            group,
            members,
            template,
        })
    }

    /// One run's signatures of `kinds`, in `order`, after `after` (a
    /// [`RunSignature::position`]), at most `limit` and whether more follow.
    /// Blocking.
    pub fn of_run(
        &self,
        snapshot: &Snapshot,
        run_id: u64,
        kinds: &Kinds,
        order: RunOrder,
        after: Option<(u64, u64)>,
        limit: usize,
    ) -> Result<(Vec<RunSignature>, bool)> {
        let (levels, sources) = kinds.codes();
        let mut rows = self.store.run_signature_rows(run_id, &levels, &sources)?;
        let position = |r: &RunSignatureRow| run_position(order, r);
        rows.retain(|r| after.is_none_or(|a| position(r) > a));
        rows.sort_unstable_by_key(position);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let mut blocks = BlockCache::new(snapshot);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let template = self
                .store
                .signature_template(row.group)?
                .unwrap_or_default();
            let seen = self.store.group_stats(row.group)?;
            let example = blocks.line(run_id, row.first_line)?;
            out.push(RunSignature {
                row,
                template,
                example,
                seen,
            });
        }
        Ok((out, has_more))
    }

    /// The signatures of `kinds` across the runs with ids in `runs` (and
    /// landed in `landed` ns, when given) whose template `text` keeps, in
    /// `order`, after `after`. Blocking.
    #[allow(clippy::too_many_arguments)]
    pub fn across(
        &self,
        kinds: &Kinds,
        runs: (u64, u64),
        landed: Option<(i64, i64)>,
        text: &TemplateText,
        order: WindowOrder,
        after: Option<(u64, u64, u64)>,
        limit: usize,
    ) -> Result<(Vec<WindowSignature>, bool)> {
        let (levels, sources) = kinds.codes();
        let rows = self
            .store
            .signature_window_rows(&levels, &sources, runs, landed)?;
        // Only the order by first sighting needs every group's first run
        // before the page is cut: all of them in one read.
        let first_runs = match order {
            WindowOrder::New => self.store.group_first_runs()?,
            WindowOrder::Runs => Default::default(),
        };
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let template = self
                .store
                .signature_template(row.group)?
                .unwrap_or_default();
            if !text.keeps(&template) {
                continue;
            }
            let first_run = first_runs.get(&row.group).copied().unwrap_or(0);
            items.push(WindowSignature {
                row,
                template,
                first_run,
                seen: None,
                example: None,
            });
        }
        items.retain(|i| after.is_none_or(|a| i.position(order) > a));
        items.sort_unstable_by_key(|i| i.position(order));
        let has_more = items.len() > limit;
        items.truncate(limit);
        let snapshot = self.index.snapshot();
        let mut blocks = BlockCache::new(&snapshot);
        for item in &mut items {
            item.seen = self.store.group_stats(item.row.group)?;
            let row = &mut item.row;
            row.example_line = self
                .store
                .group_first_line(row.example_run, row.group, row.level, row.source)?
                .unwrap_or(0);
            item.example = blocks
                .line(item.row.example_run, item.row.example_line)?
                .map(|l| l.text);
        }
        Ok((items, has_more))
    }

    /// The runs holding `group` with ids in `runs` (and landed in
    /// `landed`), newest first: `limit` of them and one more when more
    /// follow. Blocking.
    pub fn runs_of(
        &self,
        resolved: &Resolved,
        runs: (u64, u64),
        landed: (i64, i64),
        limit: usize,
    ) -> Result<Vec<SignatureRunRow>> {
        Ok(self
            .store
            .signature_run_rows(&resolved.members, runs, landed, limit)?)
    }
}

/// Lines read from the index by number, a block kept per run: a page's
/// examples often share blocks.
struct BlockCache<'a> {
    snapshot: &'a Snapshot,
    held: Option<(u64, u64, Vec<IndexedLine>)>,
}

impl<'a> BlockCache<'a> {
    fn new(snapshot: &'a Snapshot) -> BlockCache<'a> {
        BlockCache {
            snapshot,
            held: None,
        }
    }

    fn line(&mut self, run_id: u64, line: u64) -> Result<Option<IndexedLine>> {
        if line == 0 {
            return Ok(None);
        }
        let block = block_of(line);
        let fresh = !matches!(&self.held, Some((r, b, _)) if *r == run_id && *b == block);
        if fresh {
            let lines = self.snapshot.block(run_id, block)?.unwrap_or_default();
            self.held = Some((run_id, block, lines));
        }
        Ok(self
            .held
            .as_ref()
            .and_then(|(_, _, lines)| lines.iter().find(|l| l.line == line).cloned()))
    }
}
