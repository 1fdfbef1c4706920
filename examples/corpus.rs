//! Writes the deterministic corpus of realistic run logs that the benchmark
//! scripts (`benches/compare.sh`, `benches/ab.sh`, `benches/load.sh`,
//! `benches/gcs_miss.py`) index and search. Benchmark code, kept out of the
//! `runlogd` binary:
//!
//! ```text
//! cargo build --release --example corpus
//! target/release/examples/corpus --out DIR [--runs N] [--total-mb M] [--large K] [--large-mb L] [--seed S]
//! ```
//!
//! The generator itself is `benches/support/corpus.rs`, shared with the
//! criterion benches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[allow(dead_code)] // the benches use more of the generator than this command
#[path = "../benches/support/corpus.rs"]
mod corpus;

/// Write a deterministic corpus of realistic run logs (for benchmarks).
#[derive(Parser)]
#[command(name = "corpus")]
struct Args {
    /// Folder to write `{run_id}.txt` files into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of runs.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Approximate total size in MB.
    #[arg(long, default_value_t = 300)]
    total_mb: u64,
    /// How many of the runs are large.
    #[arg(long, default_value_t = 1)]
    large: usize,
    /// Size of each large run in MB.
    #[arg(long, default_value_t = 120)]
    large_mb: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corpus: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: Args) -> std::io::Result<()> {
    std::fs::create_dir_all(&a.out)?;
    let spec = corpus::CorpusSpec {
        runs: a.runs,
        total_bytes: a.total_mb << 20,
        large_runs: a.large,
        large_bytes: a.large_mb << 20,
        seed: a.seed,
    };
    let s = corpus::generate(&a.out, &spec)?;
    println!(
        "wrote {} runs, {} lines, {} bytes to {}",
        s.files,
        s.lines,
        s.bytes,
        a.out.display()
    );
    Ok(())
}
