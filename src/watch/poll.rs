//! Poll mode: for folders where inotify sees nothing (gcsfuse, NFS), look at
//! every run file's size, mtime and inode at a fixed interval.
//!
//! notify's own `PollWatcher` compares modification times in whole seconds,
//! so a log rewritten or appended within the same second as the previous
//! change is never reported; this poller compares nanoseconds, sizes and
//! inodes, and costs one `stat` per file per interval.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::ingest::Tail;
use crate::logfiles::{mtime_ns, run_id_from_file_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    size: u64,
    mtime_ns: i64,
    inode: u64,
}

pub struct Poller {
    dir: PathBuf,
    interval: Duration,
    next: Instant,
    /// None until the first look, which reports every file.
    seen: Option<HashMap<u64, Seen>>,
}

impl Poller {
    pub fn new(dir: PathBuf, interval: Duration) -> Poller {
        Poller {
            dir,
            interval,
            next: Instant::now(),
            seen: None,
        }
    }

    pub fn next_due(&self) -> Instant {
        self.next
    }

    /// If due, looks at the folder and adds every run whose file appeared,
    /// changed or vanished since the last look.
    pub fn poll(&mut self, runs: &mut BTreeMap<u64, Tail>) -> std::io::Result<()> {
        if Instant::now() < self.next {
            return Ok(());
        }
        self.next = Instant::now() + self.interval;
        let mut now_seen = HashMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(run_id) = entry.file_name().to_str().and_then(run_id_from_file_name) else {
                continue;
            };
            // A file that vanishes between listing and stat is reported as gone below.
            if let Ok(meta) = entry.metadata() {
                now_seen.insert(
                    run_id,
                    Seen {
                        size: meta.len(),
                        mtime_ns: mtime_ns(&meta),
                        inode: meta.ino(),
                    },
                );
            }
        }
        match &self.seen {
            None => runs.extend(now_seen.keys().map(|id| (*id, Tail::WhenQuiet))),
            Some(before) => {
                for (id, seen) in &now_seen {
                    if before.get(id) != Some(seen) {
                        runs.entry(*id).or_insert(Tail::WhenQuiet);
                    }
                }
                for id in before.keys().filter(|id| !now_seen.contains_key(id)) {
                    runs.entry(*id).or_insert(Tail::WhenQuiet);
                }
            }
        }
        self.seen = Some(now_seen);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_new_changed_within_the_same_second_and_removed_files() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = |id: u64| dir.path().join(format!("{id}.txt"));
        std::fs::write(path(1), "a\n")?;
        std::fs::write(dir.path().join("notes.txt"), "x")?;
        let mut p = Poller::new(dir.path().to_path_buf(), Duration::ZERO);
        let mut runs = BTreeMap::new();
        p.poll(&mut runs)?;
        assert_eq!(runs.keys().copied().collect::<Vec<_>>(), vec![1]);

        runs.clear();
        p.poll(&mut runs)?;
        assert!(runs.is_empty(), "nothing changed");

        std::fs::write(path(1), "a\nb\n")?; // same second, other size
        std::fs::write(path(2), "new\n")?;
        p.poll(&mut runs)?;
        assert_eq!(runs.keys().copied().collect::<Vec<_>>(), vec![1, 2]);

        runs.clear();
        std::fs::remove_file(path(2))?;
        p.poll(&mut runs)?;
        assert_eq!(runs.keys().copied().collect::<Vec<_>>(), vec![2]);
        Ok(())
    }
}
