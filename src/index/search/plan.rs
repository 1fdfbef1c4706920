//! Candidate planning: the query naming the blocks that can hold a matching
//! line (those holding every chosen trigram of the needle, and a wanted level
//! and source), and where the plan switches from listing every candidate at
//! once to asking the index a window at a time.
//!
//! The query plan picks the needle's rarest trigrams first, so a rare or
//! absent needle costs a few posting reads whatever the size of the index.

use std::collections::HashMap;

use tantivy::query::{BooleanQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

use super::model::Filters;
use super::Snapshot;
use crate::index::chunk::BlockCheck;
use crate::index::grams::{is_alnum_gram, NO_GRAMS, ONLY_ALNUM_GRAMS};
use crate::index::pattern::GramQuery;
use crate::index::schema::kind_code;
use crate::index::Result;
use crate::parse::{Level, Source};

/// At most this many of a needle's trigrams (the rarest) go into the
/// intersection; the rest are checked with the line itself. The rarest list
/// leads the intersection, so each further list costs only a few seeks per
/// candidate, and removes false candidates that would each cost a block read.
const MAX_TRIGRAM_CLAUSES: usize = 12;

/// Where the query plan switches from listing every candidate at once to
/// asking the index a window at a time. Fixed in the product; tests lower
/// them to drive both plans over small data.
#[derive(Debug, Clone, Copy)]
pub(super) struct PlanLimits {
    /// A page whose filter may match more than this many blocks of the run
    /// (and more than an eighth of them) asks the index a window of blocks
    /// at a time, from `first_window_blocks` on, widening fourfold: a common
    /// needle fills its page from the first window. Fewer candidates are
    /// listed at once. A query naming chunks counts chunks.
    pub(super) sparse_max_blocks: u64,
    pub(super) first_window_blocks: u64,
    /// Across runs: with more candidate blocks than this in the whole index,
    /// runs are read newest first in widening windows instead of all at once.
    pub(super) all_candidates_max: u64,
    /// The same for a query naming chunks: a candidate chunk stands for
    /// several candidate blocks, each read when its run is verified.
    pub(super) all_candidate_chunks_max: u64,
    /// A run of at most this many blocks is a small run: a clause with
    /// postings longer than `short_postings` documents is left out of its
    /// query (see [`Snapshot::candidates`]).
    pub(super) small_run_blocks: u64,
    pub(super) short_postings: u64,
}

pub(super) const PLAN_LIMITS: PlanLimits = PlanLimits {
    sparse_max_blocks: 256,
    first_window_blocks: 8,
    all_candidates_max: 20_000,
    // A platform run of about 100 KB is 8 blocks in one chunk: 2,500
    // chunks are about as many blocks as the limit above. Listed at once,
    // the 10,000 chunks of a common needle across 10,000 runs took 7.5 ms,
    // where windows of runs stop after the first.
    all_candidate_chunks_max: 2_500,
    // 16 blocks are 2,048 lines (about 200 KB; the platform's runs are
    // about 100 KB): read whole, a run that holds no match costs about as
    // much as the seek it saves. 65,536 postings are 512 skip steps, some
    // ten microseconds: at 10,000 runs (80,000 blocks) a common trigram is
    // still used, at 100,000 it is not.
    small_run_blocks: 16,
    short_postings: 65_536,
};

/// The blocks the index says may hold a match.
pub(super) enum Candidates {
    /// Nothing can match (a trigram of the needle is nowhere).
    None,
    /// No clause narrows the search: every block is a candidate.
    All,
    /// The intersection of block documents to run (levels and sources
    /// only), and an estimate of its size.
    Query { query: BooleanQuery, estimate: u64 },
    /// Trigrams are required: the candidate chunks, each narrowed to its
    /// blocks by its masks.
    Chunks {
        /// The intersection of chunk documents to run; `None` when no
        /// clause narrows it (every chunk is a candidate).
        query: Option<BooleanQuery>,
        estimate: u64,
        check: Box<BlockCheck>,
    },
}

impl Snapshot {
    /// The query naming candidate blocks (or chunks of blocks, when
    /// trigrams are required) for `filters` (in one run, or in all), rarest
    /// clauses first. `required` is what every matching line's trigrams
    /// satisfy ([`Filters::required`]).
    ///
    /// `run` is the run asked about, with its number of blocks, or `None`
    /// across runs. On a small run, a clause whose postings are long (a
    /// common trigram, a level most blocks have) is left out: the reads it
    /// saves are few, and seeking through its postings to the run costs
    /// more the larger the index (tantivy skips 128 documents a step). Its
    /// lines are checked all the same.
    pub(super) fn candidates(
        &self,
        run: Option<(u64, u64)>,
        filters: &Filters,
        required: &GramQuery,
        segments: &[u32],
    ) -> Result<Candidates> {
        let max_df = match run {
            Some((_, blocks)) if blocks <= self.limits.small_run_blocks => {
                Some(self.limits.short_postings)
            }
            _ => None,
        };
        let doc_freq = |term: &Term| -> Result<u64> {
            let mut df = 0;
            for &ord in segments {
                let index = self
                    .searcher
                    .segment_reader(ord)
                    .inverted_index(term.field())?;
                df += u64::from(index.doc_freq(term).map_err(tantivy::TantivyError::from)?);
            }
            Ok(df)
        };
        let f = &self.fields;
        let mut clauses: Vec<Box<dyn Query>> = Vec::new();
        let mut estimate = u64::MAX;
        // Trigrams are indexed on chunk documents, levels and sources on
        // both: a query requiring trigrams names chunks.
        let chunks = !required.is_all();
        if chunks {
            // Each trigram's document frequency, asked once however often
            // the query names it.
            let mut freqs: HashMap<u64, u64> = HashMap::new();
            let mut df_of = |g: u64| -> Result<u64> {
                if let Some(&df) = freqs.get(&g) {
                    return Ok(df);
                }
                let df = doc_freq(&Term::from_field_u64(f.grams, g))?;
                freqs.insert(g, df);
                Ok(df)
            };
            // Left out whole when no trigram narrows it (each is in too
            // many blocks of a small run to be worth the seek).
            let full = self.plan(required, &mut df_of, max_df)?;
            if !matches!(full, Planned::All) {
                // (estimate, query) of each kind of block that may hold it.
                let mut parts: Vec<(u64, Box<dyn Query>)> = Vec::new();
                if let Planned::Query(query, df) = full {
                    parts.push((df, query));
                }
                // Blocks indexed with part of their trigrams or none (binary
                // content; see `grams::MAX_BLOCK_TRIGRAMS`) are asked only
                // about what they kept.
                let alnum_df = df_of(ONLY_ALNUM_GRAMS)?;
                if alnum_df > 0 {
                    let marker = term_query(Term::from_field_u64(f.grams, ONLY_ALNUM_GRAMS));
                    match self.plan(&required.keeping(&is_alnum_gram), &mut df_of, max_df)? {
                        Planned::Nothing => {}
                        Planned::All => parts.push((alnum_df, marker)),
                        Planned::Query(kept, df) => parts.push((
                            alnum_df.min(df),
                            Box::new(BooleanQuery::intersection(vec![marker, kept])),
                        )),
                    }
                }
                let none_df = df_of(NO_GRAMS)?;
                if none_df > 0 {
                    parts.push((none_df, term_query(Term::from_field_u64(f.grams, NO_GRAMS))));
                }
                match parts.len() {
                    0 => return Ok(Candidates::None),
                    1 => {
                        let (df, query) = parts.remove(0);
                        estimate = df;
                        clauses.push(query);
                    }
                    _ => {
                        estimate = parts
                            .iter()
                            .fold(0u64, |sum, (df, _)| sum.saturating_add(*df));
                        clauses.push(Box::new(BooleanQuery::union(
                            parts.into_iter().map(|(_, q)| q).collect(),
                        )));
                    }
                }
            }
        }

        let codes = |set: Vec<u64>, field: Field| -> Result<Option<(u64, Box<dyn Query>)>> {
            if set.is_empty() {
                return Ok(None);
            }
            let mut df = 0;
            let mut terms: Vec<Box<dyn Query>> = Vec::new();
            for code in set {
                let term = Term::from_field_u64(field, code);
                df += doc_freq(&term)?;
                terms.push(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
            }
            Ok(Some((df, Box::new(BooleanQuery::union(terms)))))
        };
        let levels: Vec<u64> = filters.levels.iter().map(|l| l.as_u64()).collect();
        let sources: Vec<u64> = filters.sources.iter().map(|s| s.as_u64()).collect();
        let narrows = |set: &[u64], all: usize| !set.is_empty() && set.len() < all;
        let (narrow_levels, narrow_sources) = (
            narrows(&levels, Level::ALL.len()),
            narrows(&sources, Source::ALL.len()),
        );
        // The (level, source) kinds a matching line may have.
        let every = |set: Vec<u64>, narrowed: bool, all: Vec<u64>| if narrowed { set } else { all };
        let wanted_kinds: Vec<u64> = {
            let levels = every(
                levels.clone(),
                narrow_levels,
                Level::ALL.iter().map(|l| l.as_u64()).collect(),
            );
            let sources = every(
                sources.clone(),
                narrow_sources,
                Source::ALL.iter().map(|s| s.as_u64()).collect(),
            );
            levels
                .iter()
                .flat_map(|&l| sources.iter().map(move |&s| kind_code(l, s)))
                .collect()
        };
        let kind_clauses = if chunks {
            // A chunk document has kinds only.
            if narrow_levels || narrow_sources {
                vec![codes(wanted_kinds.clone(), f.chunk_kinds)?]
            } else {
                Vec::new()
            }
        } else if narrow_levels && narrow_sources {
            // Both: the blocks with a line of a wanted level *and* source.
            vec![codes(wanted_kinds.clone(), f.kinds)?]
        } else {
            vec![
                codes(if narrow_levels { levels } else { Vec::new() }, f.levels)?,
                codes(if narrow_sources { sources } else { Vec::new() }, f.sources)?,
            ]
        };
        for clause in kind_clauses.into_iter().flatten() {
            let (df, query) = clause;
            if df == 0 {
                return Ok(Candidates::None);
            }
            if max_df.is_some_and(|max| df > max) {
                continue;
            }
            estimate = estimate.min(df);
            clauses.push(query);
        }
        if chunks {
            let kinds = if narrow_levels || narrow_sources {
                wanted_kinds.iter().fold(0u64, |m, &k| m | 1 << (k & 63))
            } else {
                u64::MAX
            };
            let check = Box::new(BlockCheck::new(required, kinds));
            if clauses.is_empty() {
                return Ok(Candidates::Chunks {
                    query: None,
                    estimate,
                    check,
                });
            }
            if let Some((run_id, _)) = run {
                clauses.push(term_query(Term::from_field_u64(f.run_id, run_id)));
            }
            return Ok(Candidates::Chunks {
                query: Some(BooleanQuery::intersection(clauses)),
                estimate,
                check,
            });
        }
        if clauses.is_empty() {
            return Ok(Candidates::All);
        }
        if let Some((run_id, _)) = run {
            clauses.push(Box::new(TermQuery::new(
                Term::from_field_u64(f.run_id, run_id),
                IndexRecordOption::Basic,
            )));
        }
        Ok(Candidates::Query {
            query: BooleanQuery::intersection(clauses),
            estimate,
        })
    }

    /// `query` against the index's document frequencies: an intersection
    /// leads with its rarest parts and keeps at most
    /// [`MAX_TRIGRAM_CLAUSES`] of them; a trigram found nowhere makes its
    /// intersection match nothing, and drops out of a union. A trigram in
    /// more than `max_df` blocks, when given, requires nothing.
    fn plan(
        &self,
        query: &GramQuery,
        df_of: &mut impl FnMut(u64) -> Result<u64>,
        max_df: Option<u64>,
    ) -> Result<Planned> {
        Ok(match query {
            GramQuery::All => Planned::All,
            GramQuery::Gram(g) => match df_of(*g)? {
                0 => Planned::Nothing,
                df if max_df.is_some_and(|max| df > max) => Planned::All,
                df => Planned::Query(term_query(Term::from_field_u64(self.fields.grams, *g)), df),
            },
            GramQuery::And(parts) => {
                let mut planned = Vec::with_capacity(parts.len());
                for p in parts {
                    match self.plan(p, df_of, max_df)? {
                        Planned::Nothing => return Ok(Planned::Nothing),
                        Planned::All => {}
                        Planned::Query(q, df) => planned.push((df, q)),
                    }
                }
                planned.sort_by_key(|(df, _)| *df);
                planned.truncate(MAX_TRIGRAM_CLAUSES);
                match planned.len() {
                    0 => Planned::All,
                    1 => {
                        let (df, q) = planned.remove(0);
                        Planned::Query(q, df)
                    }
                    _ => {
                        let rarest = planned[0].0;
                        Planned::Query(
                            Box::new(BooleanQuery::intersection(
                                planned.into_iter().map(|(_, q)| q).collect(),
                            )),
                            rarest,
                        )
                    }
                }
            }
            GramQuery::Or(parts) => {
                let mut planned = Vec::with_capacity(parts.len());
                for p in parts {
                    match self.plan(p, df_of, max_df)? {
                        Planned::All => return Ok(Planned::All),
                        Planned::Nothing => {}
                        Planned::Query(q, df) => planned.push((df, q)),
                    }
                }
                match planned.len() {
                    0 => Planned::Nothing,
                    1 => {
                        let (df, q) = planned.remove(0);
                        Planned::Query(q, df)
                    }
                    _ => {
                        let df = planned
                            .iter()
                            .fold(0u64, |sum, (df, _)| sum.saturating_add(*df));
                        Planned::Query(
                            Box::new(BooleanQuery::union(
                                planned.into_iter().map(|(_, q)| q).collect(),
                            )),
                            df,
                        )
                    }
                }
            }
        })
    }
}

/// A [`GramQuery`] resolved against the index.
enum Planned {
    /// No clause narrows it: every block may match.
    All,
    /// No block can match.
    Nothing,
    /// The query naming the candidate blocks, and their estimated number.
    Query(Box<dyn Query>, u64),
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}
