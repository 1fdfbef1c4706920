//! Indexing throughput (MB/s), end to end: a fresh `runlogd::daemon::Daemon`
//! over a generated repository, timing `ingestor.scan()` (read, parse, write
//! the tantivy documents, commit). Each iteration gets a fresh data
//! directory, so every sample indexes the whole corpus from scratch.
//!
//! Corpus size: `RUNLOGD_BENCH_INDEX_MB` (default 24 MB: one 12 MB run that
//! loops on errors plus 40 small runs).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use runlogd::config::Config;
#[allow(dead_code)] // each benchmark uses part of the generator
#[path = "support/corpus.rs"]
mod corpus;

use corpus::CorpusSpec;
use runlogd::daemon::Daemon;

fn env_mb(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn index(c: &mut Criterion) {
    let total = env_mb("RUNLOGD_BENCH_INDEX_MB", 24) << 20;
    let repo = tempfile::tempdir().expect("temp repository");
    let spec = CorpusSpec {
        runs: 41,
        total_bytes: total,
        large_runs: 1,
        large_bytes: total / 2,
        seed: 1,
    };
    let summary = corpus::generate(&repo.path().join("LogFiles"), &spec).expect("generate corpus");

    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(summary.bytes));
    group.bench_function("scan_fresh_data_dir", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let data = tempfile::tempdir().expect("temp data dir");
                let config = Config {
                    repository: Some(repo.path().to_owned()),
                    data: data.path().to_owned(),
                    ..Config::default()
                };
                let daemon = Daemon::open(&config).expect("open daemon");
                let started = Instant::now();
                let scanned = daemon.parts.ingestor.scan().expect("scan");
                total += started.elapsed();
                assert_eq!(scanned.lines, summary.lines, "every line indexed");
                // Let background merges finish outside the timed part.
                daemon.parts.index.close().expect("close index");
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
