//! Runs found neither in `LogFiles/` nor in the bucket, remembered for a
//! while, so that requests for a run that does not exist do not each cost a
//! bucket request. Each miss is an entry of an [`ExpiringMap`] that expires
//! a TTL after it was found.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::expiring::ExpiringMap;

/// Past this many entries, expired ones are dropped on the next look.
const TIDY_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct MissCache {
    ttl: Duration,
    until: Mutex<ExpiringMap<u64>>,
}

impl MissCache {
    pub fn new(ttl: Duration) -> MissCache {
        MissCache {
            ttl,
            until: Mutex::default(),
        }
    }

    /// The bucket has no object for `run_id` as of `now`.
    pub fn remember(&self, run_id: u64, now: Instant) {
        self.map().insert(run_id, now + self.ttl);
    }

    /// Whether `run_id` was found missing less than the TTL before `now`.
    pub fn is_missing(&self, run_id: u64, now: Instant) -> bool {
        let mut misses = self.map();
        misses.tidy(TIDY_ABOVE, now);
        misses.is_live(&run_id, now)
    }

    /// Forgets the runs a listing found: they exist now.
    pub fn forget_found(&self, found: impl Fn(u64) -> bool) {
        self.map().retain_keys(|id| !found(*id));
    }

    /// Each change is one insert or a retain, so a poisoned lock still
    /// holds a consistent map.
    fn map(&self) -> MutexGuard<'_, ExpiringMap<u64>> {
        self.until.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_miss_stands_for_its_ttl_and_not_after() {
        let misses = MissCache::new(Duration::from_secs(30));
        let t0 = Instant::now();
        misses.remember(5, t0);
        assert!(misses.is_missing(5, t0));
        assert!(misses.is_missing(5, t0 + Duration::from_secs(29)));
        assert!(!misses.is_missing(5, t0 + Duration::from_secs(30)));
        assert!(!misses.is_missing(6, t0));
    }

    #[test]
    fn a_listing_that_finds_the_run_ends_the_miss() {
        let misses = MissCache::new(Duration::from_secs(30));
        let t0 = Instant::now();
        misses.remember(5, t0);
        misses.remember(6, t0);
        misses.forget_found(|id| id == 5);
        assert!(!misses.is_missing(5, t0));
        assert!(misses.is_missing(6, t0));
    }
}
