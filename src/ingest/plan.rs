//! Deciding what a change to a run's file asks of the index: nothing, a new
//! stat, the new lines only, the whole run again, or its removal.
//!
//! [`plan`] is a pure function of what is known (the file's stat now, the
//! store's record of what was indexed, the index's own count of the run's
//! lines); the two questions that need the file's bytes are asked through
//! [`Probe`], and only when the answer matters, so an unchanged run costs a
//! `stat` and no read. The cases, in the order they are decided:
//!
//! * no file: the run leaves the index (or was never there);
//! * no record: a new run, indexed from the start under a new generation;
//! * the index disagrees with the record (a crash came between the index
//!   commit and the store write, or the index was rebuilt), or the record
//!   is unreadable: the run is indexed again; when the file still starts
//!   with what was indexed, its lines are the ones cursors were issued for,
//!   so the generation is kept and those cursors stay valid;
//! * same size, mtime and path, all bytes indexed: unchanged;
//! * the indexed bytes are no longer the file's prefix: replaced, so a new
//!   generation makes old cursors fail loudly;
//! * nothing new past the indexed bytes: only the stat changed (touched);
//! * the last indexed line had no newline yet: it is about to change, so the
//!   run is indexed again under the same generation (the content only grew);
//! * otherwise the file grew: parse and add only the new lines.

use std::path::PathBuf;

use crate::index::RunMeta;
use crate::parse::Section;
use crate::store::RunRecord;

/// A run's file as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
}

/// How a run will be brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Unchanged,
    /// Only the stat changed (e.g. touched); remember the new one.
    Restat(RunRecord),
    /// Parse from where `from` ends and add the new lines.
    Append {
        from: RunRecord,
        section: Section,
    },
    /// Index the run from the start; `None`: under a new generation.
    Full {
        generation: Option<u64>,
    },
    /// The file is gone: the run leaves the index.
    Remove,
    /// No file, and nothing indexed for it.
    Missing,
}

/// What [`plan`] may need to read from the file.
pub trait Probe {
    /// Whether the file's first `len` bytes still digest to `fingerprint`.
    fn starts_with(&mut self, len: u64, fingerprint: &[u8]) -> std::io::Result<bool>;
    /// Whether the file's first `len` bytes end with a newline (true for 0).
    fn ends_line_at(&mut self, len: u64) -> std::io::Result<bool>;
}

/// Decides how to bring a run up to date; see the module documentation.
/// `indexed` is what the index holds for the run; it only matters when there
/// is a record or no file (a file without a record is indexed from the start
/// whatever the index holds), so a caller may leave it `None` otherwise.
pub fn plan(
    run_id: u64,
    file: Option<&FileStat>,
    record: Option<&RunRecord>,
    indexed: Option<RunMeta>,
    probe: &mut impl Probe,
) -> std::io::Result<Plan> {
    let Some(file) = file else {
        return Ok(if record.is_some() || indexed.is_some() {
            Plan::Remove
        } else {
            Plan::Missing
        });
    };
    let Some(record) = record else {
        return Ok(Plan::Full { generation: None });
    };
    let expected = RunMeta {
        generation: record.generation,
        lines: record.lines_indexed,
    };
    let section = Section::from_u8(record.parse_section);
    if indexed != Some(expected) || section.is_none() {
        if section.is_none() {
            tracing::error!(
                run_id,
                section = record.parse_section,
                "the stored parse state is unknown to this build; re-indexing run"
            );
        } else {
            tracing::info!(run_id, "index and state disagree; re-indexing run");
        }
        let kept = prefix_kept(file, record, probe)?;
        return Ok(Plan::Full {
            generation: kept.then_some(record.generation),
        });
    }
    if file.size == record.size
        && file.mtime_ns == record.mtime_ns
        && file.path == record.path
        && record.bytes_indexed == file.size
    {
        return Ok(Plan::Unchanged);
    }
    if !prefix_kept(file, record, probe)? {
        return Ok(Plan::Full { generation: None });
    }
    if file.size == record.bytes_indexed {
        return Ok(Plan::Restat(RunRecord {
            size: file.size,
            mtime_ns: file.mtime_ns,
            path: file.path.clone(),
            ..record.clone()
        }));
    }
    if !probe.ends_line_at(record.bytes_indexed)? {
        return Ok(Plan::Full {
            generation: Some(record.generation),
        });
    }
    Ok(Plan::Append {
        from: record.clone(),
        section: section.unwrap_or_default(),
    })
}

/// Whether the file still starts with the bytes the record says were indexed.
fn prefix_kept(
    file: &FileStat,
    record: &RunRecord,
    probe: &mut impl Probe,
) -> std::io::Result<bool> {
    Ok(file.size >= record.bytes_indexed
        && probe.starts_with(record.bytes_indexed, &record.fingerprint)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from fixed facts, and counts the reads a real file would cost.
    struct Facts {
        prefix_kept: bool,
        ends_line: bool,
        reads: u32,
    }

    impl Probe for Facts {
        fn starts_with(&mut self, _: u64, _: &[u8]) -> std::io::Result<bool> {
            self.reads += 1;
            Ok(self.prefix_kept)
        }
        fn ends_line_at(&mut self, _: u64) -> std::io::Result<bool> {
            self.reads += 1;
            Ok(self.ends_line)
        }
    }

    fn facts(prefix_kept: bool, ends_line: bool) -> Facts {
        Facts {
            prefix_kept,
            ends_line,
            reads: 0,
        }
    }

    fn record() -> RunRecord {
        RunRecord {
            run_id: 7,
            path: PathBuf::from("/r/LogFiles/7.txt"),
            size: 100,
            mtime_ns: 1_000,
            fingerprint: vec![1, 2, 3],
            bytes_indexed: 100,
            lines_indexed: 10,
            generation: 4,
            parse_section: Section::default().as_u8(),
            levels: [10, 0, 0, 0, 0],
        }
    }

    fn indexed(r: &RunRecord) -> Option<RunMeta> {
        Some(RunMeta {
            generation: r.generation,
            lines: r.lines_indexed,
        })
    }

    fn stat(size: u64, mtime_ns: i64) -> FileStat {
        FileStat {
            path: PathBuf::from("/r/LogFiles/7.txt"),
            size,
            mtime_ns,
        }
    }

    #[test]
    fn no_file_removes_what_is_indexed_or_known() -> std::io::Result<()> {
        let r = record();
        let mut f = facts(true, true);
        assert_eq!(plan(7, None, Some(&r), indexed(&r), &mut f)?, Plan::Remove);
        assert_eq!(plan(7, None, Some(&r), None, &mut f)?, Plan::Remove);
        assert_eq!(plan(7, None, None, indexed(&r), &mut f)?, Plan::Remove);
        assert_eq!(plan(7, None, None, None, &mut f)?, Plan::Missing);
        assert_eq!(f.reads, 0);
        Ok(())
    }

    #[test]
    fn a_new_run_gets_a_new_generation() -> std::io::Result<()> {
        let mut f = facts(true, true);
        let p = plan(7, Some(&stat(10, 1)), None, None, &mut f)?;
        assert_eq!(p, Plan::Full { generation: None });
        Ok(())
    }

    #[test]
    fn an_unchanged_run_costs_no_read() -> std::io::Result<()> {
        let r = record();
        let mut f = facts(false, false);
        let p = plan(7, Some(&stat(100, 1_000)), Some(&r), indexed(&r), &mut f)?;
        assert_eq!(p, Plan::Unchanged);
        assert_eq!(f.reads, 0);
        Ok(())
    }

    #[test]
    fn a_file_read_from_another_folder_is_not_unchanged() -> std::io::Result<()> {
        let r = record();
        let mut moved = stat(100, 1_000);
        moved.path = PathBuf::from("/data/gcs-mirror/b/7.txt");
        let p = plan(
            7,
            Some(&moved),
            Some(&r),
            indexed(&r),
            &mut facts(true, true),
        )?;
        assert_eq!(
            p,
            Plan::Restat(RunRecord {
                path: moved.path.clone(),
                ..r
            })
        );
        Ok(())
    }

    #[test]
    fn a_grown_file_is_appended_from_its_record() -> std::io::Result<()> {
        let r = record();
        let p = plan(
            7,
            Some(&stat(150, 2_000)),
            Some(&r),
            indexed(&r),
            &mut facts(true, true),
        )?;
        assert_eq!(
            p,
            Plan::Append {
                from: r,
                section: Section::default()
            }
        );
        Ok(())
    }

    #[test]
    fn a_grown_file_whose_last_line_was_open_is_indexed_again_in_its_generation(
    ) -> std::io::Result<()> {
        let r = record();
        let p = plan(
            7,
            Some(&stat(150, 2_000)),
            Some(&r),
            indexed(&r),
            &mut facts(true, false),
        )?;
        assert_eq!(
            p,
            Plan::Full {
                generation: Some(4)
            }
        );
        Ok(())
    }

    #[test]
    fn a_replaced_file_gets_a_new_generation() -> std::io::Result<()> {
        let r = record();
        // Same size, other bytes (same inode, rewritten in place).
        let p = plan(
            7,
            Some(&stat(100, 2_000)),
            Some(&r),
            indexed(&r),
            &mut facts(false, true),
        )?;
        assert_eq!(p, Plan::Full { generation: None });
        // Shorter than what was indexed: replaced, without reading.
        let mut f = facts(true, true);
        let p = plan(7, Some(&stat(50, 2_000)), Some(&r), indexed(&r), &mut f)?;
        assert_eq!(p, Plan::Full { generation: None });
        assert_eq!(f.reads, 0);
        Ok(())
    }

    #[test]
    fn a_touched_file_only_updates_its_stat() -> std::io::Result<()> {
        let r = record();
        let p = plan(
            7,
            Some(&stat(100, 2_000)),
            Some(&r),
            indexed(&r),
            &mut facts(true, true),
        )?;
        assert_eq!(
            p,
            Plan::Restat(RunRecord {
                mtime_ns: 2_000,
                ..r
            })
        );
        Ok(())
    }

    #[test]
    fn index_and_record_disagreeing_reindexes_keeping_the_generation_if_the_prefix_stayed(
    ) -> std::io::Result<()> {
        let r = record();
        let behind = Some(RunMeta {
            generation: 4,
            lines: 9,
        });
        for indexed in [behind, None] {
            let p = plan(
                7,
                Some(&stat(100, 1_000)),
                Some(&r),
                indexed,
                &mut facts(true, true),
            )?;
            assert_eq!(
                p,
                Plan::Full {
                    generation: Some(4)
                }
            );
            let p = plan(
                7,
                Some(&stat(100, 1_000)),
                Some(&r),
                indexed,
                &mut facts(false, true),
            )?;
            assert_eq!(p, Plan::Full { generation: None });
        }
        Ok(())
    }

    #[test]
    fn an_unknown_stored_parse_state_is_indexed_again() -> std::io::Result<()> {
        let r = RunRecord {
            parse_section: 250,
            ..record()
        };
        // Even with the stat unchanged: the record cannot be trusted.
        let p = plan(
            7,
            Some(&stat(100, 1_000)),
            Some(&r),
            indexed(&r),
            &mut facts(true, true),
        )?;
        assert_eq!(
            p,
            Plan::Full {
                generation: Some(4)
            }
        );
        Ok(())
    }
}
