//! A map of keys to the instant each one comes due: the one structure under
//! the ingest's pending tails (runs to look at again once their file is
//! quiet) and the bucket's miss cache (runs known to be missing until their
//! miss expires).
//!
//! It imports nothing from the crate, so any part may use it, and it holds
//! no lock: each user keeps it behind its own mutex, with its own answer to
//! a poisoned lock.
//!
//! One boundary throughout: a key whose instant is `at` is *due* (expired)
//! from `at` on, and *live* strictly before it.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ExpiringMap<K> {
    at: HashMap<K, Instant>,
}

impl<K> Default for ExpiringMap<K> {
    fn default() -> Self {
        ExpiringMap { at: HashMap::new() }
    }
}

impl<K: Eq + Hash + Clone> ExpiringMap<K> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Sets `key` to come due at `at`, replacing any instant it had.
    pub fn insert(&mut self, key: K, at: Instant) {
        self.at.insert(key, at);
    }

    pub fn remove(&mut self, key: &K) {
        self.at.remove(key);
    }

    /// Whether `key` is here and not yet due at `now`.
    pub fn is_live(&self, key: &K, now: Instant) -> bool {
        self.at.get(key).is_some_and(|at| *at > now)
    }

    /// Removes and returns the keys due by `now`, in no particular order.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let due: Vec<K> = self
            .at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &due {
            self.at.remove(key);
        }
        due
    }

    /// When holding more than `above` keys, drops those due by `now`; live
    /// keys are never dropped, so this bounds only what has expired.
    pub fn tidy(&mut self, above: usize, now: Instant) {
        if self.at.len() > above {
            self.at.retain(|_, at| *at > now);
        }
    }

    /// Keeps only the keys for which `keep` is true, due or not.
    pub fn retain_keys(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.at.retain(|key, _| keep(key));
    }

    /// The earliest instant any key comes due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.at.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_key_is_live_before_its_instant_and_due_from_it() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new();
        map.insert(1u64, t0 + Duration::from_secs(2));
        assert!(map.is_live(&1, t0));
        assert!(map.is_live(&1, t0 + Duration::from_secs(1)));
        assert!(!map.is_live(&1, t0 + Duration::from_secs(2)));
        assert!(!map.is_live(&2, t0));
        assert_eq!(map.take_due(t0 + Duration::from_secs(1)), Vec::<u64>::new());
        assert_eq!(map.take_due(t0 + Duration::from_secs(2)), vec![1]);
        assert!(map.is_empty());
    }

    #[test]
    fn insert_replaces_and_next_due_is_the_earliest() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new();
        assert_eq!(map.next_due(), None);
        map.insert(1u64, t0 + Duration::from_secs(5));
        map.insert(2, t0 + Duration::from_secs(3));
        assert_eq!(map.next_due(), Some(t0 + Duration::from_secs(3)));
        map.insert(1, t0 + Duration::from_secs(1));
        assert_eq!(map.len(), 2);
        assert_eq!(map.next_due(), Some(t0 + Duration::from_secs(1)));
        map.remove(&1);
        map.remove(&7);
        assert_eq!(map.next_due(), Some(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn tidy_drops_only_due_keys_and_only_above_its_bound() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new();
        map.insert(1u64, t0);
        map.insert(2, t0 + Duration::from_secs(1));
        map.insert(3, t0 + Duration::from_secs(9));
        map.tidy(3, t0 + Duration::from_secs(5));
        assert_eq!(map.len(), 3);
        map.tidy(2, t0 + Duration::from_secs(5));
        assert_eq!(map.len(), 1);
        assert!(map.is_live(&3, t0 + Duration::from_secs(5)));
        map.tidy(0, t0 + Duration::from_secs(5));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn retain_keys_ignores_instants() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new();
        map.insert(1u64, t0);
        map.insert(2, t0 + Duration::from_secs(9));
        map.insert(3, t0 + Duration::from_secs(9));
        map.retain_keys(|key| *key != 2);
        let mut due = map.take_due(t0 + Duration::from_secs(9));
        due.sort_unstable();
        assert_eq!(due, vec![1, 3]);
    }
}
