//! Durable state in SQLite: which file version each run was indexed from, the
//! API tokens, and per-data-directory secrets.
//!
//! The tantivy index owns the lines; this store owns everything needed to decide
//! what to (re)index and who may read. Writes go through one connection
//! behind a mutex. Reads (every request checks its token here) go through a
//! small pool of read-only connections: in WAL mode they run beside the
//! writer, so a request never waits for the ingest to record a commit, and
//! requests do not queue behind each other. WAL mode also lets the `token`
//! CLI write while a daemon is running on the same data directory.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

/// The schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schema/001_init.sql"),
    include_str!("../../schema/002_gcs.sql"),
    include_str!("../../schema/003_search.sql"),
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

/// What the store remembers about one indexed run log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub run_id: u64,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub fingerprint: Vec<u8>,
    pub bytes_indexed: u64,
    pub lines_indexed: u64,
    pub generation: u64,
    pub parse_section: u8,
    /// Indexed lines of each level, in [`Level::ALL`] order.
    pub levels: [u64; 5],
}

/// A run as the listing shows it: the columns it serves, and where its file
/// came from. (Not the whole record: the path and fingerprint were a third
/// of the listing's reading, and it shows neither.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRun {
    pub run_id: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub lines_indexed: u64,
    /// Indexed lines of each level, in [`Level::ALL`] order.
    pub levels: [u64; 5],
    /// The file is the bucket's object (downloaded), not a local log.
    pub from_bucket: bool,
}

/// What the store remembers about a run's object in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub run_id: u64,
    pub name: String,
    pub etag: Option<String>,
    pub generation: Option<String>,
    pub size: u64,
    pub updated_ns: i64,
    pub mirrored_path: Option<PathBuf>,
}

/// A token as listed; never contains the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub struct Store {
    /// The one connection that writes.
    conn: Mutex<Connection>,
    /// Idle read-only connections; more are opened when all are in use.
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
}

/// The listing: runs in an id range and a landing window, newest first.
const LIST_RUNS: &str = "
    SELECT r.run_id, r.size, r.mtime_ns, r.lines_indexed, r.debug_lines,
           r.info_lines, r.warning_lines, r.error_lines, r.critical_lines,
           g.run_id IS NOT NULL
    FROM runs r LEFT JOIN gcs_objects g
      ON g.run_id = r.run_id AND g.mirrored_path = r.path
    WHERE r.run_id BETWEEN ?1 AND ?2 AND r.mtime_ns >= ?3 AND r.mtime_ns < ?4
    ORDER BY r.run_id DESC LIMIT ?5";

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
        Ok(Store {
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
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

    // ---- runs ----

    pub fn run(&self, run_id: u64) -> Result<Option<RunRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT run_id, path, size, mtime_ns, fingerprint, bytes_indexed, lines_indexed,
                        generation, parse_section, debug_lines, info_lines, warning_lines,
                        error_lines, critical_lines FROM runs WHERE run_id = ?1",
            )?;
            Ok(stmt.query_row([run_id as i64], row_to_run).optional()?)
        })
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT run_id, path, size, mtime_ns, fingerprint, bytes_indexed, lines_indexed,
                        generation, parse_section, debug_lines, info_lines, warning_lines,
                        error_lines, critical_lines FROM runs ORDER BY run_id",
            )?;
            let rows = stmt.query_map([], row_to_run)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Number of runs indexed and their lines in total.
    pub fn totals(&self) -> Result<(u64, u64)> {
        self.read(|conn| {
            let (runs, lines): (i64, i64) = conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(lines_indexed), 0) FROM runs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((runs as u64, lines as u64))
        })
    }

    /// Inserts or replaces the records of several runs in one transaction.
    pub fn put_runs(&self, records: &[RunRecord]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO runs (run_id, path, size, mtime_ns, fingerprint,
                    bytes_indexed, lines_indexed, generation, parse_section, indexed_at,
                    debug_lines, info_lines, warning_lines, error_lines, critical_lines)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            let now = unix_now();
            for r in records {
                stmt.execute(params![
                    r.run_id as i64,
                    r.path.to_string_lossy(),
                    r.size as i64,
                    r.mtime_ns,
                    r.fingerprint,
                    r.bytes_indexed as i64,
                    r.lines_indexed as i64,
                    r.generation as i64,
                    r.parse_section,
                    now,
                    r.levels[0] as i64,
                    r.levels[1] as i64,
                    r.levels[2] as i64,
                    r.levels[3] as i64,
                    r.levels[4] as i64,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Indexed runs with ids in `runs` (inclusive) whose file landed (was
    /// last modified) in `[landed.0, landed.1)` ns, highest id first.
    pub fn list_runs(
        &self,
        runs: (u64, u64),
        landed: (i64, i64),
        limit: usize,
    ) -> Result<Vec<ListedRun>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(LIST_RUNS)?;
            let [first, last, from, until] = window(runs, landed);
            let limit = limit.min(i64::MAX as usize) as i64;
            let rows = stmt.query_map(params![first, last, from, until, limit], |r| {
                let count = |i| r.get::<_, i64>(i).map(|n| n as u64);
                Ok(ListedRun {
                    run_id: count(0)?,
                    size: count(1)?,
                    mtime_ns: r.get(2)?,
                    lines_indexed: count(3)?,
                    levels: [count(4)?, count(5)?, count(6)?, count(7)?, count(8)?],
                    from_bucket: r.get(9)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Ids of the indexed runs in `runs` (inclusive) whose file landed in
    /// `[landed.0, landed.1)` ns.
    pub fn run_ids_landed(&self, runs: (u64, u64), landed: (i64, i64)) -> Result<Vec<u64>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT run_id FROM runs
                 WHERE run_id BETWEEN ?1 AND ?2 AND mtime_ns >= ?3 AND mtime_ns < ?4",
            )?;
            let rows = stmt.query_map(window(runs, landed), |r| r.get::<_, i64>(0))?;
            rows.map(|r| r.map(|id| id as u64).map_err(StoreError::from))
                .collect()
        })
    }

    /// A small value from the meta table, as text.
    pub fn meta_text(&self, key: &str) -> Result<Option<String>> {
        self.read(|conn| {
            let v: Option<Vec<u8>> = conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
        })
    }

    pub fn set_meta_text(&self, key: &str, value: &str) -> Result<()> {
        self.conn()?.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value.as_bytes()],
        )?;
        Ok(())
    }

    pub fn delete_runs(&self, run_ids: &[u64]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        for id in run_ids {
            tx.execute("DELETE FROM runs WHERE run_id = ?1", [*id as i64])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Hands out a generation number never handed out before in this data
    /// directory, so a cursor for replaced content can never match the new one.
    pub fn next_generation(&self) -> Result<u64> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let next = current.unwrap_or(0) + 1;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?1)",
            [next],
        )?;
        tx.commit()?;
        Ok(next as u64)
    }

    /// Returns the secret stored under `key`, creating it with `make` the first time.
    pub fn secret(&self, key: &str, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let existing: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        let value = match existing {
            Some(v) => v,
            None => {
                let v = make();
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![key, v],
                )?;
                v
            }
        };
        tx.commit()?;
        Ok(value)
    }

    // ---- bucket objects ----

    pub fn object(&self, run_id: u64) -> Result<Option<ObjectRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT run_id, name, etag, generation, size, updated_ns, mirrored_path
                 FROM gcs_objects WHERE run_id = ?1",
            )?;
            Ok(stmt.query_row([run_id as i64], row_to_object).optional()?)
        })
    }

    pub fn objects(&self) -> Result<Vec<ObjectRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT run_id, name, etag, generation, size, updated_ns, mirrored_path
                 FROM gcs_objects ORDER BY run_id",
            )?;
            let rows = stmt.query_map([], row_to_object)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn put_object(&self, r: &ObjectRecord) -> Result<()> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT OR REPLACE INTO gcs_objects
                (run_id, name, etag, generation, size, updated_ns, mirrored_path, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.run_id as i64,
                r.name,
                r.etag,
                r.generation,
                r.size as i64,
                r.updated_ns,
                r.mirrored_path
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                unix_now(),
            ],
        )?;
        Ok(())
    }

    pub fn delete_object(&self, run_id: u64) -> Result<()> {
        let conn = self.conn()?;
        conn.execute("DELETE FROM gcs_objects WHERE run_id = ?1", [run_id as i64])?;
        Ok(())
    }

    // ---- tokens ----

    pub fn insert_token(
        &self,
        hash: &[u8],
        name: &str,
        scopes: &[String],
        expires_at: i64,
    ) -> Result<i64> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO tokens (hash, name, scopes, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash, name, scopes.join(" "), unix_now(), expires_at],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, scopes, created_at, expires_at, revoked_at FROM tokens WHERE hash = ?1",
            )?;
            Ok(stmt.query_row([hash], row_to_token).optional()?)
        })
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, scopes, created_at, expires_at, revoked_at FROM tokens ORDER BY id",
            )?;
            let rows = stmt.query_map([], row_to_token)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Marks a token revoked; returns false when no such token exists.
    pub fn revoke_token(&self, id: i64) -> Result<bool> {
        let conn = self.conn()?;
        let changed = conn.execute(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![id, unix_now()],
        )?;
        Ok(changed > 0)
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

/// The `?1..?4` of a query over run ids `runs` (inclusive) whose files
/// landed in `[landed.0, landed.1)` ns; run ids past SQLite's integers are
/// clamped (none can exist).
fn window(runs: (u64, u64), landed: (i64, i64)) -> [i64; 4] {
    let id = |v: u64| v.min(i64::MAX as u64) as i64;
    [id(runs.0), id(runs.1), landed.0, landed.1]
}

fn row_to_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        run_id: r.get::<_, i64>(0)? as u64,
        path: PathBuf::from(r.get::<_, String>(1)?),
        size: r.get::<_, i64>(2)? as u64,
        mtime_ns: r.get(3)?,
        fingerprint: r.get(4)?,
        bytes_indexed: r.get::<_, i64>(5)? as u64,
        lines_indexed: r.get::<_, i64>(6)? as u64,
        generation: r.get::<_, i64>(7)? as u64,
        parse_section: r.get(8)?,
        levels: [
            r.get::<_, i64>(9)? as u64,
            r.get::<_, i64>(10)? as u64,
            r.get::<_, i64>(11)? as u64,
            r.get::<_, i64>(12)? as u64,
            r.get::<_, i64>(13)? as u64,
        ],
    })
}

fn row_to_object(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRecord> {
    Ok(ObjectRecord {
        run_id: r.get::<_, i64>(0)? as u64,
        name: r.get(1)?,
        etag: r.get(2)?,
        generation: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        updated_ns: r.get(5)?,
        mirrored_path: r.get::<_, Option<String>>(6)?.map(PathBuf::from),
    })
}

fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let scopes: String = r.get(2)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run_id: u64) -> RunRecord {
        RunRecord {
            run_id,
            path: PathBuf::from(format!("/r/LogFiles/{run_id}.txt")),
            size: 10,
            mtime_ns: 1,
            fingerprint: vec![1, 2, 3],
            bytes_indexed: 10,
            lines_indexed: 2,
            generation: 1,
            parse_section: 0,
            levels: [0, 1, 0, 1, 0],
        }
    }

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
    fn objects_round_trip_and_replace() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let mut o = ObjectRecord {
            run_id: 5,
            name: "LogFiles/5.txt".into(),
            etag: Some("\"abc\"".into()),
            generation: None,
            size: 12,
            updated_ns: 1_700_000_000_000_000_000,
            mirrored_path: None,
        };
        store.put_object(&o)?;
        assert_eq!(store.object(5)?, Some(o.clone()));
        o.generation = Some("17".into());
        o.mirrored_path = Some(PathBuf::from("/d/gcs-mirror/5.txt"));
        store.put_object(&o)?;
        assert_eq!(store.objects()?, vec![o]);
        store.delete_object(5)?;
        assert_eq!(store.object(5)?, None);
        Ok(())
    }

    #[test]
    fn generations_never_repeat_and_secret_is_stable() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let a = store.next_generation()?;
        let b = store.next_generation()?;
        assert!(b > a);
        let k1 = store.secret("k", || vec![42; 4])?;
        let k2 = store.secret("k", || vec![0; 4])?;
        assert_eq!(k1, vec![42; 4]);
        assert_eq!(k1, k2);
        drop(store);
        let store = Store::open(dir.path())?;
        assert!(store.next_generation()? > b);
        Ok(())
    }

    #[test]
    fn tokens_round_trip_and_revoke() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let id = store.insert_token(b"hash", "ci", &["system:read".into()], 100)?;
        let t = store
            .token_by_hash(b"hash")?
            .ok_or_else(|| anyhow::anyhow!("missing"))?;
        assert_eq!(t.id, id);
        assert_eq!(t.scopes, vec!["system:read".to_string()]);
        assert_eq!(t.revoked_at, None);
        assert!(store.revoke_token(id)?);
        assert!(!store.revoke_token(id + 100)?);
        assert!(store
            .token_by_hash(b"hash")?
            .and_then(|t| t.revoked_at)
            .is_some());
        assert!(store.token_by_hash(b"other")?.is_none());
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

    #[test]
    fn the_listing_statement_is_compiled_once() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        store.put_runs(&[record(7), record(9)])?;
        for limit in [1, 5, 2] {
            let listed = store.list_runs((0, 100), (0, i64::MAX), limit)?;
            assert_eq!(listed.len(), limit.min(2));
        }
        // Without the stable-plan setting, each new LIMIT and range
        // recompiled the statement.
        let reprepared = store.read(|conn| {
            let stmt = conn.prepare_cached(LIST_RUNS)?;
            Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
        })?;
        assert_eq!(reprepared, 0);
        Ok(())
    }
}
