//! Writing objects to the mirror folder, and deciding when a local file makes
//! a download unnecessary.
//!
//! A download goes to a hidden temporary file beside its target, is checked
//! for length, flushed to disk, given the object's update time as its mtime
//! and only then renamed into place. A cut-off download is deleted, so the
//! ingestor (which only reads `{run_id}.txt`) never sees half a log.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use object_store::gcp::GoogleCloudStorage;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::SyncError;
use crate::logfiles::{local_wins_over_object, mtime_ns, open_entry, Entry, OpenLog};

/// An object's update time in nanoseconds since the epoch.
pub fn updated_ns(meta: &ObjectMeta) -> i64 {
    meta.last_modified
        .timestamp_nanos_opt()
        .unwrap_or_else(|| meta.last_modified.timestamp().saturating_mul(1_000_000_000))
}

/// Downloads `location` to `target` atomically and returns the generation
/// of the copy (when the bucket says it). `updated_ns` becomes the file's mtime.
pub async fn download(
    client: &GoogleCloudStorage,
    location: &ObjectPath,
    target: &Path,
    updated_ns: i64,
) -> Result<Option<String>, SyncError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SyncError::Io { path, source }
    };
    let result = client.get(location).await?;
    let expected = result.meta.size;
    let generation = result.meta.version.clone();
    let tmp = temp_path(target);
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
    let mut stream = result.into_stream();
    let written: Result<u64, SyncError> = async {
        let mut got = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            file.write_all(&chunk).await.map_err(io(&tmp))?;
            got += chunk.len() as u64;
        }
        file.flush().await.map_err(io(&tmp))?;
        file.sync_all().await.map_err(io(&tmp))?;
        Ok(got)
    }
    .await;
    let finish = match written {
        Ok(got) if got == expected => {
            let file = file.into_std().await;
            file.set_modified(system_time(updated_ns))
                .map_err(io(&tmp))?;
            drop(file);
            std::fs::rename(&tmp, target).map_err(io(target))
        }
        Ok(got) => Err(SyncError::Truncated {
            name: location.to_string(),
            got,
            expected,
        }),
        Err(e) => Err(e),
    };
    if finish.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    finish.map(|()| generation)
}

/// Whether the file at `local` makes a copy of the object unnecessary: it
/// holds the same bytes (same size and MD5, where the ETag is an MD5), or it
/// was modified at or after the object's update time (the newer one wins).
/// Only a log that ingest would read counts ([`open_entry`]): a FIFO or a
/// link out of the folder supersedes nothing, and is never read here.
pub fn local_supersedes(local: &Path, meta: &ObjectMeta) -> std::io::Result<bool> {
    let folder = local.parent().unwrap_or(Path::new("."));
    let OpenLog {
        file, meta: stat, ..
    } = match open_entry(folder, local) {
        Entry::Log(log) => log,
        Entry::Absent | Entry::Skipped(_) => return Ok(false),
    };
    if local_wins_over_object(mtime_ns(&stat), updated_ns(meta)) {
        return Ok(true);
    }
    if stat.len() != meta.size {
        return Ok(false);
    }
    let Some(object_md5) = meta.e_tag.as_deref().and_then(etag_md5) else {
        return Ok(false);
    };
    Ok(file_md5(file)? == object_md5)
}

/// The MD5 an ETag carries: GCS's XML API gives it in hex, its emulator and
/// JSON API in base64. Composite objects carry none.
pub fn etag_md5(etag: &str) -> Option<[u8; 16]> {
    let t = etag.trim().trim_start_matches("W/").trim_matches('"');
    let bytes = if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..16)
            .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD.decode(t).ok()?
    };
    bytes.try_into().ok()
}

fn file_md5(mut file: std::fs::File) -> std::io::Result<[u8; 16]> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// `.{name}.{random}.part` beside `target`: hidden, and not a run file name.
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{:08x}.part", rand::random::<u32>()))
}

/// Removes temporary files a crash or a kill left in `dir`.
pub fn remove_stale_parts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".part") {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a stale partial download");
            }
        }
    }
}

fn system_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_in_hex_and_base64_give_the_same_md5() {
        // MD5 of "hello\nworld\n".
        let hex = etag_md5("\"0f723ae7f9bf07744445e93ac5595156\"");
        let b64 = etag_md5("D3I65/m/B3RERek6xVlRVg==");
        assert!(hex.is_some());
        assert_eq!(hex, b64);
        assert_eq!(etag_md5("\"abc-3\""), None, "composite objects have no MD5");
    }

    #[test]
    fn a_local_file_wins_when_newer_or_identical() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let local = dir.path().join("5.txt");
        std::fs::write(&local, "hello\nworld\n")?;
        let now = chrono_now();
        let meta = |size, e_tag: &str, updated| ObjectMeta {
            location: ObjectPath::from("LogFiles/5.txt"),
            last_modified: updated,
            size,
            e_tag: Some(e_tag.to_owned()),
            version: None,
        };
        let later = now + chrono::Duration::seconds(60);
        let earlier = now - chrono::Duration::seconds(3600);
        // Object newer, same bytes: no copy needed.
        assert!(local_supersedes(
            &local,
            &meta(12, "D3I65/m/B3RERek6xVlRVg==", later)
        )?);
        // Object newer, other bytes: copy.
        assert!(!local_supersedes(
            &local,
            &meta(12, "AAAAAAAAAAAAAAAAAAAAAA==", later)
        )?);
        assert!(!local_supersedes(&local, &meta(99, "x", later))?);
        // Object older than the local file: the local file wins.
        assert!(local_supersedes(&local, &meta(99, "x", earlier))?);
        assert!(!local_supersedes(
            &dir.path().join("6.txt"),
            &meta(1, "x", earlier)
        )?);
        Ok(())
    }

    fn chrono_now() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}
