//! `runlogd index`: index the whole repository once and exit, showing
//! progress: a progress bar (files, bytes, rate, ETA) on a terminal, a plain
//! log line every few seconds otherwise (under systemd or in CI).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Daemon, Role};
use crate::config::Config;
use crate::ingest::ScanSummary;

const LOG_EVERY: Duration = Duration::from_secs(5);

pub fn run(config: &Config) -> anyhow::Result<ScanSummary> {
    let daemon = Daemon::open_for(config, Role::IndexOnce).context(
        "cannot open the data directory (is `runlogd serve` running on it? it indexes by itself)",
    )?;
    let ingestor = daemon.parts.ingestor.clone();
    let progress = ingestor.progress.clone();
    let scan = std::thread::spawn(move || ingestor.scan());
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let mut last_log = Instant::now();
    while !scan.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let (done, total, bytes) = progress.counts();
        let rate = bytes as f64 / 1e6 / started.elapsed().as_secs_f64().max(1e-3);
        match &bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(format!("{:.1} MB  {rate:.1} MB/s", bytes as f64 / 1e6));
            }
            None if last_log.elapsed() >= LOG_EVERY => {
                tracing::info!(
                    files_done = done,
                    files_total = total,
                    mb = bytes / 1_000_000,
                    mb_per_s = format!("{rate:.1}"),
                    "indexing"
                );
                last_log = Instant::now();
            }
            None => {}
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = scan
        .join()
        .map_err(|_| anyhow::anyhow!("the indexing thread panicked"))??;
    // Merges finish before the command returns, so the index is compact.
    daemon.parts.index.close()?;
    summary.log("index complete");
    Ok(summary)
}
