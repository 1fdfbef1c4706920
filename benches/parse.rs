//! Parsing throughput (MB/s) of `runlogd::parse::Parser` on generated run logs.
//!
//! Two inputs from the corpus generator (`benches/support/corpus.rs`): a Linux run that
//! loops on errors (the shape of the biggest logs) and a Windows run (CRLF,
//! Windows-1252 bytes, echoed commands). The parse step is what every byte of
//! every log goes through before indexing, so its MB/s bounds indexing speed.
//!
//! Group `signature`: `signature_of` and `shape_of` per line of the bundled
//! example logs (`examples/repository/LogFiles`), the template hash (as
//! used: eight bytes a step, splitmix64 finalizer; against FNV-1a, a byte
//! a step, which it replaced, and the first 8 bytes of a SHA-256),
//! and adding 10 shapes to a `Grouping` of 100,000 templates.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};
#[allow(dead_code)] // each benchmark uses part of the generator
#[path = "support/corpus.rs"]
mod corpus;

use corpus::CorpusSpec;
use runlogd::parse::{ParseState, Parser};
use runlogd::signature::{shape_of, signature_of, template_id, Grouping, Shape};

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

/// The messages of the bundled example logs, in file order.
fn example_messages() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/repository/LogFiles");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("example logs")
        .map(|e| e.expect("example log").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "README.txt"))
        .collect();
    files.sort();
    let parser = Parser::new(&[]).expect("built-in rules compile");
    let mut messages = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).expect("read example log");
        let (lines, _) = parser.parse(&mut ParseState::default(), &bytes, true);
        messages.extend(lines.into_iter().map(|l| l.message));
    }
    messages
}

/// FNV-1a 64 (a byte a step) with the splitmix64 finalizer: the template
/// hash before the one in use.
fn fnv1a_splitmix(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A deterministic message made of `stem` (a few words) with its word at
/// `slot` replaced by `word`, and numbers that mask away.
fn synthetic_message(stem: u64, slot: u64, word: &str) -> String {
    const WORDS: [&str; 16] = [
        "open", "close", "read", "write", "failed", "error", "user", "from", "entry", "file",
        "socket", "timeout", "retry", "sample", "decoder", "stream",
    ];
    let mut state = stem.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let len = 4 + (stem % 9) as usize;
    let mut out = String::new();
    for i in 0..len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if !out.is_empty() {
            out.push(' ');
        }
        if i as u64 == slot % len as u64 {
            out.push_str(word);
        } else if state % 5 == 0 {
            out.push_str(&(state % 10_000).to_string());
        } else {
            out.push_str(WORDS[(state >> 8) as usize % WORDS.len()]);
            out.push_str(&format!("w{}", (state >> 16) % 50));
        }
    }
    out
}

fn signature(c: &mut Criterion) {
    let messages = example_messages();
    let bytes: usize = messages.iter().map(String::len).sum();
    eprintln!(
        "signature: {} example lines, {:.1} bytes a line",
        messages.len(),
        bytes as f64 / messages.len() as f64
    );
    let mut group = c.benchmark_group("signature");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("signature_of", |b| {
        b.iter(|| {
            let mut x = 0u64;
            for m in &messages {
                x ^= signature_of(black_box(m)).0;
            }
            x
        })
    });
    group.bench_function("shape_of", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| shape_of(black_box(m)).template.len())
                .sum::<usize>()
        })
    });
    let templates: Vec<String> = messages.iter().map(|m| shape_of(m).template).collect();
    group.bench_function("hash_as_used", |b| {
        b.iter(|| {
            templates
                .iter()
                .fold(0u64, |x, t| x ^ template_id(black_box(t)).0)
        })
    });
    group.bench_function("hash_fnv1a_splitmix", |b| {
        b.iter(|| {
            templates
                .iter()
                .fold(0u64, |x, t| x ^ fnv1a_splitmix(black_box(t.as_bytes())))
        })
    });
    group.bench_function("hash_sha256_first8", |b| {
        b.iter(|| {
            templates.iter().fold(0u64, |x, t| {
                let digest = Sha256::digest(black_box(t.as_bytes()));
                x ^ u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
            })
        })
    });

    // 100,000 templates: 25,000 stems with 4 variations of one word each
    // (three or more fire a merge).
    let mut grouping = Grouping::new();
    let start = std::time::Instant::now();
    let base: Vec<Shape> = (0..25_000u64)
        .flat_map(|stem| {
            (0..4).map(move |v| shape_of(&synthetic_message(stem, stem, &format!("v{v}x"))))
        })
        .collect();
    grouping.add(base);
    eprintln!(
        "signature: a grouping of {} templates built in {:?}",
        grouping.len(),
        start.elapsed()
    );
    group.throughput(Throughput::Elements(10));
    let mut next = 0u64;
    group.bench_function("grouping_add_10_to_100k", |b| {
        b.iter(|| {
            // Half new messages, half new variations of known stems.
            let shapes: Vec<Shape> = (0..10)
                .map(|i| {
                    next += 1;
                    if i % 2 == 0 {
                        shape_of(&synthetic_message(1_000_000 + next, next, "fresh"))
                    } else {
                        let stem = next.wrapping_mul(7919) % 25_000;
                        shape_of(&synthetic_message(stem, stem, &format!("n{next}x")))
                    }
                })
                .collect();
            grouping.add(shapes).len()
        })
    });
    group.finish();
}

criterion_group!(benches, parse, signature);
criterion_main!(benches);
