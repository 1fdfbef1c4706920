//! The `meta` table's small values kept per data directory: text such as
//! the index layout the index was written with, and secrets made once and
//! kept, such as the cursor key. (Its `generation` counter is handed out by
//! [`Store::next_generation`], beside the runs that carry it.)

use rusqlite::{params, OptionalExtension};

use super::{Result, Store};

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
