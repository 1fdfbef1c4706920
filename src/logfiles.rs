//! A run's log files: what they are called, where they are, and which copy
//! counts.
//!
//! A run's log is `LogFiles/{run_id}.txt`, and, when the bucket is mirrored
//! into a separate folder (see [`crate::bucket`]), possibly also a copy there.
//! Of the two, the one modified last is the run's log (the local file on a
//! tie): the mirror stamps each copy with its object's update time, so a log
//! rewritten locally after its upload is served as rewritten, and a newer
//! upload replaces an older local file. Ingest, the bucket sync and the raw
//! download all ask this module, so they never disagree about a run's file.
//!
//! Stamps are nanosecond modification times: whole seconds would miss a log
//! rewritten within the second it was written.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The largest run id the API accepts.
pub const MAX_RUN_ID: u64 = 2_147_483_647;

/// The file name of a run's log: `{run_id}.txt`.
pub fn file_name(run_id: u64) -> String {
    format!("{run_id}.txt")
}

/// The run id a file name stands for, or `None` for any other file. Run ids
/// are written without sign or leading zeros, so exactly one name maps to
/// each run.
pub fn run_id_from_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".txt")?;
    if digits.is_empty()
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.len() > 10
    {
        return None;
    }
    let id: u64 = digits.parse().ok()?;
    (1..=MAX_RUN_ID).contains(&id).then_some(id)
}

/// A file's modification time in nanoseconds since the epoch.
pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// The modification time of the regular file at `path`, if there is one.
pub fn file_mtime_ns(path: &Path) -> Option<i64> {
    std::fs::metadata(path)
        .ok()
        .filter(Metadata::is_file)
        .map(|m| mtime_ns(&m))
}

/// Which of a run's two copies is its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    Local,
    Mirrored,
}

/// The copy modified last wins; the local file on a tie.
pub fn newest(local_ns: Option<i64>, mirrored_ns: Option<i64>) -> Option<Copy> {
    match (local_ns, mirrored_ns) {
        (Some(l), Some(m)) if m > l => Some(Copy::Mirrored),
        (Some(_), _) => Some(Copy::Local),
        (None, Some(_)) => Some(Copy::Mirrored),
        (None, None) => None,
    }
}

/// Whether a local file stamped `local_ns` stands for the run rather than
/// the bucket's object updated at `object_ns`: the same rule as [`newest`].
pub fn local_wins_over_object(local_ns: i64, object_ns: i64) -> bool {
    newest(Some(local_ns), Some(object_ns)) == Some(Copy::Local)
}

/// The folders a run's log may be in.
#[derive(Debug, Clone)]
pub struct LogFiles {
    dir: PathBuf,
    /// Where the bucket is mirrored, when not into `dir` itself.
    mirror: Option<PathBuf>,
}

impl LogFiles {
    /// `dir` is the `LogFiles/` folder itself; `mirror` the bucket's copies.
    pub fn new(dir: PathBuf, mirror: Option<PathBuf>) -> LogFiles {
        let mirror = mirror.filter(|m| *m != dir);
        LogFiles { dir, mirror }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's file in `LogFiles/`, whether or not it exists.
    pub fn local(&self, run_id: u64) -> PathBuf {
        self.dir.join(file_name(run_id))
    }

    /// The file a run is read from: its `LogFiles/` file or its mirrored
    /// copy, by [`newest`]; `None` when neither exists.
    pub fn source(&self, run_id: u64) -> Option<PathBuf> {
        let local = self.local(run_id);
        let mirrored = self.mirror.as_ref().map(|d| d.join(file_name(run_id)));
        let mirrored_ns = mirrored.as_deref().and_then(file_mtime_ns);
        match newest(file_mtime_ns(&local), mirrored_ns)? {
            Copy::Local => Some(local),
            Copy::Mirrored => mirrored,
        }
    }

    /// The run ids of the well-named files in `LogFiles/` and the mirror,
    /// sorted, each once. A folder that does not exist yet holds none.
    pub fn list(&self) -> std::io::Result<Vec<u64>> {
        let mut ids = Vec::new();
        for dir in std::iter::once(&self.dir).chain(self.mirror.as_ref()) {
            list_in(dir, &mut ids).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot list {}: {e}", dir.display()))
            })?;
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

fn list_in(dir: &Path, ids: &mut Vec<u64>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "log folder does not exist yet");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        match name.to_str().and_then(run_id_from_file_name) {
            Some(id) => ids.push(id),
            None => tracing::debug!(file = ?name, "ignoring file not named {{run_id}}.txt"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn only_canonical_positive_ids_are_run_files() {
        assert_eq!(run_id_from_file_name("1.txt"), Some(1));
        assert_eq!(run_id_from_file_name("9401.txt"), Some(9401));
        assert_eq!(run_id_from_file_name("2147483647.txt"), Some(MAX_RUN_ID));
        assert_eq!(run_id_from_file_name(&file_name(77)), Some(77));
        for bad in [
            "0.txt",
            "007.txt",
            "-1.txt",
            "+1.txt",
            "2147483648.txt",
            "99999999999999999999.txt",
            "12.txt.tmp",
            ".12.txt",
            "12.TXT",
            "abc.txt",
            ".txt",
            "README.txt",
            "1 .txt",
        ] {
            assert_eq!(run_id_from_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_copy_modified_last_wins_and_local_on_a_tie() {
        assert_eq!(newest(Some(5), Some(6)), Some(Copy::Mirrored));
        assert_eq!(newest(Some(6), Some(5)), Some(Copy::Local));
        assert_eq!(newest(Some(5), Some(5)), Some(Copy::Local));
        assert_eq!(newest(None, Some(5)), Some(Copy::Mirrored));
        assert_eq!(newest(Some(5), None), Some(Copy::Local));
        assert_eq!(newest(None, None), None);
        assert!(local_wins_over_object(5, 5));
        assert!(!local_wins_over_object(5, 6));
    }

    fn stamp(path: &Path, ns: u64) -> std::io::Result<()> {
        std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(UNIX_EPOCH + Duration::from_nanos(ns))
    }

    #[test]
    fn source_and_list_read_both_folders() -> std::io::Result<()> {
        let local = tempfile::tempdir()?;
        let mirror = tempfile::tempdir()?;
        let files = LogFiles::new(local.path().into(), Some(mirror.path().into()));
        for (dir, name) in [
            (&local, "1.txt"),
            (&local, "2.txt"),
            (&mirror, "2.txt"),
            (&mirror, "3.txt"),
            (&local, "notes.txt"),
        ] {
            std::fs::write(dir.path().join(name), "x\n")?;
        }
        assert_eq!(files.list()?, vec![1, 2, 3]);
        // Nanoseconds apart is enough to decide.
        stamp(&local.path().join("2.txt"), 1_700_000_000_000_000_001)?;
        stamp(&mirror.path().join("2.txt"), 1_700_000_000_000_000_002)?;
        assert_eq!(files.source(2), Some(mirror.path().join("2.txt")));
        stamp(&local.path().join("2.txt"), 1_700_000_000_000_000_003)?;
        assert_eq!(files.source(2), Some(local.path().join("2.txt")));
        assert_eq!(files.source(1), Some(local.path().join("1.txt")));
        assert_eq!(files.source(3), Some(mirror.path().join("3.txt")));
        assert_eq!(files.source(4), None);
        // A folder that does not exist yet holds no runs.
        let absent = LogFiles::new(local.path().join("absent"), None);
        assert_eq!(absent.list()?, Vec::<u64>::new());
        Ok(())
    }
}
