//! A map of keys to the instant each one comes due, with a value each: the
//! one structure under the ingest's pending tails (runs to look at again
//! once their file is quiet), the bucket's miss cache (runs known to be
//! missing until their miss expires) and the platform's remembered token
//! answers (each answer until it must be asked again).
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
pub struct ExpiringMap<K, V = ()> {
    at: HashMap<K, (Instant, V)>,
}

impl<K, V> Default for ExpiringMap<K, V> {
    fn default() -> Self {
        ExpiringMap { at: HashMap::new() }
    }
}

impl<K: Eq + Hash + Clone> ExpiringMap<K> {
    /// Sets `key` to come due at `at`, replacing any instant it had.
    pub fn insert(&mut self, key: K, at: Instant) {
        self.insert_value(key, at, ());
    }
}

impl<K: Eq + Hash + Clone, V> ExpiringMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Sets `key` to `value` until `at`, replacing what it had.
    pub fn insert_value(&mut self, key: K, at: Instant, value: V) {
        self.at.insert(key, (at, value));
    }

    /// [`insert_value`](Self::insert_value), holding at most `max` keys: a
    /// new key in a full map first drops the keys due by `now`, then, if it
    /// is still full, one live key (in no particular order).
    pub fn insert_bounded(&mut self, key: K, at: Instant, value: V, max: usize, now: Instant) {
        if self.at.len() >= max && !self.at.contains_key(&key) {
            self.at.retain(|_, (at, _)| *at > now);
            if self.at.len() >= max {
                if let Some(victim) = self.at.keys().next().cloned() {
                    self.at.remove(&victim);
                }
            }
        }
        self.insert_value(key, at, value);
    }

    pub fn remove(&mut self, key: &K) {
        self.at.remove(key);
    }

    /// The value of `key`, if it is here and not yet due at `now`.
    pub fn get_live(&self, key: &K, now: Instant) -> Option<&V> {
        self.at
            .get(key)
            .and_then(|(at, value)| (*at > now).then_some(value))
    }

    /// Whether `key` is here and not yet due at `now`.
    pub fn is_live(&self, key: &K, now: Instant) -> bool {
        self.get_live(key, now).is_some()
    }

    /// Removes and returns the keys due by `now`, in no particular order.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let due: Vec<K> = self
            .at
            .iter()
            .filter(|(_, (at, _))| *at <= now)
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
            self.at.retain(|_, (at, _)| *at > now);
        }
    }

    /// Keeps only the keys for which `keep` is true, due or not.
    pub fn retain_keys(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.at.retain(|key, _| keep(key));
    }

    /// The earliest instant any key comes due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.at.values().map(|(at, _)| *at).min()
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
    fn values_are_live_until_their_instant_and_the_bound_holds() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(9);
        let mut map: ExpiringMap<u64, &str> = ExpiringMap::default();
        map.insert_value(1, later, "one");
        assert_eq!(map.get_live(&1, t0), Some(&"one"));
        assert_eq!(map.get_live(&1, later), None);
        // Full: due keys go first, the live one stays.
        map.insert_value(2, t0, "due");
        map.insert_bounded(3, later, "three", 2, t0);
        assert_eq!((map.len(), map.get_live(&1, t0)), (2, Some(&"one")));
        // Full of live keys: one goes, the new one is in, the size holds.
        map.insert_bounded(4, later, "four", 2, t0);
        assert_eq!((map.len(), map.get_live(&4, t0)), (2, Some(&"four")));
        // A key already there replaces its value, nothing goes.
        map.insert_bounded(4, later, "FOUR", 2, t0);
        assert_eq!((map.len(), map.get_live(&4, t0)), (2, Some(&"FOUR")));
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
