//! Durable state in SQLite: which file version each run was indexed from, the
//! runs' lines counted by failure signature, the API tokens, and
//! per-data-directory secrets.
//!
//! The tantivy index owns the lines; this store owns everything needed to decide
//! what to (re)index and who may read. Writes go through one connection
//! behind a mutex. Reads (every request checks its token here) go through a
//! small pool of read-only connections: in WAL mode they run beside the
//! writer, so a request never waits for the ingest to record a commit, and
//! requests do not queue behind each other. WAL mode also lets the `token`
//! CLI write while a daemon is running on the same data directory.

mod meta;
mod objects;
mod runs;
mod signatures;
mod tokens;

pub use objects::ObjectRecord;
pub use runs::{ListedRun, RunRecord};
pub use signatures::{
    GroupStats, RunChange, RunSignatureRow, RunSignatures, SignatureRunRow, SignatureWindowRow,
};
pub use tokens::TokenRecord;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

/// The schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schema/001_init.sql"),
    include_str!("../../schema/002_gcs.sql"),
    include_str!("../../schema/003_search.sql"),
    include_str!("../../schema/004_signatures.sql"),
    include_str!("../../schema/005_signature_kinds.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open state database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create state database {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state database was written by a newer runlogd (schema version {found}, this build knows {known})")]
    TooNew { found: usize, known: usize },
    #[error("state database lock is poisoned")]
    Poisoned,
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    /// The one connection that writes.
    conn: Mutex<Connection>,
    /// Idle read-only connections; more are opened when all are in use.
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    /// The grouping of every signature template in the store (see
    /// [`signatures`]); locked after `conn` when both are held.
    grouping: Mutex<crate::signature::Grouping>,
}

/// Read connections kept open when idle; a burst may open more for a while.
const IDLE_READERS: usize = 8;

impl Store {
    /// Opens (creating if needed) `state.sqlite3` in `data_dir` and applies
    /// pending migrations.
    pub fn open(data_dir: &Path) -> Result<Store> {
        let path = data_dir.join("state.sqlite3");
        create_private(&path).map_err(|source| StoreError::Create {
            path: path.clone(),
            source,
        })?;
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        tune(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&conn)?;
        let mut conn = conn;
        let grouping = signatures::load_grouping(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
            grouping: Mutex::new(grouping),
        })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Runs `f` on a read-only connection from the pool: it sees every
    /// committed write and never waits for the writer.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.readers.lock().map_err(|_| StoreError::Poisoned)?.pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| StoreError::Open {
                    path: self.path.clone(),
                    source,
                })?;
                tune(&conn)?;
                conn
            }
        };
        let result = f(&conn);
        let mut idle = self.readers.lock().map_err(|_| StoreError::Poisoned)?;
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

impl Drop for Store {
    /// Folds the write-ahead log into the database and empties it: a
    /// stopped daemon leaves one file of the size of its state, not a log
    /// of every write since the last checkpoint beside it. (Best effort: a
    /// reader elsewhere, such as the `token` command, may hold it open.)
    fn drop(&mut self) {
        if let Ok(conn) = self.conn.get_mut() {
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
                tracing::debug!(error = %e, "state database checkpoint at close");
            }
        }
    }
}

/// Creates the database file 0600 if it is missing (an empty file is an
/// empty database), whatever the umask: it holds token hashes and the
/// cursor key, and SQLite gives its `-wal` and `-shm` files the mode of the
/// database file. An existing file is left as it is (the daemon tightens the
/// data directory before opening it).
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
}

/// Settings of every connection.
fn tune(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    // A stable plan per statement. Without it, the bundled SQLite (built with
    // STAT4) recompiled the listing's statement on every execution because
    // its bound values (the LIMIT, the ranges) may change the plan: 31 µs a
    // query instead of 3.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let step = i + 1;
        conn.execute_batch(&format!(
            "BEGIN; {sql}\nPRAGMA user_version = {step}; COMMIT;"
        ))?;
        tracing::info!(version = step, "applied state database migration");
    }
    Ok(())
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::runs::tests::record;
    use super::*;

    #[test]
    fn migrations_apply_once_and_state_survives_reopen() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        {
            let store = Store::open(dir.path())?;
            store.put_runs(&[record(7), record(9)])?;
        }
        let store = Store::open(dir.path())?;
        assert_eq!(store.runs()?, vec![record(7), record(9)]);
        store.delete_runs(&[7])?;
        assert_eq!(store.run(7)?, None);
        assert_eq!(store.run(9)?, Some(record(9)));
        Ok(())
    }

    #[test]
    fn reads_do_not_wait_for_the_writer() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = std::sync::Arc::new(Store::open(dir.path())?);
        store.put_runs(&[record(7)])?;
        // Hold the writer, as the ingest does while it records a commit.
        let writer = store.conn()?;
        let reading = store.clone();
        let (done, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(reading.run(7).map_err(|e| e.to_string()));
        });
        // With one connection for everything, this read waited for ever.
        let got = answer.recv_timeout(Duration::from_secs(30))?;
        drop(writer);
        assert_eq!(got, Ok(Some(record(7))));
        Ok(())
    }
}
