//! What a hostile file costs once it is indexed: a page of a run made of
//! one 200 MB line with no newline, and of a run of 20 MB of random bytes,
//! side by side with a page of an ordinary run in the same index (the
//! baseline, measured in the same run). And whether serving those pages
//! slows an ordinary run's page: the baseline again while another thread
//! keeps asking for pages of the hostile runs, beside the same while it
//! asks for ordinary pages (the control).
//!
//! The memory side (peak RSS while indexing such files) is
//! `benches/hostile_memory.sh`.

use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use runlogd::config::Config;
use runlogd::daemon::Daemon;
use runlogd::index::grams::Needle;
use runlogd::index::Filters;

const ORDINARY: u64 = 1;
const GIANT_LINE: u64 = 2;
const RANDOM_BYTES: u64 = 3;

fn write_corpus(dir: &std::path::Path) -> std::io::Result<()> {
    let mut ordinary = std::fs::File::create(dir.join(format!("{ORDINARY}.txt")))?;
    for i in 0..20_000u32 {
        writeln!(
            ordinary,
            "[INFO] Processing sample {i}: test {} of 412 passed in {} ms",
            i % 412,
            (i * 37) % 1000
        )?;
    }
    let mut giant = std::io::BufWriter::new(std::fs::File::create(
        dir.join(format!("{GIANT_LINE}.txt")),
    )?);
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..200 {
        giant.write_all(&chunk)?;
    }
    giant.flush()?;
    let mut random = std::io::BufWriter::new(std::fs::File::create(
        dir.join(format!("{RANDOM_BYTES}.txt")),
    )?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..(20 << 20) / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        random.write_all(&x.to_le_bytes())?;
    }
    random.flush()?;
    // Old enough that a last line without a newline is taken as complete.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for id in [GIANT_LINE, RANDOM_BYTES] {
        std::fs::File::options()
            .write(true)
            .open(dir.join(format!("{id}.txt")))?
            .set_modified(old)?;
    }
    Ok(())
}

fn hostile(c: &mut Criterion) {
    let repo = tempfile::tempdir().expect("temp repository");
    let data = tempfile::tempdir().expect("temp data dir");
    let logs = repo.path().join("LogFiles");
    std::fs::create_dir_all(&logs).expect("LogFiles");
    write_corpus(&logs).expect("write corpus");
    let config = Config {
        repository: Some(repo.path().to_owned()),
        data: data.path().to_owned(),
        ..Config::default()
    };
    let daemon = Daemon::open(&config).expect("open daemon");
    daemon.parts.ingestor.scan().expect("index the runs");
    let index = daemon.parts.index.clone();
    let page = move |run_id: u64, filters: &Filters| {
        let snapshot = index.snapshot();
        let meta = snapshot
            .run_meta(run_id)
            .expect("read run meta")
            .expect("run is indexed");
        snapshot
            .page(run_id, meta, filters, 0, 100)
            .expect("page")
            .lines()
            .len()
    };
    let all = Filters::default();
    let needle = Filters {
        contains: Some(Needle::new("passed in 99")),
        ..Filters::default()
    };

    let mut g = c.benchmark_group("hostile");
    for (name, run_id, filters) in [
        ("ordinary run, first page (baseline)", ORDINARY, &all),
        ("one 200 MB line, first page", GIANT_LINE, &all),
        ("20 MB of random bytes, first page", RANDOM_BYTES, &all),
        ("ordinary run, contains", ORDINARY, &needle),
        ("20 MB of random bytes, contains", RANDOM_BYTES, &needle),
    ] {
        g.bench_function(name, |b| b.iter(|| black_box(page(run_id, filters))));
    }

    // The baseline while another thread serves pages without pause: of the
    // hostile runs, and (the control: the same load, harmless) of the
    // ordinary run.
    for (name, busy_runs) in [
        (
            "ordinary run, first page, beside ordinary pages",
            [ORDINARY, ORDINARY],
        ),
        (
            "ordinary run, first page, beside hostile pages",
            [GIANT_LINE, RANDOM_BYTES],
        ),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let busy = {
            let stop = stop.clone();
            let page = page.clone();
            std::thread::spawn(move || {
                let all = Filters::default();
                while !stop.load(Ordering::Relaxed) {
                    for run_id in busy_runs {
                        black_box(page(run_id, &all));
                    }
                }
            })
        };
        g.bench_function(name, |b| b.iter(|| black_box(page(ORDINARY, &all))));
        stop.store(true, Ordering::Relaxed);
        let _ = busy.join();
    }
    g.finish();
}

criterion_group!(benches, hostile);
criterion_main!(benches);
