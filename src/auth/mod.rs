//! API tokens: minting, hashing, checking a bearer token, and scopes.
//!
//! A token is `spci_` followed by 32 random bytes in URL-safe base64. The
//! store keeps only its SHA-256, so a leaked database does not leak tokens,
//! and a token is shown exactly once, when it is created.
//!
//! Checking tells its reasons apart ([`AuthError`]) for the operator's log;
//! the client is told only that the token was refused.
//!
//! With a Sample Platform configured, a token runlogd does not know itself
//! is asked about there ([`platform`]): the platform's users keep their
//! tokens.

pub mod platform;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::store::{unix_now, Store, StoreError, TokenRecord};

pub const TOKEN_PREFIX: &str = "spci_";

/// The scope the run-log endpoints require.
pub const SCOPE_SYSTEM_READ: &str = "system:read";

/// Every scope the platform defines; a token may carry any of them.
pub const SCOPES: [&str; 7] = [
    "runs:read",
    "runs:write",
    "results:read",
    "baselines:write",
    "system:read",
    "system:write",
    "tokens:manage",
];

pub const MIN_DAYS: u32 = 1;
pub const MAX_DAYS: u32 = 30;
pub const DEFAULT_DAYS: u32 = 7;

/// Why a token was refused. For the operator's debug log only: every one of
/// these but `Store` reaches the client as the same 401 (`api::error`), so
/// that an old token's holder cannot learn that it once was real. No
/// variant holds the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("the Authorization header is not a bearer token")]
    NotBearer,
    #[error("invalid bearer token")]
    Invalid,
    #[error("the bearer token has expired")]
    Expired,
    #[error("the bearer token has been revoked")]
    Revoked,
    #[error("the platform refused the bearer token")]
    RefusedByPlatform,
    /// The platform could not say (down, slow, overloaded, or an answer
    /// that is not its own): neither accepted nor refused.
    #[error("the platform could not check the bearer token: {0}")]
    PlatformUnavailable(platform::Unavailable),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenRequestError {
    #[error("unknown scope {0:?}; known scopes: {known}", known = SCOPES.join(", "))]
    UnknownScope(String),
    #[error("a token needs at least one scope")]
    NoScopes,
    #[error("token lifetime must be {MIN_DAYS} to {MAX_DAYS} days, not {0}")]
    BadLifetime(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who is calling, once the token has been checked.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's SHA-256: what rate limits count by, whoever minted it.
    pub key: [u8; 32],
    pub scopes: Vec<String>,
    pub origin: Origin,
}

/// Who minted a caller's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// runlogd (`runlogd token create`), with the token's id.
    Local { token_id: i64 },
    /// The Sample Platform, which vouched for it.
    Platform,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn mint() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Creates a token and returns its id and the token itself (shown once).
pub fn create_token(
    store: &Store,
    scopes: &[String],
    days: u32,
    name: &str,
) -> Result<(i64, String), TokenRequestError> {
    if scopes.is_empty() {
        return Err(TokenRequestError::NoScopes);
    }
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(TokenRequestError::UnknownScope(bad.clone()));
    }
    if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
        return Err(TokenRequestError::BadLifetime(days));
    }
    let token = mint();
    let expires_at = unix_now() + i64::from(days) * 86_400;
    let id = store.insert_token(&hash_token(&token), name, scopes, expires_at)?;
    Ok((id, token))
}

/// Token checks as a service the API holds: runlogd's own tokens in the
/// store, then, when configured, the platform's.
pub struct Tokens {
    store: Arc<Store>,
    platform: Option<platform::Platform>,
}

impl Tokens {
    pub fn new(store: Arc<Store>, platform: Option<platform::Platform>) -> Tokens {
        Tokens { store, platform }
    }

    /// Checks an `Authorization` header value: a token runlogd minted is
    /// decided here and never leaves; any other is asked about on the
    /// platform, when there is one.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let token = bearer(header)?;
        let key = hash_token(token);
        // What the platform said is remembered only of tokens the store did
        // not have, so it is looked at first: a token the platform vouched
        // for costs no database read.
        if let Some(answer) = self.platform.as_ref().and_then(|p| p.remembered(key)) {
            return answer;
        }
        match self.store.token_by_hash(&key)? {
            Some(record) => local_caller(record, key),
            None => match &self.platform {
                Some(platform) => platform.check(token, key).await,
                None => Err(AuthError::Invalid),
            },
        }
    }
}

/// The token of an `Authorization: Bearer` header (the scheme in any case),
/// if it is shaped like one: `spci_` and URL-safe base64, of a sane length.
fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    let body = token.strip_prefix(TOKEN_PREFIX).ok_or(AuthError::Invalid)?;
    let shaped = (1..=MAX_TOKEN_BODY).contains(&body.len())
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !shaped {
        return Err(AuthError::Invalid);
    }
    Ok(token)
}

/// The longest token body accepted (both runlogd's and the platform's are
/// 43 characters); anything longer is not sent anywhere.
const MAX_TOKEN_BODY: usize = 128;

fn local_caller(record: TokenRecord, key: [u8; 32]) -> Result<Caller, AuthError> {
    check_record(&record, unix_now())?;
    Ok(Caller {
        key,
        scopes: record.scopes,
        origin: Origin::Local {
            token_id: record.id,
        },
    })
}

/// Checks an `Authorization` header value against runlogd's own tokens.
pub fn authenticate(store: &Store, header: Option<&str>) -> Result<Caller, AuthError> {
    let token = bearer(header)?;
    let key = hash_token(token);
    let record: TokenRecord = store.token_by_hash(&key)?.ok_or(AuthError::Invalid)?;
    local_caller(record, key)
}

/// Whether a stored token is usable at `now` (Unix seconds): not revoked,
/// and `now` before its expiry (a token is rejected from its `expires_at`
/// second on).
fn check_record(record: &TokenRecord, now: i64) -> Result<(), AuthError> {
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    if now >= record.expires_at {
        return Err(AuthError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_authenticate_and_are_stored_hashed() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let (id, token) = create_token(&store, &["system:read".into()], 7, "ci")?;
        assert!(token.starts_with("spci_"));
        assert!(token.len() >= 5 + 43, "32 random bytes in base64");
        let caller = authenticate(&store, Some(&format!("Bearer {token}")))?;
        assert_eq!(caller.origin, Origin::Local { token_id: id });
        assert_eq!(caller.key, hash_token(&token));
        assert!(caller.has_scope("system:read"));
        assert!(store.token_by_hash(token.as_bytes())?.is_none());
        let (_, other) = create_token(&store, &["runs:read".into()], 1, "")?;
        assert_ne!(token, other);
        Ok(())
    }

    #[test]
    fn bad_headers_and_revoked_tokens_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let (id, token) = create_token(&store, &["system:read".into()], 1, "")?;
        assert!(matches!(
            authenticate(&store, None),
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            authenticate(&store, Some(&format!("Basic {token}"))),
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            authenticate(&store, Some("Bearer spci_nope")),
            Err(AuthError::Invalid)
        ));
        store.revoke_token(id)?;
        assert!(matches!(
            authenticate(&store, Some(&format!("Bearer {token}"))),
            Err(AuthError::Revoked)
        ));
        Ok(())
    }

    #[test]
    fn a_token_is_valid_until_its_expiry_second() {
        let expires_at = 1_800_000_000;
        let record = |revoked_at| TokenRecord {
            id: 1,
            name: String::new(),
            scopes: vec!["system:read".into()],
            created_at: expires_at - 86_400,
            expires_at,
            revoked_at,
        };
        assert!(check_record(&record(None), expires_at - 86_400).is_ok());
        assert!(check_record(&record(None), expires_at - 1).is_ok());
        assert!(matches!(
            check_record(&record(None), expires_at),
            Err(AuthError::Expired)
        ));
        assert!(matches!(
            check_record(&record(None), expires_at + 1),
            Err(AuthError::Expired)
        ));
        assert!(matches!(
            check_record(&record(Some(expires_at - 10)), expires_at - 1),
            Err(AuthError::Revoked)
        ));
    }

    #[test]
    fn token_requests_are_validated() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        assert!(matches!(
            create_token(&store, &["root".into()], 7, ""),
            Err(TokenRequestError::UnknownScope(_))
        ));
        assert!(matches!(
            create_token(&store, &[], 7, ""),
            Err(TokenRequestError::NoScopes)
        ));
        for days in [0, 31] {
            assert!(matches!(
                create_token(&store, &["system:read".into()], days, ""),
                Err(TokenRequestError::BadLifetime(_))
            ));
        }
        Ok(())
    }
}
