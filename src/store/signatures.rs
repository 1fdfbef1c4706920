//! The signature tables: each run's lines counted by base signature, level
//! and source; every base signature's template and group; and per base
//! signature, how many runs hold it and the first and last of them.
//!
//! A run's counts are written in the transaction that writes its record
//! ([`Store::put_run`]), so they always describe what the index holds. The
//! grouping of templates ([`Grouping`]) is kept in memory, rebuilt from the
//! `signatures` table when the store opens, and grown after each commit
//! that brings new templates; `signatures.grouped_as` mirrors it for the
//! queries that aggregate by group.

use std::sync::MutexGuard;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Result, Store, StoreError};
use crate::signature::{shape_of, Grouping, Shape, SignatureId};

/// Distinct (signature, level, source) counted per parse of a run. A log
/// whose every line is a new message (random bytes, say) would otherwise
/// hold a template per line in memory; lines past the limit are indexed
/// and searchable, but not counted by signature.
pub const MAX_RUN_SIGNATURES: usize = 10_000;

/// The lines of one run counted by signature as they are parsed, for
/// [`Store::put_run`].
#[derive(Debug, Default)]
pub struct RunSignatures {
    /// These counts replace the run's (it was indexed from the start);
    /// otherwise they add to them (lines were appended).
    pub replace: bool,
    /// (base id, level code, source code) → (lines, first line).
    rows: FxHashMap<(u64, u8, u8), (u64, u64)>,
    /// The template of each base id counted.
    templates: FxHashMap<u64, String>,
    /// Lines not counted: their signature came past [`MAX_RUN_SIGNATURES`].
    pub uncounted: u64,
}

impl RunSignatures {
    pub fn new(replace: bool) -> RunSignatures {
        RunSignatures {
            replace,
            ..RunSignatures::default()
        }
    }

    /// Counts line `line`, of base signature `signature`; `message` gives
    /// its message (the line after its timestamp), asked for only when the
    /// signature is new to the run (for its template).
    pub fn count<'m>(
        &mut self,
        signature: SignatureId,
        level: u8,
        source: u8,
        line: u64,
        message: impl FnOnce() -> &'m str,
    ) {
        let key = (signature.0, level, source);
        if let Some(row) = self.rows.get_mut(&key) {
            row.0 += 1;
            row.1 = row.1.min(line);
            return;
        }
        if self.rows.len() >= MAX_RUN_SIGNATURES {
            self.uncounted += 1;
            return;
        }
        self.rows.insert(key, (1, line));
        self.templates
            .entry(signature.0)
            .or_insert_with(|| shape_of(message()).template);
    }

    /// Lines counted.
    pub fn lines(&self) -> u64 {
        self.rows.values().map(|r| r.0).sum()
    }
}

/// What an index commit did to a run, for [`Store::record_changes`].
pub enum RunChange<'a> {
    /// Its new record, and the counts of the lines just indexed (none when
    /// only the file's metadata changed).
    Put(&'a super::RunRecord, Option<&'a RunSignatures>),
    /// It is gone.
    Delete(u64),
}

/// One signature group's lines of one level and source in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSignatureRow {
    pub group: SignatureId,
    pub level: u8,
    pub source: u8,
    pub lines: u64,
    pub first_line: u64,
}

/// Which runs hold a group, over every indexed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStats {
    pub runs: u64,
    pub first_run: u64,
    pub first_at_ns: i64,
    pub last_run: u64,
    pub last_at_ns: i64,
}

/// A run holding a group: its lines of it, and the first of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRunRow {
    pub run_id: u64,
    pub mtime_ns: i64,
    pub lines: u64,
    pub first_line: u64,
}

/// One group's lines of one level and source across a window of runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureWindowRow {
    pub group: SignatureId,
    pub level: u8,
    pub source: u8,
    /// Runs of the window holding it, and its lines there.
    pub runs: u64,
    pub lines: u64,
    /// The newest run of the window holding it, and its first line there.
    pub example_run: u64,
    pub example_line: u64,
}

/// A JSON array of integers, for `IN (SELECT value FROM json_each(?))`.
fn json_ints(values: impl IntoIterator<Item = i64>) -> String {
    let items: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    format!("[{}]", items.join(","))
}

impl Store {
    /// Writes a run's record and, when given, its signature counts, in one
    /// transaction.
    pub fn put_run(
        &self,
        record: &super::RunRecord,
        signatures: Option<&RunSignatures>,
    ) -> Result<()> {
        self.record_changes(&[RunChange::Put(record, signatures)])
    }

    /// Writes what one index commit did to its runs, in order, in one
    /// transaction (one write of the log for the whole batch).
    pub fn record_changes(&self, changes: &[RunChange<'_>]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let now = super::unix_now();
        let mut fresh = Vec::new();
        {
            // Templates the grouping holds are in the table already.
            let grouping = self.grouping()?;
            let known = |id: u64| grouping.group_of(SignatureId(id)).is_some();
            for change in changes {
                match change {
                    RunChange::Put(record, signatures) => {
                        super::runs::put_record(&tx, record, now)?;
                        if let Some(s) = signatures {
                            fresh.extend(write_run_signatures(&tx, record.run_id, s, &known)?);
                        }
                    }
                    RunChange::Delete(run_id) => {
                        tx.execute("DELETE FROM runs WHERE run_id = ?1", [*run_id as i64])?;
                        Store::forget_run_signatures(&tx, *run_id)?;
                    }
                }
            }
        }
        tx.commit()?;
        self.regroup(&mut conn, fresh)
    }

    /// Forgets the signature counts of runs being deleted (in `tx`).
    pub(super) fn forget_run_signatures(tx: &Transaction<'_>, run_id: u64) -> Result<()> {
        let before = run_rows(tx, run_id)?;
        tx.execute(
            "DELETE FROM run_signatures WHERE run_id = ?1",
            [run_id as i64],
        )?;
        update_kinds(tx, run_id, &before, &FxHashMap::default())?;
        update_seen(tx, run_id, &ids_of(&before), &FxHashSet::default())
    }

    /// Adds new templates to the grouping and records the groups that
    /// changed.
    fn regroup(&self, conn: &mut MutexGuard<'_, Connection>, fresh: Vec<Shape>) -> Result<()> {
        if fresh.is_empty() {
            return Ok(());
        }
        let changed = self.grouping()?.add(fresh);
        write_groups(conn, &changed)
    }

    fn grouping(&self) -> Result<MutexGuard<'_, Grouping>> {
        self.grouping.lock().map_err(|_| StoreError::Poisoned)
    }

    /// The group of a base id, `None` for an id never indexed.
    pub fn signature_group(&self, id: SignatureId) -> Result<Option<SignatureId>> {
        Ok(self.grouping()?.group_of(id))
    }

    /// The base ids of a group, sorted.
    pub fn signature_members(&self, group: SignatureId) -> Result<Vec<SignatureId>> {
        Ok(self.grouping()?.members(group))
    }

    /// The template of a group.
    pub fn signature_template(&self, group: SignatureId) -> Result<Option<String>> {
        Ok(self.grouping()?.template(group))
    }

    /// A run's lines by signature group, level and source, for the levels
    /// and sources given (codes; empty means any).
    pub fn run_signature_rows(
        &self,
        run_id: u64,
        levels: &[u8],
        sources: &[u8],
    ) -> Result<Vec<RunSignatureRow>> {
        let levels = codes_or_all(levels);
        let sources = codes_or_all(sources);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.grouped_as, rs.level, rs.source, SUM(rs.lines), MIN(rs.first_line)
                 FROM run_signatures rs JOIN signatures s ON s.signature = rs.signature
                 WHERE rs.run_id = ?1
                   AND rs.level IN (SELECT value FROM json_each(?2))
                   AND rs.source IN (SELECT value FROM json_each(?3))
                 GROUP BY s.grouped_as, rs.level, rs.source",
            )?;
            let rows = stmt.query_map(params![run_id as i64, levels, sources], |r| {
                Ok(RunSignatureRow {
                    group: SignatureId::from_i64(r.get(0)?),
                    level: r.get(1)?,
                    source: r.get(2)?,
                    lines: r.get::<_, i64>(3)? as u64,
                    first_line: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Which indexed runs hold any member of `group` (at any level), or
    /// `None` when none does.
    pub fn group_stats(&self, group: SignatureId) -> Result<Option<GroupStats>> {
        let members = self.signature_members(group)?;
        self.read(|conn| {
            let seen: Option<(i64, i64, i64)> = match members.as_slice() {
                [] => None,
                [one] => conn
                    .prepare_cached(
                        "SELECT runs, first_run, last_run FROM signature_runs WHERE signature = ?1",
                    )?
                    .query_row([one.as_i64()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?,
                many => {
                    let ids = json_ints(many.iter().map(|m| m.as_i64()));
                    let (runs, first, last): (i64, Option<i64>, Option<i64>) = conn
                        .prepare_cached(
                            "SELECT COUNT(DISTINCT run_id), MIN(run_id), MAX(run_id)
                             FROM run_signatures
                             WHERE signature IN (SELECT value FROM json_each(?1))",
                        )?
                        .query_row([ids], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    first.zip(last).map(|(f, l)| (runs, f, l))
                }
            };
            let Some((runs, first, last)) = seen.filter(|s| s.0 > 0) else {
                return Ok(None);
            };
            let mut landed = conn.prepare_cached("SELECT mtime_ns FROM runs WHERE run_id = ?1")?;
            let mut at = |run: i64| -> Result<i64> {
                Ok(landed
                    .query_row([run], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0))
            };
            Ok(Some(GroupStats {
                runs: runs as u64,
                first_run: first as u64,
                first_at_ns: at(first)?,
                last_run: last as u64,
                last_at_ns: at(last)?,
            }))
        })
    }

    /// The lowest run holding each group, for every group some run holds:
    /// one read of `signature_runs`, for ordering by first sighting.
    pub fn group_first_runs(&self) -> Result<FxHashMap<SignatureId, u64>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.grouped_as, MIN(sr.first_run)
                 FROM signature_runs sr JOIN signatures s ON s.signature = sr.signature
                 GROUP BY s.grouped_as",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((SignatureId::from_i64(r.get(0)?), r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<rusqlite::Result<FxHashMap<_, _>>>()?)
        })
    }

    /// The runs holding a member of `members`, with ids in `runs` and
    /// landed in `[landed.0, landed.1)` ns, newest first, at most `limit`.
    ///
    /// Each member's runs are read newest first along the index by
    /// signature, at most `limit` of them, and merged: a run among the
    /// `limit` newest of all is among the `limit` newest of each member it
    /// holds, so its counts are whole.
    pub fn signature_run_rows(
        &self,
        members: &[SignatureId],
        runs: (u64, u64),
        landed: (i64, i64),
        limit: usize,
    ) -> Result<Vec<SignatureRunRow>> {
        let [lo, hi, from, until] = super::runs::window(runs, landed);
        let limit = limit.min(i64::MAX as usize);
        let mut merged: std::collections::BTreeMap<u64, SignatureRunRow> = Default::default();
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT rs.run_id, r.mtime_ns, SUM(rs.lines), MIN(rs.first_line)
                 FROM run_signatures rs JOIN runs r ON r.run_id = rs.run_id
                 WHERE rs.signature = ?1 AND rs.run_id BETWEEN ?2 AND ?3
                   AND r.mtime_ns >= ?4 AND r.mtime_ns < ?5
                 GROUP BY rs.run_id ORDER BY rs.run_id DESC LIMIT ?6",
            )?;
            for member in members {
                let rows = stmt.query_map(
                    params![member.as_i64(), lo, hi, from, until, limit as i64],
                    |r| {
                        Ok(SignatureRunRow {
                            run_id: r.get::<_, i64>(0)? as u64,
                            mtime_ns: r.get(1)?,
                            lines: r.get::<_, i64>(2)? as u64,
                            first_line: r.get::<_, i64>(3)? as u64,
                        })
                    },
                )?;
                for row in rows {
                    let row = row?;
                    merged
                        .entry(row.run_id)
                        .and_modify(|m| {
                            m.lines += row.lines;
                            m.first_line = m.first_line.min(row.first_line);
                        })
                        .or_insert(row);
                }
            }
            Ok(())
        })?;
        Ok(merged.into_values().rev().take(limit).collect())
    }

    /// Every group's lines of each level and source (codes; empty means
    /// any) over the runs with ids in `runs`, landed in `[landed.0,
    /// landed.1)` ns when given; `example_line` is left 0 (see
    /// [`Store::group_first_line`]).
    ///
    /// Counted per base signature in one pass over the rows (a row is one
    /// run's lines of one base id, level and source, so its runs are a
    /// count of rows), then summed into groups here; only a group of
    /// several base ids has its runs counted again, as distinct runs.
    pub fn signature_window_rows(
        &self,
        levels: &[u8],
        sources: &[u8],
        runs: (u64, u64),
        landed: Option<(i64, i64)>,
    ) -> Result<Vec<SignatureWindowRow>> {
        let window = Window::new(levels, sources, runs, landed);
        let base: Vec<(SignatureId, u8, u8, u64, u64, u64)> = self.read(|conn| {
            // One read transaction: whether the range takes in every run,
            // and the rows, come from the same state of the database.
            let tx = conn.unchecked_transaction()?;
            let (sql, values) = if landed.is_none() && covers_every_run(&tx, runs)? {
                // The same sums, kept as the runs are written.
                (
                    "SELECT signature, level, source, runs, lines, last_run FROM signature_kinds
                     WHERE level IN (SELECT value FROM json_each(?1))
                       AND source IN (SELECT value FROM json_each(?2))"
                        .to_owned(),
                    window.values()[..2].to_vec(),
                )
            } else {
                (
                    window.sql(
                        "rs.signature, rs.level, rs.source, COUNT(*), SUM(rs.lines), MAX(rs.run_id)",
                        "",
                        "GROUP BY rs.signature, rs.level, rs.source",
                    ),
                    window.values().to_vec(),
                )
            };
            let mut stmt = tx.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
                Ok((
                    SignatureId::from_i64(r.get(0)?),
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, i64>(4)? as u64,
                    r.get::<_, i64>(5)? as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        // (group, level, source) → the row, and how many base ids it sums.
        let mut groups: FxHashMap<(SignatureId, u8, u8), (SignatureWindowRow, usize)> =
            FxHashMap::default();
        {
            let grouping = self.grouping()?;
            for (id, level, source, runs, lines, last) in base {
                let group = grouping.group_of(id).unwrap_or(id);
                let entry = groups.entry((group, level, source)).or_insert((
                    SignatureWindowRow {
                        group,
                        level,
                        source,
                        runs: 0,
                        lines: 0,
                        example_run: 0,
                        example_line: 0,
                    },
                    0,
                ));
                entry.0.runs += runs;
                entry.0.lines += lines;
                entry.0.example_run = entry.0.example_run.max(last);
                entry.1 += 1;
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (_, (mut row, bases)) in groups {
            if bases > 1 {
                // A run may hold two of the group's base ids.
                row.runs = self.group_window_runs(&window, row.group, row.level, row.source)?;
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The distinct runs of the window holding `group` at a level and source.
    fn group_window_runs(
        &self,
        window: &Window,
        group: SignatureId,
        level: u8,
        source: u8,
    ) -> Result<u64> {
        let members = json_ints(self.signature_members(group)?.iter().map(|m| m.as_i64()));
        let sql = window.sql(
            "COUNT(DISTINCT rs.run_id)",
            "AND rs.signature IN (SELECT value FROM json_each(?7)) AND rs.level = ?8 AND rs.source = ?9",
            "",
        );
        self.read(|conn| {
            let [a, b, c, d, e, f] = window.values();
            let n: i64 = conn
                .prepare_cached(&sql)?
                .query_row(params![a, b, c, d, e, f, members, level, source], |r| {
                    r.get(0)
                })?;
            Ok(n as u64)
        })
    }

    /// The first line of `group` of a level and source in a run, if any.
    pub fn group_first_line(
        &self,
        run_id: u64,
        group: SignatureId,
        level: u8,
        source: u8,
    ) -> Result<Option<u64>> {
        self.read(|conn| {
            let line: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(rs.first_line) FROM run_signatures rs
                     JOIN signatures s ON s.signature = rs.signature
                     WHERE rs.run_id = ?1 AND s.grouped_as = ?2
                       AND rs.level = ?3 AND rs.source = ?4",
                )?
                .query_row(params![run_id as i64, group.as_i64(), level, source], |r| {
                    r.get(0)
                })?;
            Ok(line.map(|l| l as u64))
        })
    }
}

/// The rows of a listing across runs: levels and sources (as JSON arrays
/// of codes), a run id range and, when given, a landing window.
struct Window {
    levels: String,
    sources: String,
    errors_only: bool,
    landed: bool,
    bounds: [i64; 4],
}

impl Window {
    fn new(levels: &[u8], sources: &[u8], runs: (u64, u64), landed: Option<(i64, i64)>) -> Window {
        Window {
            levels: codes_or_all(levels),
            sources: codes_or_all(sources),
            errors_only: all_errors(levels),
            landed: landed.is_some(),
            bounds: super::runs::window(runs, landed.unwrap_or((i64::MIN, i64::MAX))),
        }
    }

    /// `SELECT columns` over the window's rows of `run_signatures rs`, with
    /// `more` conditions (from `?7` on) and a `tail`. Without a landing
    /// window the runs table is not read at all; for errors and critical
    /// lines only, the partial index of them is.
    fn sql(&self, columns: &str, more: &str, tail: &str) -> String {
        let (runs_join, landed_filter) = if self.landed {
            (
                "JOIN runs r ON r.run_id = rs.run_id",
                "r.mtime_ns >= ?5 AND r.mtime_ns < ?6",
            )
        } else {
            ("", "?5 <= ?6")
        };
        let errors_only = if self.errors_only {
            "AND rs.level >= 3"
        } else {
            ""
        };
        format!(
            "SELECT {columns} FROM run_signatures rs {runs_join}
             WHERE rs.level IN (SELECT value FROM json_each(?1)) {errors_only}
               AND rs.source IN (SELECT value FROM json_each(?2))
               AND rs.run_id BETWEEN ?3 AND ?4 AND {landed_filter} {more}
             {tail}"
        )
    }

    /// `?1` to `?6`.
    fn values(&self) -> [rusqlite::types::Value; 6] {
        use rusqlite::types::Value;
        let [lo, hi, from, until] = self.bounds;
        [
            Value::Text(self.levels.clone()),
            Value::Text(self.sources.clone()),
            Value::Integer(lo),
            Value::Integer(hi),
            Value::Integer(from),
            Value::Integer(until),
        ]
    }
}

/// The grouping of every template in the `signatures` table, with
/// `grouped_as` brought in line with it (the grouping rules may have
/// changed since it was written).
pub(super) fn load_grouping(conn: &mut Connection) -> Result<Grouping> {
    let mut stored: FxHashMap<i64, i64> = FxHashMap::default();
    let mut shapes = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT signature, template, grouped_as FROM signatures")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            stored.insert(id, r.get(2)?);
            shapes.push(Shape {
                id: SignatureId::from_i64(id),
                template: r.get(1)?,
            });
        }
    }
    let mut grouping = Grouping::new();
    grouping.add(shapes);
    let differ: Vec<(SignatureId, SignatureId)> = stored
        .iter()
        .filter_map(|(&id, &group)| {
            let id = SignatureId::from_i64(id);
            let now = grouping.group_of(id).unwrap_or(id);
            (now.as_i64() != group).then_some((id, now))
        })
        .collect();
    write_groups(conn, &differ)?;
    Ok(grouping)
}

/// Records (member, group) pairs in `signatures.grouped_as`.
fn write_groups(conn: &mut Connection, pairs: &[(SignatureId, SignatureId)]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    {
        let mut stmt =
            tx.prepare_cached("UPDATE signatures SET grouped_as = ?2 WHERE signature = ?1")?;
        for (member, group) in pairs {
            stmt.execute([member.as_i64(), group.as_i64()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Whether only error and critical levels (codes 3 and 4) are asked for:
/// the partial index `run_signatures_errors` holds those rows.
fn all_errors(levels: &[u8]) -> bool {
    !levels.is_empty() && levels.iter().all(|&l| l >= 3)
}

/// All codes when none are given (level and source codes are below 8).
fn codes_or_all(codes: &[u8]) -> String {
    if codes.is_empty() {
        json_ints(0..8)
    } else {
        json_ints(codes.iter().map(|&c| i64::from(c)))
    }
}

/// Whether the run ids `runs` take in every run holding a signature.
fn covers_every_run(conn: &Connection, runs: (u64, u64)) -> Result<bool> {
    let (lo, hi) = (
        runs.0.min(i64::MAX as u64) as i64,
        runs.1.min(i64::MAX as u64) as i64,
    );
    // Two subqueries: each is one step along the primary key.
    let (first, last): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT (SELECT MIN(run_id) FROM run_signatures),
                    (SELECT MAX(run_id) FROM run_signatures)",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(first
        .zip(last)
        .is_none_or(|(first, last)| lo <= first && last <= hi))
}

/// A run's rows of `run_signatures`: (base id, level, source) → lines.
type RunRows = FxHashMap<(i64, u8, u8), i64>;

/// The rows a run holds.
fn run_rows(tx: &Transaction<'_>, run_id: u64) -> Result<RunRows> {
    let mut stmt = tx.prepare_cached(
        "SELECT signature, level, source, lines FROM run_signatures WHERE run_id = ?1",
    )?;
    let rows = stmt.query_map([run_id as i64], |r| {
        Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<RunRows>>()?)
}

/// The distinct base ids of a run's rows.
fn ids_of(rows: &RunRows) -> FxHashSet<i64> {
    rows.keys().map(|&(sig, _, _)| sig).collect()
}

/// Keeps `signature_kinds` right when a run's rows go from `before` to
/// `after` (its rows in `run_signatures` already written).
fn update_kinds(
    tx: &Transaction<'_>,
    run_id: u64,
    before: &RunRows,
    after: &RunRows,
) -> Result<()> {
    let run = run_id as i64;
    let mut add = tx.prepare_cached(
        "INSERT INTO signature_kinds (signature, level, source, runs, lines, last_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (signature, level, source) DO UPDATE
         SET runs = runs + excluded.runs, lines = lines + excluded.lines,
             last_run = MAX(last_run, excluded.last_run)",
    )?;
    for (&(sig, level, source), &lines) in after {
        let (held, was) = match before.get(&(sig, level, source)) {
            Some(&was) => (0, was),
            None => (1, 0),
        };
        if held == 0 && lines == was {
            continue;
        }
        add.execute(params![sig, level, source, held, lines - was, run])?;
    }
    let mut lose = tx.prepare_cached(
        "UPDATE signature_kinds SET runs = runs - 1, lines = lines - ?4
         WHERE signature = ?1 AND level = ?2 AND source = ?3
         RETURNING runs, last_run",
    )?;
    let mut newest = tx.prepare_cached(
        "SELECT run_id FROM run_signatures
         WHERE signature = ?1 AND level = ?2 AND source = ?3
         ORDER BY run_id DESC LIMIT 1",
    )?;
    let mut set_newest = tx.prepare_cached(
        "UPDATE signature_kinds SET last_run = ?4
         WHERE signature = ?1 AND level = ?2 AND source = ?3",
    )?;
    let mut gone = tx.prepare_cached(
        "DELETE FROM signature_kinds WHERE signature = ?1 AND level = ?2 AND source = ?3",
    )?;
    for (&(sig, level, source), &lines) in before {
        if after.contains_key(&(sig, level, source)) {
            continue;
        }
        let left: Option<(i64, i64)> = lose
            .query_row(params![sig, level, source, lines], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match left {
            Some((runs, _)) if runs <= 0 => {
                gone.execute(params![sig, level, source])?;
            }
            Some((_, last)) if last == run => {
                let last: Option<i64> = newest
                    .query_row(params![sig, level, source], |r| r.get(0))
                    .optional()?;
                match last {
                    Some(last) => set_newest.execute(params![sig, level, source, last])?,
                    None => gone.execute(params![sig, level, source])?,
                };
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes a run's counts; returns the templates never seen before.
fn write_run_signatures(
    tx: &Transaction<'_>,
    run_id: u64,
    counts: &RunSignatures,
    known: &dyn Fn(u64) -> bool,
) -> Result<Vec<Shape>> {
    let before = run_rows(tx, run_id)?;
    let mut after = if counts.replace {
        tx.execute(
            "DELETE FROM run_signatures WHERE run_id = ?1",
            [run_id as i64],
        )?;
        RunRows::default()
    } else {
        before.clone()
    };
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO run_signatures (run_id, signature, level, source, lines, first_line)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (run_id, signature, level, source) DO UPDATE
             SET lines = lines + excluded.lines,
                 first_line = MIN(first_line, excluded.first_line)",
        )?;
        for (&(sig, level, source), &(lines, first_line)) in &counts.rows {
            let sig = sig as i64;
            upsert.execute(params![
                run_id as i64,
                sig,
                level,
                source,
                lines as i64,
                first_line as i64
            ])?;
            *after.entry((sig, level, source)).or_insert(0) += lines as i64;
        }
    }
    update_kinds(tx, run_id, &before, &after)?;
    update_seen(tx, run_id, &ids_of(&before), &ids_of(&after))?;
    let mut fresh = Vec::new();
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO signatures (signature, template, grouped_as) VALUES (?1, ?2, ?1)",
    )?;
    for (&sig, template) in &counts.templates {
        if !known(sig) && insert.execute(params![sig as i64, template])? == 1 {
            fresh.push(Shape {
                id: SignatureId(sig),
                template: template.clone(),
            });
        }
    }
    Ok(fresh)
}

/// Keeps `signature_runs` right when the base ids a run holds go from
/// `before` to `after` (its rows in `run_signatures` already written).
fn update_seen(
    tx: &Transaction<'_>,
    run_id: u64,
    before: &FxHashSet<i64>,
    after: &FxHashSet<i64>,
) -> Result<()> {
    let run = run_id as i64;
    let mut gained = tx.prepare_cached(
        "INSERT INTO signature_runs (signature, runs, first_run, last_run) VALUES (?1, 1, ?2, ?2)
         ON CONFLICT (signature) DO UPDATE
         SET runs = runs + 1, first_run = MIN(first_run, ?2), last_run = MAX(last_run, ?2)",
    )?;
    for &sig in after.difference(before) {
        gained.execute([sig, run])?;
    }
    let mut bounds = tx.prepare_cached(
        "SELECT MIN(run_id), MAX(run_id) FROM run_signatures WHERE signature = ?1",
    )?;
    let mut lost =
        tx.prepare_cached("UPDATE signature_runs SET runs = runs - 1, first_run = ?2, last_run = ?3 WHERE signature = ?1")?;
    let mut gone = tx.prepare_cached("DELETE FROM signature_runs WHERE signature = ?1")?;
    for &sig in before.difference(after) {
        let (first, last): (Option<i64>, Option<i64>) =
            bounds.query_row([sig], |r| Ok((r.get(0)?, r.get(1)?)))?;
        match first.zip(last) {
            Some((first, last)) => lost.execute([sig, first, last])?,
            None => gone.execute([sig])?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::runs::tests::record;
    use super::*;
    use crate::signature::signature_of;

    fn counts(replace: bool, lines: &[(u64, &str)]) -> RunSignatures {
        let mut c = RunSignatures::new(replace);
        for &(n, text) in lines {
            c.count(signature_of(text), 3, 0, n, || text);
        }
        c
    }

    #[test]
    fn counts_follow_appends_replacements_and_deletions() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let broken = signature_of("broken packet (size 7)");
        store.put_run(
            &record(5),
            Some(&counts(
                true,
                &[(1, "broken packet (size 7)"), (3, "broken packet (size 9)")],
            )),
        )?;
        store.put_run(
            &record(9),
            Some(&counts(true, &[(4, "broken packet (size 1)")])),
        )?;
        let group = store.signature_group(broken)?.unwrap_or(broken);
        let stats = store.group_stats(group)?;
        assert_eq!(
            stats.map(|s| (s.runs, s.first_run, s.last_run)),
            Some((2, 5, 9))
        );
        // An append adds to the counts and keeps the first line.
        store.put_run(
            &record(5),
            Some(&counts(false, &[(8, "broken packet (size 70)")])),
        )?;
        let rows = store.run_signature_rows(5, &[], &[])?;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].lines, rows[0].first_line), (3, 1));
        // A replacement without it leaves run 9 alone holding it.
        store.put_run(&record(5), Some(&counts(true, &[(1, "all good")])))?;
        let stats = store.group_stats(group)?;
        assert_eq!(
            stats.map(|s| (s.runs, s.first_run, s.last_run)),
            Some((1, 9, 9))
        );
        store.delete_runs(&[9])?;
        assert_eq!(store.group_stats(group)?, None);
        // The id still names its signature.
        assert_eq!(store.signature_group(broken)?, Some(group));
        Ok(())
    }

    /// `signature_kinds` as kept, and as computed from scratch from
    /// `run_signatures`, both sorted.
    type KindRow = (i64, u8, u8, i64, i64, i64);
    fn kinds_kept_and_computed(store: &Store) -> anyhow::Result<(Vec<KindRow>, Vec<KindRow>)> {
        let conn = store.conn()?;
        let read = |sql: &str| -> anyhow::Result<Vec<KindRow>> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        };
        Ok((
            read(
                "SELECT signature, level, source, runs, lines, last_run FROM signature_kinds
                 ORDER BY 1, 2, 3",
            )?,
            read(
                "SELECT signature, level, source, COUNT(*), SUM(lines), MAX(run_id)
                 FROM run_signatures GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            )?,
        ))
    }

    /// The listing over every run, sorted: from the kept sums (no landing
    /// window) and from the runs' rows (a landing window holding every run).
    fn listings(store: &Store) -> anyhow::Result<[Vec<SignatureWindowRow>; 2]> {
        let key = |r: &SignatureWindowRow| (r.group, r.level, r.source);
        let mut kept = store.signature_window_rows(&[], &[], (0, u64::MAX), None)?;
        let mut counted =
            store.signature_window_rows(&[], &[], (0, u64::MAX), Some((i64::MIN, i64::MAX)))?;
        kept.sort_by_key(key);
        counted.sort_by_key(key);
        Ok([kept, counted])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever runs are written, appended to, replaced and deleted, the
        /// sums kept per signature are those of the runs' rows, and the
        /// listing over every run reads the same from either.
        #[test]
        fn kept_sums_match_the_runs_rows(
            ops in proptest::collection::vec(
                (1u64..6, 0u8..3, proptest::collection::vec((0usize..4, 2u8..5, 0u8..2), 0..6)),
                1..24,
            )
        ) {
            let check = || -> anyhow::Result<()> {
                let dir = tempfile::tempdir()?;
                let store = Store::open(dir.path())?;
                let texts = ["disk full on sda", "timeout after 5s", "exit code 3", "broken pipe"];
                for (run, op, lines) in ops {
                    if op == 2 {
                        store.delete_runs(&[run])?;
                    } else {
                        let mut c = RunSignatures::new(op == 0);
                        for (n, (t, level, source)) in lines.into_iter().enumerate() {
                            let text = texts[t];
                            c.count(signature_of(text), level, source, n as u64 + 1, || text);
                        }
                        store.put_run(&record(run), Some(&c))?;
                    }
                    let (kept, computed) = kinds_kept_and_computed(&store)?;
                    anyhow::ensure!(kept == computed, "kept {kept:?}, computed {computed:?}");
                    let [kept, counted] = listings(&store)?;
                    anyhow::ensure!(kept == counted, "listing {kept:?} against {counted:?}");
                }
                Ok(())
            };
            if let Err(e) = check() {
                return Err(proptest::test_runner::TestCaseError::fail(e.to_string()));
            }
        }
    }

    #[test]
    fn an_older_database_gets_its_sums_on_opening() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        {
            let store = Store::open(dir.path())?;
            store.put_run(
                &record(3),
                Some(&counts(true, &[(1, "exit code 3"), (2, "exit code 4")])),
            )?;
            store.put_run(&record(8), Some(&counts(true, &[(5, "exit code 9")])))?;
            // As the release before these sums left it.
            store
                .conn()?
                .execute_batch("DROP TABLE signature_kinds; PRAGMA user_version = 4;")?;
        }
        let store = Store::open(dir.path())?;
        let (kept, computed) = kinds_kept_and_computed(&store)?;
        assert!(!kept.is_empty());
        assert_eq!(kept, computed);
        let [kept, counted] = listings(&store)?;
        assert_eq!(kept, counted);
        Ok(())
    }

    #[test]
    fn a_run_counts_a_bounded_number_of_signatures() {
        let mut c = RunSignatures::new(true);
        // Every line its own message (letters only: nothing is masked).
        let word = |i: usize| -> String {
            (0..4)
                .map(|k| char::from(b'a' + ((i / 26usize.pow(k)) % 26) as u8))
                .collect()
        };
        for i in 0..MAX_RUN_SIGNATURES + 5 {
            let text = format!("failure {}", word(i));
            c.count(signature_of(&text), 3, 0, i as u64 + 1, || &text);
        }
        // An id already counted is still counted past the limit.
        c.count(signature_of("failure aaaa"), 3, 0, 99_999, || {
            "failure aaaa"
        });
        assert_eq!(c.rows.len(), MAX_RUN_SIGNATURES);
        assert_eq!(c.templates.len(), MAX_RUN_SIGNATURES);
        assert_eq!(c.uncounted, 5);
        assert_eq!(c.lines(), MAX_RUN_SIGNATURES as u64 + 1);
    }

    #[test]
    fn the_grouping_is_rebuilt_when_the_store_opens() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let users = ["alice", "bob", "carol", "dave"];
        let lines: Vec<String> = users
            .iter()
            .map(|u| format!("Invalid user {u} from host"))
            .collect();
        let ids: Vec<SignatureId> = lines.iter().map(|l| signature_of(l)).collect();
        let group = {
            let store = Store::open(dir.path())?;
            for (i, l) in lines.iter().enumerate() {
                store.put_run(&record(i as u64 + 1), Some(&counts(true, &[(1, l)])))?;
            }
            let group = store.signature_group(ids[0])?;
            for id in &ids {
                assert_eq!(store.signature_group(*id)?, group);
            }
            group
        };
        let store = Store::open(dir.path())?;
        assert_eq!(store.signature_group(ids[3])?, group);
        let group = group.unwrap_or(ids[0]);
        assert_eq!(
            store.signature_template(group)?.as_deref(),
            Some("Invalid user <*> from host")
        );
        assert_eq!(store.group_stats(group)?.map(|s| s.runs), Some(4));
        Ok(())
    }
}
