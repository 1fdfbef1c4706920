//! Parsing throughput (MB/s) of `runlogd::parse::Parser` on generated run logs.
//!
//! Two inputs from the corpus generator (`benches/support/corpus.rs`): a Linux run that
//! loops on errors (the shape of the biggest logs) and a Windows run (CRLF,
//! Windows-1252 bytes, echoed commands). The parse step is what every byte of
//! every log goes through before indexing, so its MB/s bounds indexing speed.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
#[allow(dead_code)] // each benchmark uses part of the generator
#[path = "support/corpus.rs"]
mod corpus;

use corpus::CorpusSpec;
use runlogd::parse::{ParseState, Parser};

/// Size of the generated inputs; big enough to defeat caches, small enough
/// to keep a bench run short on 2 cores.
const INPUT_BYTES: u64 = 8 << 20;

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = CorpusSpec {
        runs: 2,
        total_bytes: 2 * INPUT_BYTES,
        large_runs: 1,
        large_bytes: INPUT_BYTES,
        seed: 1,
    };
    corpus::generate(dir.path(), &spec).expect("generate corpus");
    let read = |id: u64| std::fs::read(dir.path().join(format!("{id}.txt"))).expect("read run");
    vec![
        ("linux_error_loop", read(corpus::large_run_id(0))),
        ("windows_crlf_1252", read(corpus::FIRST_RUN_ID + 1)),
    ]
}

fn parse(c: &mut Criterion) {
    let parser = Parser::new(&[]).expect("built-in rules compile");
    let mut group = c.benchmark_group("parse");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    for (name, bytes) in inputs() {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut state = ParseState::default();
                let (lines, used) = parser.parse(&mut state, black_box(&bytes), true);
                black_box((lines.len(), used))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
