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
//!
//! The folder is written by others, so an entry named `{run_id}.txt` is not
//! trusted to be a log. Only a regular file inside the folder is read
//! ([`open_entry`]): a FIFO, socket, device or directory is skipped without
//! ever being opened in a way that can wait, and a symbolic link is followed
//! only when it resolves inside the folder. Every entry that is refused says
//! why ([`Skip`]), so ingest can report it and the API can answer precisely.

use std::fs::{File, FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
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
/// A stat, never an open: a symbolic link is followed, so callers that read
/// the file go through [`open_entry`] instead.
pub fn file_mtime_ns(path: &Path) -> Option<i64> {
    std::fs::metadata(path)
        .ok()
        .filter(Metadata::is_file)
        .map(|m| mtime_ns(&m))
}

/// Why an entry named like a run's log is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A FIFO, socket, device or directory: opening or reading it could wait
    /// forever, or mean nothing.
    NotRegularFile,
    /// A symbolic link that resolves outside the folder.
    OutsideLogFiles,
    /// It cannot be opened or read: no permission, a symbolic link loop or a
    /// broken link, an I/O error.
    Unreadable,
}

impl SkipReason {
    pub const ALL: [SkipReason; 3] = [
        SkipReason::NotRegularFile,
        SkipReason::OutsideLogFiles,
        SkipReason::Unreadable,
    ];

    /// The name used in `/readyz`, the metric's label and the API's details.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotRegularFile => "not_regular_file",
            SkipReason::OutsideLogFiles => "outside_log_files",
            SkipReason::Unreadable => "unreadable",
        }
    }
}

/// A refused entry: the reason, and what exactly was found (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub reason: SkipReason,
    pub detail: String,
}

impl Skip {
    fn not_regular(file_type: FileType) -> Skip {
        let kind = if file_type.is_fifo() {
            "a FIFO"
        } else if file_type.is_socket() {
            "a socket"
        } else if file_type.is_char_device() || file_type.is_block_device() {
            "a device"
        } else if file_type.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        Skip {
            reason: SkipReason::NotRegularFile,
            detail: kind.to_owned(),
        }
    }

    fn outside(target: &Path) -> Skip {
        Skip {
            reason: SkipReason::OutsideLogFiles,
            detail: format!(
                "a symbolic link to {}, outside the folder",
                target.display()
            ),
        }
    }

    fn unreadable(e: &std::io::Error) -> Skip {
        let detail = if e.raw_os_error() == Some(libc::ELOOP) {
            "a symbolic link loop".to_owned()
        } else {
            e.to_string()
        };
        Skip {
            reason: SkipReason::Unreadable,
            detail,
        }
    }
}

/// A run's log file, open for reading.
#[derive(Debug)]
pub struct OpenLog {
    /// The entry's path in its folder (a link's own path, not its target).
    pub path: PathBuf,
    pub file: File,
    /// The opened file's own metadata.
    pub meta: Metadata,
}

/// What is at an entry's path.
#[derive(Debug)]
pub enum Entry {
    Absent,
    Log(OpenLog),
    Skipped(Skip),
}

/// Opens the entry at `path`, in the folder `root`, if it is a log: a
/// regular file, or a symbolic link that resolves to a regular file inside
/// `root`. Never waits: nothing that is not a regular file is opened on
/// purpose, and the open is non-blocking for one swapped in meanwhile (a
/// FIFO opened so returns at once and is then refused by its `fstat`).
pub fn open_entry(root: &Path, path: &Path) -> Entry {
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Entry::Absent,
        Err(e) => return Entry::Skipped(Skip::unreadable(&e)),
    };
    let is_link = link.file_type().is_symlink();
    let target = if is_link {
        match resolve_inside(root, path) {
            Ok(target) => target,
            Err(skip) => return Entry::Skipped(skip),
        }
    } else if link.is_file() {
        path.to_path_buf()
    } else {
        return Entry::Skipped(Skip::not_regular(link.file_type()));
    };
    let opened = std::fs::OpenOptions::new()
        .read(true)
        // NOFOLLOW: a link swapped in after the checks above is refused,
        // not followed.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(&target);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Entry::Absent,
        Err(e) => return Entry::Skipped(Skip::unreadable(&e)),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Entry::Skipped(Skip::unreadable(&e)),
    };
    if !meta.is_file() {
        return Entry::Skipped(Skip::not_regular(meta.file_type()));
    }
    if is_link {
        // What was opened, whatever was renamed meanwhile: the kernel's
        // own name for the descriptor.
        let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
        if let (Ok(real), Ok(root)) = (std::fs::read_link(fd), std::fs::canonicalize(root)) {
            if !real.starts_with(&root) {
                return Entry::Skipped(Skip::outside(&real));
            }
        }
    }
    Entry::Log(OpenLog {
        path: path.to_path_buf(),
        file,
        meta,
    })
}

/// Where the link at `path` leads, if that is a regular file inside `root`.
fn resolve_inside(root: &Path, path: &Path) -> Result<PathBuf, Skip> {
    let target = std::fs::canonicalize(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Skip {
                reason: SkipReason::Unreadable,
                detail: "a broken symbolic link".to_owned(),
            }
        } else {
            Skip::unreadable(&e)
        }
    })?;
    let root = std::fs::canonicalize(root).map_err(|e| Skip::unreadable(&e))?;
    if !target.starts_with(&root) {
        return Err(Skip::outside(&target));
    }
    // A stat of the target, which is inside: only a regular file is opened.
    let meta = std::fs::metadata(&target).map_err(|e| Skip::unreadable(&e))?;
    if !meta.is_file() {
        return Err(Skip::not_regular(meta.file_type()));
    }
    Ok(target)
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

    /// Opens the run's log: of its copies that are logs ([`open_entry`]),
    /// the one modified last, by [`newest`]. Also says what each entry
    /// looked at was, so refused entries can be reported and cleared.
    pub fn open_run(&self, run_id: u64) -> RunEntries {
        let name = file_name(run_id);
        let local_path = self.dir.join(&name);
        let local = open_entry(&self.dir, &local_path);
        let mirrored = self
            .mirror
            .as_ref()
            .map(|d| (d.join(&name), d))
            .map(|(p, d)| {
                let e = open_entry(d, &p);
                (p, e)
            });
        let mut seen = vec![(local_path, skip_of(&local))];
        if let Some((p, e)) = &mirrored {
            seen.push((p.clone(), skip_of(e)));
        }
        let mirrored = mirrored.map(|(_, e)| e);
        let stamp = |e: &Entry| match e {
            Entry::Log(l) => Some(mtime_ns(&l.meta)),
            _ => None,
        };
        let mirrored_ns = mirrored.as_ref().and_then(stamp);
        let log = match newest(stamp(&local), mirrored_ns) {
            Some(Copy::Local) => into_log(local),
            Some(Copy::Mirrored) => mirrored.and_then(into_log),
            None => None,
        };
        RunEntries { log, seen }
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

/// A run's log, if it has one, and every entry looked at for it.
#[derive(Debug)]
pub struct RunEntries {
    pub log: Option<OpenLog>,
    /// Each entry's path, with why it was refused (`None`: a log, or absent).
    pub seen: Vec<(PathBuf, Option<Skip>)>,
}

impl RunEntries {
    /// Why the run has no log although an entry for it exists: the first
    /// refusal (the `LogFiles/` entry's before the mirror's).
    pub fn refusal(&self) -> Option<&Skip> {
        if self.log.is_some() {
            return None;
        }
        self.seen.iter().find_map(|(_, s)| s.as_ref())
    }
}

fn skip_of(entry: &Entry) -> Option<Skip> {
    match entry {
        Entry::Skipped(s) => Some(s.clone()),
        _ => None,
    }
}

fn into_log(entry: Entry) -> Option<OpenLog> {
    match entry {
        Entry::Log(l) => Some(l),
        _ => None,
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
