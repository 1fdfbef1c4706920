//! The `tokens` table: API tokens by the hash of their secret, with their
//! scopes, expiry and revocation (never the tokens themselves).

use rusqlite::{params, OptionalExtension};

use super::{unix_now, Result, Store};

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

impl Store {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
