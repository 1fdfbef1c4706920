//! The `runs` table: which version of each run's log file was indexed, how
//! far, and with how many lines of each level; the listing's query over it;
//! and the generation counter (kept in the `meta` table) that tells replaced
//! content apart.

use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::{unix_now, Result, RunChange, Store, StoreError};

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

/// The listing: runs in an id range and a landing window, newest first.
const LIST_RUNS: &str = "
    SELECT r.run_id, r.size, r.mtime_ns, r.lines_indexed, r.debug_lines,
           r.info_lines, r.warning_lines, r.error_lines, r.critical_lines,
           g.run_id IS NOT NULL
    FROM runs r LEFT JOIN gcs_objects g
      ON g.run_id = r.run_id AND g.mirrored_path = r.path
    WHERE r.run_id BETWEEN ?1 AND ?2 AND r.mtime_ns >= ?3 AND r.mtime_ns < ?4
    ORDER BY r.run_id DESC LIMIT ?5";

impl Store {
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
        let now = unix_now();
        for r in records {
            put_record(&tx, r, now)?;
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

    /// Forgets runs: their records and their signature counts.
    pub fn delete_runs(&self, run_ids: &[u64]) -> Result<()> {
        let changes: Vec<RunChange<'_>> = run_ids.iter().map(|&id| RunChange::Delete(id)).collect();
        self.record_changes(&changes)
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
}

/// The `?1..?4` of a query over run ids `runs` (inclusive) whose files
/// landed in `[landed.0, landed.1)` ns; run ids past SQLite's integers are
/// clamped (none can exist).
pub(super) fn window(runs: (u64, u64), landed: (i64, i64)) -> [i64; 4] {
    let id = |v: u64| v.min(i64::MAX as u64) as i64;
    [id(runs.0), id(runs.1), landed.0, landed.1]
}

/// Inserts or replaces one run's record (in `tx`); `now` is when.
pub(super) fn put_record(tx: &rusqlite::Transaction<'_>, r: &RunRecord, now: i64) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO runs (run_id, path, size, mtime_ns, fingerprint,
            bytes_indexed, lines_indexed, generation, parse_section, indexed_at,
            debug_lines, info_lines, warning_lines, error_lines, critical_lines)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
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
    Ok(())
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::store) fn record(run_id: u64) -> RunRecord {
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
