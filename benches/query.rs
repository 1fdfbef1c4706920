//! Page latency of `Snapshot::page` on one large run indexed once in setup,
//! and of `Snapshot::search_runs` across many small runs.
//!
//! The run (`RUNLOGD_BENCH_QUERY_MB`, default 100 MB, about a million lines)
//! loops on errors, like the biggest real logs. The cases are the requests a
//! client makes: the first page, a page deep in the run (after line 10,000),
//! `level=error`, `contains` with the corpus's rare / common / absent needles
//! (see `benches/support/corpus.rs`), and level + source + contains together.
//!
//! Across runs (`RUNLOGD_BENCH_SEARCH_RUNS`, default 2,000 runs of about
//! 50 KB, the rare needle in 5 of them): the first page of 20 runs for the
//! rare, common and absent needles, and `level=critical`.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use runlogd::config::Config;
#[allow(dead_code)] // each benchmark uses part of the generator
#[path = "support/corpus.rs"]
mod corpus;

use corpus::CorpusSpec;
use runlogd::daemon::Daemon;
use runlogd::index::grams::Needle;
use runlogd::index::{Filters, RunQuery};
use runlogd::parse::{Level, Source};

fn query(c: &mut Criterion) {
    let mb: u64 = std::env::var("RUNLOGD_BENCH_QUERY_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let repo = tempfile::tempdir().expect("temp repository");
    let data = tempfile::tempdir().expect("temp data dir");
    let spec = CorpusSpec {
        runs: 1,
        total_bytes: mb << 20,
        large_runs: 1,
        large_bytes: mb << 20,
        seed: 1,
    };
    let summary = corpus::generate(&repo.path().join("LogFiles"), &spec).expect("generate corpus");
    let config = Config {
        repository: Some(repo.path().to_owned()),
        data: data.path().to_owned(),
        ..Config::default()
    };
    let daemon = Daemon::open(&config).expect("open daemon");
    let scanned = daemon.parts.ingestor.scan().expect("index the run");
    assert_eq!(scanned.lines, summary.lines);
    let run_id = corpus::large_run_id(0);
    let snapshot = daemon.parts.index.snapshot();
    let meta = snapshot
        .run_meta(run_id)
        .expect("read run meta")
        .expect("run is indexed");
    eprintln!("query bench: run {run_id}, {} lines", meta.lines);

    let contains = |needle: &str| Filters {
        contains: Some(Needle::new(needle)),
        ..Filters::default()
    };
    let regex = |pattern: &str| Filters {
        regex: Some(runlogd::index::pattern::Pattern::new(pattern).expect("a valid pattern")),
        ..Filters::default()
    };
    let cases: Vec<(&str, Filters, u64)> = vec![
        ("first_page", Filters::default(), 0),
        ("depth_10000", Filters::default(), 10_000),
        (
            "level_error",
            Filters {
                levels: BTreeSet::from([Level::Error]),
                ..Filters::default()
            },
            0,
        ),
        ("contains_rare", contains(corpus::RARE_NEEDLE), 0),
        ("contains_common", contains(corpus::COMMON_NEEDLE), 0),
        ("contains_absent", contains(corpus::ABSENT_NEEDLE), 0),
        (
            "level_source_contains",
            Filters {
                levels: BTreeSet::from([Level::Error]),
                sources: BTreeSet::from([Source::TestRunner]),
                contains: Some(Needle::new(corpus::COMMON_NEEDLE)),
                signature: None,
                regex: None,
            },
            0,
        ),
        // A pattern whose required literal is the rare needle's prefix,
        // and one that requires nothing (the run is read).
        ("regex_rare", regex(r"ccx_rare_[0-9a-f]{6}"), 0),
        ("regex_no_trigram", regex(r"\d{4}-\d{2}"), 0),
    ];

    let mut group = c.benchmark_group("query");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    for (name, filters, after) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let page = snapshot
                    .page(run_id, meta, black_box(filters), *after, 100)
                    .expect("page");
                let lines = page.lines().len();
                black_box(lines)
            })
        });
    }
    group.finish();
}

fn search(c: &mut Criterion) {
    let runs: usize = std::env::var("RUNLOGD_BENCH_SEARCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let repo = tempfile::tempdir().expect("temp repository");
    let data = tempfile::tempdir().expect("temp data dir");
    let spec = CorpusSpec {
        runs,
        total_bytes: (runs as u64) * (50 << 10),
        large_runs: 5,
        large_bytes: 1 << 20,
        seed: 1,
    };
    corpus::generate(&repo.path().join("LogFiles"), &spec).expect("generate corpus");
    let config = Config {
        repository: Some(repo.path().to_owned()),
        data: data.path().to_owned(),
        ..Config::default()
    };
    let daemon = Daemon::open(&config).expect("open daemon");
    daemon.parts.ingestor.scan().expect("index the corpus");
    let snapshot = daemon.parts.index.snapshot();
    let query = |filters: Filters| RunQuery {
        filters,
        runs: (1, 2_147_483_647),
        only: None,
        limit: 20,
        lines_per_run: 3,
    };
    let contains = |needle: &str| Filters {
        contains: Some(Needle::new(needle)),
        ..Filters::default()
    };
    let cases = [
        ("rare", query(contains(corpus::RARE_NEEDLE))),
        ("common", query(contains(corpus::COMMON_NEEDLE))),
        ("absent", query(contains(corpus::ABSENT_NEEDLE))),
        (
            "level_critical",
            query(Filters {
                levels: BTreeSet::from([Level::Critical]),
                ..Filters::default()
            }),
        ),
    ];
    let mut group = c.benchmark_group("search_runs");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    for (name, q) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let page = snapshot.search_runs(black_box(q)).expect("search");
                black_box(page.runs.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, query, search);
criterion_main!(benches);
