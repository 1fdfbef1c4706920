//! The `gcs_objects` table: what runlogd last saw of each run's object in
//! the bucket, and where its downloaded copy lives.

use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::{unix_now, Result, Store};

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

impl Store {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
