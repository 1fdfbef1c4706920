//! Per-token rate limiting (GCRA, from `governor`) and the `X-RateLimit-*`
//! numbers reported on every authenticated response.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed = RateLimiter<
    [u8; 32],
    DefaultKeyedStateStore<[u8; 32]>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The window the limit is expressed in.
pub const WINDOW: Duration = Duration::from_secs(60);

pub struct TokenLimiter {
    limiter: Keyed,
    per_window: u32,
}

/// What the client is told about its allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    /// Unix time (seconds) by which the full allowance is back.
    pub reset: u64,
}

/// A refused request: when to retry, and the allowance (nothing remaining).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: u64,
    pub allowance: Allowance,
}

impl TokenLimiter {
    pub fn per_minute(requests: u32) -> TokenLimiter {
        let per_window = requests.max(1);
        let n = NonZeroU32::new(per_window).unwrap_or(NonZeroU32::MIN);
        TokenLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(n))
                .with_middleware::<StateInformationMiddleware>(),
            per_window,
        }
    }

    /// Counts one request for the token whose SHA-256 is `token`.
    pub fn check(&self, token: [u8; 32]) -> Result<Allowance, Refusal> {
        let per_token = WINDOW / self.per_window;
        match self.limiter.check_key(&token) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = per_token * (self.per_window - remaining);
                Ok(self.allowance(remaining, refill))
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let retry_after = ceil_secs(wait).max(1);
                let refill = wait + per_token * (self.per_window - 1);
                Err(Refusal {
                    retry_after,
                    allowance: self.allowance(0, refill),
                })
            }
        }
    }

    fn allowance(&self, remaining: u32, refill: Duration) -> Allowance {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Allowance {
            limit: self.per_window,
            remaining,
            reset: ceil_secs(now + refill),
        }
    }

    /// Forgets tokens that have their whole allowance back (bounded memory).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_per_token_then_refuses() {
        let l = TokenLimiter::per_minute(3);
        let a = l.check([1; 32]);
        assert_eq!(a.map(|a| (a.limit, a.remaining)), Ok((3, 2)));
        assert_eq!(l.check([1; 32]).map(|a| a.remaining), Ok(1));
        assert_eq!(l.check([1; 32]).map(|a| a.remaining), Ok(0));
        let refused = l.check([1; 32]);
        assert!(matches!(refused, Err(r) if r.retry_after >= 1 && r.retry_after <= 20));
        // Another token has its own allowance.
        assert_eq!(l.check([2; 32]).map(|a| a.remaining), Ok(2));
    }
}
