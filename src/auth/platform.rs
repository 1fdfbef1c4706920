//! The Sample Platform's own tokens, checked with the platform that minted
//! them: one `GET {platform_url}/api/v1/auth/me` per token, remembered.
//!
//! Asking on every request would slow each one by the platform's answer
//! (about 9 ms) and spend the user's own rate limit there, so answers are
//! remembered, keyed by the token's SHA-256 (never the token): an accepted
//! token for `auth.platform_cache_secs` (so a token revoked on the platform
//! stops working here within that time), a refused one for
//! `auth.platform_negative_cache_secs`. Requests with the same token that
//! arrive while it is being asked about wait for that one call. The memory
//! is bounded ([`MAX_REMEMBERED`]).
//!
//! When the platform cannot answer (refused connection, timeout, 5xx, 429,
//! a redirect, or a body that is not its answer), the token is neither
//! accepted nor refused: [`AuthError::PlatformUnavailable`], a 503 for the
//! client. Nothing is remembered of such a failure, so the next request
//! asks again.
//!
//! The token goes only into the `Authorization` header of that call, to
//! the configured URL: no redirect is followed, no proxy is used, and
//! nothing here logs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::OnceCell;

use super::{AuthError, Caller, Origin};
use crate::config::AuthConfig;
use crate::expiring::ExpiringMap;

/// Tokens remembered at most (accepted and refused together); about 150
/// bytes each.
pub const MAX_REMEMBERED: usize = 100_000;

/// The largest answer read from the platform; `/auth/me` is a few hundred
/// bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the platform said of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// 200, with the token's scopes.
    Accepted { scopes: Vec<String> },
    /// 401 (or 403): not a token it honours.
    Refused,
}

/// Why the platform could not say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("cannot connect")]
    Connect,
    #[error("answered {0}")]
    Status(u16),
    #[error("the answer is not the platform's /api/v1/auth/me")]
    BadAnswer,
    #[error("the request failed")]
    Request,
}

impl Unavailable {
    /// The metric label of the outcome.
    fn label(&self) -> &'static str {
        match self {
            Unavailable::Timeout => "timeout",
            Unavailable::Connect => "connect_error",
            Unavailable::Status(429) => "rate_limited",
            Unavailable::Status(_) => "bad_status",
            Unavailable::BadAnswer => "bad_answer",
            Unavailable::Request => "request_error",
        }
    }
}

/// The body of a 200 from `/api/v1/auth/me`: only the scopes matter here.
#[derive(Deserialize)]
struct Me {
    scopes: Vec<String>,
}

type Flight = Arc<OnceCell<Result<Verdict, Unavailable>>>;

#[derive(Default)]
struct Memory {
    /// Token hash → verdict, until it must be asked again.
    remembered: ExpiringMap<[u8; 32], Verdict>,
    /// Token hash → the call being made about it.
    in_flight: HashMap<[u8; 32], Flight>,
}

/// The platform's token check, with what it remembers.
pub struct Platform {
    me_url: String,
    client: platform_http::Client,
    accepted_for: Duration,
    refused_for: Duration,
    memory: Mutex<Memory>,
}

impl Platform {
    /// `None` when no platform is configured. The URL was checked by
    /// `Config::validate`.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Option<Platform>> {
        let Some(base) = &config.platform_url else {
            return Ok(None);
        };
        let client = platform_http::Client::builder()
            .timeout(Duration::from_secs(config.platform_timeout_secs))
            .connect_timeout(Duration::from_secs(config.platform_timeout_secs))
            .redirect(platform_http::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("runlogd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Some(Platform {
            me_url: format!("{}/api/v1/auth/me", base.trim_end_matches('/')),
            client,
            accepted_for: Duration::from_secs(config.platform_cache_secs),
            refused_for: Duration::from_secs(config.platform_negative_cache_secs),
            memory: Mutex::new(Memory::default()),
        }))
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        // A panic while the lock was held left the maps whole (every
        // change is one insert or remove): keep using them.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the platform said of the token whose SHA-256 is `key`, if that
    /// is still remembered.
    pub fn remembered(&self, key: [u8; 32]) -> Option<Result<Caller, AuthError>> {
        let verdict = self.remembered_verdict(&self.memory(), key)?;
        Some(caller(verdict, key))
    }

    fn remembered_verdict(&self, memory: &Memory, key: [u8; 32]) -> Option<Verdict> {
        let verdict = memory.remembered.get_live(&key, Instant::now())?;
        crate::metrics::platform_auth_remembered();
        Some(verdict.clone())
    }

    /// The caller `token` (whose SHA-256 is `key`) is, as the platform
    /// says: from memory, or from the call about it (made by the first
    /// request that needs it, awaited by the others).
    pub async fn check(&self, token: &str, key: [u8; 32]) -> Result<Caller, AuthError> {
        let flight = {
            let mut memory = self.memory();
            if let Some(verdict) = self.remembered_verdict(&memory, key) {
                return caller(verdict, key);
            }
            memory.in_flight.entry(key).or_default().clone()
        };
        let answer = flight.get_or_init(|| self.ask(token)).await.clone();
        {
            let mut memory = self.memory();
            // The first request back from the call records its answer
            // and lands the flight; later ones find it gone.
            if memory
                .in_flight
                .get(&key)
                .is_some_and(|f| Arc::ptr_eq(f, &flight))
            {
                memory.in_flight.remove(&key);
                if let Ok(verdict) = &answer {
                    let now = Instant::now();
                    let hold = match verdict {
                        Verdict::Accepted { .. } => self.accepted_for,
                        Verdict::Refused => self.refused_for,
                    };
                    memory.remembered.insert_bounded(
                        key,
                        now + hold,
                        verdict.clone(),
                        MAX_REMEMBERED,
                        now,
                    );
                }
            }
        }
        match answer {
            Ok(verdict) => caller(verdict, key),
            Err(why) => Err(AuthError::PlatformUnavailable(why)),
        }
    }

    /// One call to the platform.
    async fn ask(&self, token: &str) -> Result<Verdict, Unavailable> {
        let outcome = self.call(token).await;
        let label = match &outcome {
            Ok(Verdict::Accepted { .. }) => "accepted",
            Ok(Verdict::Refused) => "refused",
            Err(why) => why.label(),
        };
        crate::metrics::platform_auth_call(label);
        if let Err(why) = &outcome {
            tracing::warn!(url = %self.me_url, error = %why, "the platform could not check a token");
        }
        outcome
    }

    async fn call(&self, token: &str) -> Result<Verdict, Unavailable> {
        let mut response = self
            .client
            .get(&self.me_url)
            .bearer_auth(token)
            .header(platform_http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| classify(&e))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Ok(Verdict::Refused),
            other => return Err(Unavailable::Status(other)),
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Unavailable::BadAnswer);
            }
            body.extend_from_slice(&chunk);
        }
        let me: Me = serde_json::from_slice(&body).map_err(|_| Unavailable::BadAnswer)?;
        Ok(Verdict::Accepted { scopes: me.scopes })
    }
}

fn classify(e: &platform_http::Error) -> Unavailable {
    if e.is_timeout() {
        Unavailable::Timeout
    } else if e.is_connect() {
        Unavailable::Connect
    } else {
        Unavailable::Request
    }
}

fn caller(verdict: Verdict, key: [u8; 32]) -> Result<Caller, AuthError> {
    match verdict {
        Verdict::Accepted { scopes } => Ok(Caller {
            key,
            scopes,
            origin: Origin::Platform,
        }),
        Verdict::Refused => Err(AuthError::RefusedByPlatform),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_platform_gets_a_client_with_tls() -> anyhow::Result<()> {
        let config = AuthConfig {
            platform_url: Some("https://platform.example.org/".into()),
            ..AuthConfig::default()
        };
        let platform = Platform::from_config(&config)?;
        assert_eq!(
            platform.map(|p| p.me_url),
            Some("https://platform.example.org/api/v1/auth/me".to_owned())
        );
        assert!(Platform::from_config(&AuthConfig::default())?.is_none());
        Ok(())
    }

    #[test]
    fn memory_stays_bounded_and_keeps_live_answers_first() {
        let remember = |m: &mut Memory, k: [u8; 32], until: Instant, now: Instant| {
            m.remembered
                .insert_bounded(k, until, Verdict::Refused, MAX_REMEMBERED, now)
        };
        let now = Instant::now();
        let key = |i: usize| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_be_bytes());
            k
        };
        let live = now + Duration::from_secs(60);
        // Half of them expired.
        let mut m = Memory::default();
        for i in 0..MAX_REMEMBERED {
            remember(&mut m, key(i), if i % 2 == 0 { now } else { live }, now);
        }
        assert_eq!(m.remembered.len(), MAX_REMEMBERED);
        remember(&mut m, key(MAX_REMEMBERED), live, now);
        assert_eq!(
            m.remembered.len(),
            MAX_REMEMBERED / 2 + 1,
            "expired ones went first"
        );
        assert!(m.remembered.is_live(&key(1), now));
        // All live: one goes, the size holds.
        let mut m = Memory::default();
        for i in 0..=MAX_REMEMBERED {
            remember(&mut m, key(i), live, now);
        }
        assert_eq!(m.remembered.len(), MAX_REMEMBERED);
        assert!(m.remembered.is_live(&key(MAX_REMEMBERED), now));
    }
}
