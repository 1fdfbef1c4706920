//! What a scan has done so far (for `/readyz` and `runlogd index`) and what
//! it did in the end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::Outcome;

/// Progress of the start-up scan, read by `/readyz`.
#[derive(Debug, Default)]
pub struct ScanProgress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
    pub ready: AtomicBool,
    /// Why this scan rebuilds the whole index, when it does.
    rebuild: std::sync::OnceLock<String>,
}

impl ScanProgress {
    /// Marks this start-up scan as a rebuild of the whole index.
    pub fn set_rebuild(&self, reason: String) {
        let _ = self.rebuild.set(reason);
    }

    pub fn rebuild(&self) -> Option<&str> {
        self.rebuild.get().map(String::as_str)
    }

    /// Files done, files in all, bytes parsed.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.files_done.load(Ordering::Relaxed),
            self.files_total.load(Ordering::Relaxed),
            self.bytes_done.load(Ordering::Relaxed),
        )
    }
}

/// Counts of what a scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    pub unchanged: u64,
    pub indexed: u64,
    pub appended: u64,
    pub removed: u64,
    /// Entries named like logs that are not read (see `/readyz`).
    pub skipped: u64,
    pub lines: u64,
    pub elapsed: Duration,
}

impl ScanSummary {
    pub(super) fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Unchanged | Outcome::Missing => self.unchanged += 1,
            Outcome::Indexed { lines } => {
                self.indexed += 1;
                self.lines += lines;
            }
            Outcome::Appended { lines } => {
                self.appended += 1;
                self.lines += lines;
            }
            Outcome::Removed => self.removed += 1,
            Outcome::Refused(_) => self.skipped += 1,
        }
    }

    /// Logs the summary under `message`.
    pub fn log(&self, message: &str) {
        tracing::info!(
            indexed = self.indexed,
            appended = self.appended,
            unchanged = self.unchanged,
            removed = self.removed,
            skipped = self.skipped,
            lines = self.lines,
            seconds = format!("{:.2}", self.elapsed.as_secs_f64()),
            "{message}"
        );
    }
}
