//! Both query plans (everything at once, and windows) against a plain
//! scan of the same lines, on a real index in a temporary directory.

use super::plan::{PlanLimits, PLAN_LIMITS};
use super::{Filters, RunMeta, RunQuery, Snapshot};
use crate::index::chunk::BlockCheck;
use crate::index::grams::Needle;
use crate::index::pattern::GramQuery;
use crate::index::pattern::Pattern;
use crate::index::schema::{block_key, block_of};
use crate::index::testing;
use crate::index::LogIndex;

/// The plans every query is checked under: the product's, the windowed
/// one (every run large, every filter matching many blocks), and the
/// small-run one that leaves out every clause it can (lines are checked).
fn plans() -> [PlanLimits; 3] {
    let windowed = PlanLimits {
        sparse_max_blocks: 0,
        first_window_blocks: 1,
        all_candidates_max: 0,
        all_candidate_chunks_max: 0,
        small_run_blocks: 0,
        ..PLAN_LIMITS
    };
    let scanning = PlanLimits {
        small_run_blocks: u64::MAX,
        short_postings: 0,
        ..PLAN_LIMITS
    };
    [PLAN_LIMITS, windowed, scanning]
}

/// An index in a temporary directory holding `runs`, one commit each.
fn indexed(runs: &[(u64, Vec<String>)]) -> anyhow::Result<(tempfile::TempDir, LogIndex)> {
    let dir = tempfile::tempdir()?;
    let index = LogIndex::open(dir.path(), 32 << 20)?;
    for (run, lines) in runs {
        let mut batch = index.batch()?;
        let parsed = lines
            .iter()
            .enumerate()
            .map(|(i, t)| testing::runner_line(i as u64 + 1, 7, t.clone()))
            .collect();
        batch.add_lines(*run, parsed)?;
        batch.set_run_meta(
            *run,
            RunMeta {
                generation: 1,
                lines: lines.len() as u64,
            },
        )?;
        batch.commit()?;
    }
    Ok((dir, index))
}

/// The line numbers of every page of `run` passing `filters`, 37 a page.
fn every_page(snapshot: &Snapshot, run: u64, filters: &Filters) -> anyhow::Result<Vec<u64>> {
    let meta = snapshot
        .run_meta(run)?
        .ok_or_else(|| anyhow::anyhow!("run {run} not indexed"))?;
    let (mut got, mut after) = (Vec::new(), 0);
    loop {
        let page = snapshot.page(run, meta, filters, after, 37)?;
        got.extend(page.lines().map(|l| l.line));
        match (page.has_more, page.last_line()) {
            (true, Some(last)) => after = last,
            _ => return Ok(got),
        }
    }
}

/// Runs 1..=4 of 1,000 lines (one chunk of blocks) and run 5 of 5,000
/// (three chunks); "needle" is in every 3rd line of run 2, every 50th of
/// run 3, every 397th of run 5, nowhere in runs 1 and 4.
fn runs() -> Vec<(u64, Vec<String>)> {
    (1..=5)
        .map(|run| {
            let count = if run == 5 { 5000 } else { 1000 };
            let lines = (1..=count)
                .map(|n| match run {
                    2 if n % 3 == 0 => format!("[ERROR] a NEEDLE at {n}"),
                    3 if n % 50 == 0 => format!("[ERROR] needle-like needle {n}"),
                    5 if n % 397 == 0 => format!("[ERROR] a needle at {n}"),
                    _ => format!("[INFO] entry {n} of run {run} needs nothing"),
                })
                .collect();
            (run, lines)
        })
        .collect()
}

#[test]
fn both_plans_answer_what_a_scan_answers() -> anyhow::Result<()> {
    let runs = runs();
    let (_dir, index) = indexed(&runs)?;
    for limits in plans() {
        let mut snapshot = index.snapshot();
        snapshot.limits = limits;
        for needle in ["needle", "eedl", "ne", "nothing", "absent!"] {
            let filters = Filters {
                contains: Some(Needle::new(needle)),
                ..Filters::default()
            };
            for (run, lines) in &runs {
                let want: Vec<u64> = lines
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.to_lowercase().contains(needle))
                    .map(|(i, _)| i as u64 + 1)
                    .collect();
                let got = every_page(&snapshot, *run, &filters)?;
                assert_eq!(got, want, "run {run} needle {needle:?} {limits:?}");
            }
            if needle.len() >= 3 {
                let found = snapshot.search_runs(&RunQuery {
                    filters: filters.clone(),
                    runs: (1, 5),
                    only: None,
                    limit: 1,
                    lines_per_run: 2,
                })?;
                let matching: Vec<(u64, u64)> = runs
                    .iter()
                    .rev()
                    .map(|(run, lines)| {
                        let n = lines.iter().filter(|t| t.to_lowercase().contains(needle));
                        (*run, n.count() as u64)
                    })
                    .filter(|(_, n)| *n > 0)
                    .collect();
                let got: Vec<(u64, u64)> = found
                    .runs
                    .iter()
                    .map(|h| (h.run_id, h.match_count))
                    .collect();
                assert_eq!(got, matching.iter().copied().take(1).collect::<Vec<_>>());
                assert_eq!(found.has_more, matching.len() > 1, "{needle:?} {limits:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn regex_pages_and_searches_answer_what_a_scan_answers() -> anyhow::Result<()> {
    let runs = runs();
    let (_dir, index) = indexed(&runs)?;
    let patterns = [
        r"NEEDLE at \d+0$",
        r"(?i)needle-like needle [1-4]\d0",
        r"needle",
        r"(NEEDLE|needle-like) (at|needle) 9\d\d",
        r"entry \d+ of run [13]",
        r"\d{4}",
        r"absent|nowhere",
    ];
    for limits in plans() {
        let mut snapshot = index.snapshot();
        snapshot.limits = limits;
        for source in patterns {
            let pattern = Pattern::new(source)?;
            let reference = regex::Regex::new(source)?;
            let filters = Filters {
                regex: Some(pattern.clone()),
                ..Filters::default()
            };
            for (run, lines) in &runs {
                let want: Vec<u64> = lines
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| reference.is_match(t))
                    .map(|(i, _)| i as u64 + 1)
                    .collect();
                let got = every_page(&snapshot, *run, &filters)?;
                assert_eq!(got, want, "run {run} regex {source:?} {limits:?}");
            }
            if pattern.grams().is_all() {
                continue;
            }
            let found = snapshot.search_runs(&RunQuery {
                filters: filters.clone(),
                runs: (1, 5),
                only: None,
                limit: 4,
                lines_per_run: 2,
            })?;
            let matching: Vec<(u64, u64)> = runs
                .iter()
                .rev()
                .map(|(run, lines)| {
                    (
                        *run,
                        lines.iter().filter(|t| reference.is_match(t)).count() as u64,
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            let got: Vec<(u64, u64)> = found
                .runs
                .iter()
                .map(|h| (h.run_id, h.match_count))
                .collect();
            assert_eq!(got, matching, "{source:?} {limits:?}");
        }
    }
    Ok(())
}

#[test]
fn a_chunk_says_where_its_blocks_are() -> anyhow::Result<()> {
    let runs = runs();
    let (_dir, index) = indexed(&runs)?;
    // Run 5 grows by one line: its last chunk and block are replaced, in
    // another commit, and its earlier blocks stay where they were.
    let mut batch = index.batch()?;
    batch.add_lines(
        5,
        vec![testing::runner_line(5001, 7, "a needle grown".to_owned())],
    )?;
    batch.set_run_meta(
        5,
        RunMeta {
            generation: 1,
            lines: 5001,
        },
    )?;
    batch.commit()?;
    let snapshot = index.snapshot();
    let check = BlockCheck::new(&GramQuery::all_grams_of("needle"), u64::MAX);
    let (mut near_right, mut named) = (0, Vec::new());
    for run in [2, 5] {
        let segments = snapshot.segments_of(run)?;
        for chunk in 0..3 {
            let Some(addr) =
                snapshot.find_live(snapshot.fields.chunk, block_key(run, chunk), &segments)?
            else {
                continue;
            };
            for (block, near) in snapshot.chunk_blocks((block_key(run, chunk), addr), &check, 0)? {
                let found =
                    snapshot.find_live(snapshot.fields.block, block_key(run, block), &segments)?;
                // Where the chunk says, or not: the address is the block's.
                assert_eq!(
                    Some(snapshot.block_addr(run, block, near, &segments)?),
                    found
                );
                named.push((run, block));
                near_right += usize::from(near == found);
            }
        }
    }
    // The blocks with a needle, exactly.
    let mut want: Vec<(u64, u64)> = (1..=1000)
        .filter(|n| n % 3 == 0)
        .map(|n| (2, block_of(n)))
        .collect();
    want.extend(
        (1..=5000)
            .filter(|n| n % 397 == 0)
            .map(|n| (5, block_of(n))),
    );
    want.push((5, block_of(5001)));
    want.dedup();
    assert_eq!(named, want);
    // Blocks written with their chunk are where it says: all but run 5's
    // last chunk's, whose blocks before the grown one are in the first commit.
    let moved = want
        .iter()
        .filter(|&&(run, b)| run == 5 && (32..39).contains(&b))
        .count();
    assert_eq!(near_right, want.len() - moved);
    Ok(())
}
