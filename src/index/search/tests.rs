//! Both query plans (everything at once, and windows) against a plain
//! scan of the same lines, on a real index in a temporary directory.

use super::plan::{PlanLimits, PLAN_LIMITS};
use super::{Filters, RunMeta, RunQuery, Snapshot};
use crate::index::grams::Needle;
use crate::index::pattern::Pattern;
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

/// Runs 1..=4 of 1,000 lines; "needle" is in every 3rd line of run 2,
/// every 50th of run 3, nowhere in runs 1 and 4.
fn runs() -> Vec<(u64, Vec<String>)> {
    (1..=4)
        .map(|run| {
            let lines = (1..=1000u64)
                .map(|n| match run {
                    2 if n % 3 == 0 => format!("[ERROR] a NEEDLE at {n}"),
                    3 if n % 50 == 0 => format!("[ERROR] needle-like needle {n}"),
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
                    runs: (1, 4),
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
                runs: (1, 4),
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
