//! The entries in the log folders that are named like logs but are not read
//! (see [`crate::logfiles::open_entry`]), kept so that each is logged once,
//! not at every reconcile, counted once, and listed in `/readyz` until it
//! is fixed or gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::logfiles::{Skip, SkipReason};

/// At most this many entries are listed per reason in `/readyz`; the counts
/// are always whole.
const LISTED_PER_REASON: usize = 20;

#[derive(Debug, Default)]
pub struct Skipped {
    entries: Mutex<BTreeMap<PathBuf, Skip>>,
}

/// What `/readyz` shows of one reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedReport {
    pub count: usize,
    /// The entries as `{folder}/{file}` (the folder's own name, not its
    /// path: `/readyz` needs no token), the first [`LISTED_PER_REASON`] in
    /// path order.
    pub entries: Vec<String>,
}

impl Skipped {
    /// Records what an entry is now: refused for `skip`, or (`None`) a log
    /// or absent. A new refusal, or one whose reason changed, is logged
    /// and counted; a refusal that clears is logged too.
    pub fn update(&self, path: &Path, skip: Option<&Skip>) {
        let mut entries = self.lock();
        match skip {
            Some(skip) => {
                if entries.get(path) == Some(skip) {
                    return;
                }
                tracing::warn!(
                    path = %path.display(),
                    reason = skip.reason.as_str(),
                    found = %skip.detail,
                    "skipping an entry named like a log: only regular files inside the log folder are read"
                );
                crate::metrics::skipped_entry(skip.reason.as_str());
                entries.insert(path.to_path_buf(), skip.clone());
            }
            None => {
                if entries.remove(path).is_some() {
                    tracing::info!(path = %path.display(), "a skipped entry is now readable or gone");
                }
            }
        }
    }

    /// Forgets entries that no longer exist at all (a scan's listing no
    /// longer names them, so no event will clear them).
    pub fn retain_existing(&self) {
        self.lock()
            .retain(|path, _| std::fs::symlink_metadata(path).is_ok());
    }

    /// The refused entries by reason, for `/readyz`.
    pub fn report(&self) -> BTreeMap<&'static str, SkippedReport> {
        let entries = self.lock();
        let mut out = BTreeMap::new();
        for reason in SkipReason::ALL {
            let paths: Vec<&PathBuf> = entries
                .iter()
                .filter(|(_, s)| s.reason == reason)
                .map(|(p, _)| p)
                .collect();
            if paths.is_empty() {
                continue;
            }
            out.insert(
                reason.as_str(),
                SkippedReport {
                    count: paths.len(),
                    entries: paths
                        .iter()
                        .take(LISTED_PER_REASON)
                        .map(|p| shown(p))
                        .collect(),
                },
            );
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Skip>> {
        // The map is whole after any panic (each change is one call).
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `LogFiles/12.txt`: where an operator looks, without the server's layout.
fn shown(path: &Path) -> String {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    match path.parent().and_then(Path::file_name) {
        Some(folder) => format!("{}/{file}", folder.to_string_lossy()),
        None => file.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(reason: SkipReason) -> Skip {
        Skip {
            reason,
            detail: "x".into(),
        }
    }

    #[test]
    fn an_entry_is_listed_under_its_reason_until_it_clears() {
        let s = Skipped::default();
        let fifo = Path::new("/l/1.txt");
        let link = Path::new("/l/2.txt");
        s.update(fifo, Some(&skip(SkipReason::NotRegularFile)));
        s.update(link, Some(&skip(SkipReason::OutsideLogFiles)));
        s.update(link, Some(&skip(SkipReason::OutsideLogFiles)));
        let r = s.report();
        assert_eq!(r["not_regular_file"].entries, vec!["l/1.txt"]);
        assert_eq!(r["outside_log_files"].count, 1);
        assert!(!r.contains_key("unreadable"));
        s.update(fifo, None);
        assert!(!s.report().contains_key("not_regular_file"));
        // Paths that do not exist are forgotten by a scan.
        s.retain_existing();
        assert!(s.report().is_empty());
    }
}
