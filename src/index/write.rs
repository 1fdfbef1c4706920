//! Writing runs into the index: a batch holds the single writer, stages
//! deletions and additions, and makes them visible in one commit.

use std::sync::MutexGuard;

use tantivy::{doc, IndexReader, IndexWriter, TantivyDocument, Term};

use super::schema::{block_key, Fields};
use super::search::RunMeta;
use super::Result;
use crate::parse::ParsedLine;

pub struct WriteBatch<'a> {
    writer: MutexGuard<'a, IndexWriter<TantivyDocument>>,
    reader: &'a IndexReader,
    fields: Fields,
    changed: bool,
}

impl<'a> WriteBatch<'a> {
    pub(super) fn new(
        writer: MutexGuard<'a, IndexWriter<TantivyDocument>>,
        reader: &'a IndexReader,
        fields: Fields,
    ) -> Self {
        WriteBatch {
            writer,
            reader,
            fields,
            changed: false,
        }
    }

    /// Removes every document of a run (lines and run document).
    pub fn delete_run(&mut self, run_id: u64) {
        self.writer
            .delete_term(Term::from_field_u64(self.fields.run_id, run_id));
        self.changed = true;
    }

    /// Adds lines of a run. Lines must be new to the index (after a
    /// `delete_run`, or past the run's last indexed line).
    pub fn add_lines(&mut self, run_id: u64, lines: &[ParsedLine]) -> Result<()> {
        let f = &self.fields;
        for l in lines {
            let mut d = doc!(
                f.run_id => run_id,
                f.block => block_key(run_id, l.line),
                f.line => l.line,
                f.level => l.level.as_u64(),
                f.source => l.source.as_u64(),
                f.text => l.message.as_str(),
                f.grams => l.message.to_lowercase(),
            );
            if let Some(ts) = &l.timestamp {
                d.add_text(f.timestamp, ts);
            }
            self.writer.add_document(d)?;
        }
        self.changed |= !lines.is_empty();
        Ok(())
    }

    /// Records what the index now holds for a run, replacing the previous record.
    pub fn set_run_meta(&mut self, run_id: u64, meta: RunMeta) -> Result<()> {
        let f = &self.fields;
        self.writer
            .delete_term(Term::from_field_u64(f.run_doc, run_id));
        self.writer.add_document(doc!(
            f.run_id => run_id,
            f.run_doc => run_id,
            f.generation => meta.generation,
            f.lines => meta.lines,
        ))?;
        self.changed = true;
        Ok(())
    }

    /// Commits everything staged and makes it visible to new snapshots.
    pub fn commit(mut self) -> Result<()> {
        if self.changed {
            self.writer.commit()?;
            self.reader.reload()?;
            self.changed = false;
        }
        Ok(())
    }
}

impl Drop for WriteBatch<'_> {
    /// A batch dropped without a commit (an error part-way through a file)
    /// must not leave half a run staged for the next batch's commit.
    fn drop(&mut self) {
        if self.changed {
            if let Err(e) = self.writer.rollback() {
                tracing::error!(error = %e, "index rollback failed");
            }
        }
    }
}
