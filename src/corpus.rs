//! Placeholder for the deterministic corpus generator (being written).

use std::path::Path;

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    /// Number of run logs.
    pub runs: usize,
    /// Approximate total size of all logs, in bytes.
    pub total_bytes: u64,
    /// How many of the runs are large (at least `large_bytes` each).
    pub large_runs: usize,
    /// Size of each large run, in bytes.
    pub large_bytes: u64,
    pub seed: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusSummary {
    pub files: usize,
    pub bytes: u64,
    pub lines: u64,
}

/// Writes `{run_id}.txt` files into `log_dir`.
pub fn generate(log_dir: &Path, spec: &CorpusSpec) -> std::io::Result<CorpusSummary> {
    let _ = (log_dir, spec);
    Ok(CorpusSummary::default())
}
