//! The data directory is private to the user runlogd runs as:
//! `state.sqlite3` holds token hashes and the cursor key, and the index
//! holds every log line, so no other local user may read any of it,
//! whatever umask runlogd was started under.
//!
//! SQLite and tantivy create their files themselves, so the process
//! umask ([`private_umask`]) is what makes every new file 0600 and every
//! new directory 0700. [`prepare`] creates the directory 0700 and
//! tightens one that an earlier runlogd (or an operator) left open.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Group and other permission bits: none may be set on the data
/// directory or on anything runlogd keeps in it.
const OPEN_BITS: u32 = 0o077;

/// Changes named in the warning; the rest are counted, so that a big
/// mirror folder does not make one enormous log line.
const NAMED_CHANGES: usize = 10;

/// Sets the process umask to 0o077, so that every file runlogd creates
/// from now on (the state database and its `-wal`/`-shm`, the index,
/// the bundled example repository, bucket copies) is 0600 and every
/// directory 0700. Called first by every command that touches the data
/// directory: the umask is process-wide, and SQLite and tantivy create
/// files on their own threads.
pub fn private_umask() {
    // SAFETY: umask(2) only swaps the process's file-creation mask; it
    // has no preconditions and cannot fail.
    unsafe {
        libc::umask(OPEN_BITS as libc::mode_t);
    }
}

/// Creates the data directory 0700, or makes an existing open one private:
/// the directory becomes 0700 and every file and subdirectory in it
/// owned by this user loses its group and other bits (0644 becomes
/// 0600, 0755 becomes 0700). What was changed is logged once, at warn.
pub fn prepare(data: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    let mut changed = Vec::new();
    // The directory itself is what keeps others out: it is closed
    // first, whoever owns it, and failing to stops the start rather
    // than serve from an open directory.
    let meta = std::fs::metadata(data)
        .with_context(|| format!("cannot read data directory {}", data.display()))?;
    match tighten(data, &meta, Owner::Any).with_context(|| {
        format!(
            "cannot make data directory {} private (chmod 0700)",
            data.display()
        )
    })? {
        Some(change) => changed.push(change),
        // A closed directory keeps others from whatever is inside it, so
        // its entries are not walked (a stat of each of possibly 100,000
        // files at every start).
        None => return Ok(()),
    }
    let mut todo = vec![data.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot list a folder of the data directory to check its permissions");
                continue;
            }
        };
        for entry in listing.flatten() {
            let path = entry.path();
            // Not following symbolic links: what they point to is not
            // runlogd's to change.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                todo.push(path.clone());
            } else if !meta.is_file() {
                continue;
            }
            match tighten(&path, &meta, Owner::Me) {
                Ok(Some(change)) => changed.push(change),
                Ok(None) => {}
                // Removed meanwhile (a running daemon merges segments
                // while `token` commands open the directory).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Inside a private directory an entry left open is out
                // of others' reach; say so and go on.
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot make a file of the data directory private")
                }
            }
        }
    }
    if !changed.is_empty() {
        let mut entries: Vec<String> = changed
            .iter()
            .take(NAMED_CHANGES)
            .map(|c| c.describe(data))
            .collect();
        if changed.len() > NAMED_CHANGES {
            entries.push(format!("and {} more", changed.len() - NAMED_CHANGES));
        }
        tracing::warn!(
            data = %data.display(),
            changed = changed.len(),
            entries = %entries.join(", "),
            "the data directory was readable by other users: \
             tightened its permissions to owner-only (0700 directories, 0600 files)"
        );
    }
    Ok(())
}

/// One entry whose mode was tightened.
struct Change {
    path: PathBuf,
    from: u32,
    to: u32,
}

impl Change {
    fn describe(&self, data: &Path) -> String {
        let name = match self.path.strip_prefix(data) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => self.path.display().to_string(),
        };
        format!("{name} {:04o}->{:04o}", self.from, self.to)
    }
}

/// Whose entries [`tighten`] changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Only this user's: an entry of another user in the data
    /// directory is not runlogd's.
    Me,
    /// Whoever owns it (the data directory itself).
    Any,
}

/// Removes the group and other bits of `path` (and set-id and sticky
/// bits, which only matter for sharing) when any is set.
fn tighten(path: &Path, meta: &std::fs::Metadata, owner: Owner) -> std::io::Result<Option<Change>> {
    let from = meta.permissions().mode() & 0o7777;
    if from & OPEN_BITS == 0 || (owner == Owner::Me && meta.uid() != effective_uid()) {
        return Ok(None);
    }
    let to = from & 0o700;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(to))?;
    Ok(Some(Change {
        path: path.to_path_buf(),
        from,
        to,
    }))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
