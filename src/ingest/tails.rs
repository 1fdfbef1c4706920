//! Last lines without a newline yet, waiting for their file to go quiet.
//!
//! A writer may still be appending to the last line of a log, so it is only
//! indexed once the file has not changed for a moment (or the writer is known
//! to be done). Until then the run waits here, and the watch loop asks for
//! the runs whose moment has come. The runs and their moments are an
//! [`ExpiringMap`]; what is this module's own is the lock, and what a
//! poisoned one means.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::expiring::ExpiringMap;

#[derive(Debug, Default)]
pub struct PendingTails(Mutex<ExpiringMap<u64>>);

impl PendingTails {
    /// Looks at `run_id` again at `at`.
    pub fn wait(&self, run_id: u64, at: Instant) {
        self.map().insert(run_id, at);
    }

    /// The run's last line is indexed: nothing to wait for.
    pub fn clear(&self, run_id: u64) {
        self.map().remove(&run_id);
    }

    /// The runs due by `now`; they are forgotten here, and come back if
    /// still not quiet.
    pub fn take_due(&self, now: Instant) -> Vec<u64> {
        self.map().take_due(now)
    }

    /// When the next run is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.map().next_due()
    }

    /// Every change to the map is one insert or remove, so a panic elsewhere
    /// while the lock was held cannot have left it half-updated: a poisoned
    /// lock is reported and its map used as it is, never treated as empty
    /// (which would leave last lines unindexed).
    fn map(&self) -> MutexGuard<'_, ExpiringMap<u64>> {
        self.0.lock().unwrap_or_else(|poisoned: PoisonError<_>| {
            tracing::error!(
                "a thread panicked while holding the pending tails; going on with them"
            );
            poisoned.into_inner()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_come_due_once_in_order_of_their_time() {
        let tails = PendingTails::default();
        let now = Instant::now();
        tails.wait(1, now + Duration::from_secs(5));
        tails.wait(2, now);
        tails.wait(3, now + Duration::from_secs(1));
        assert_eq!(tails.next_due(), Some(now));
        assert_eq!(tails.take_due(now), vec![2]);
        assert_eq!(tails.take_due(now), Vec::<u64>::new());
        tails.clear(3);
        let mut later = tails.take_due(now + Duration::from_secs(10));
        later.sort_unstable();
        assert_eq!(later, vec![1]);
        assert_eq!(tails.next_due(), None);
    }

    #[test]
    fn a_poisoned_lock_keeps_its_runs() {
        let tails = std::sync::Arc::new(PendingTails::default());
        let now = Instant::now();
        tails.wait(9, now);
        let held = tails.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.0.lock();
            panic!("poison the lock on purpose");
        })
        .join();
        assert!(tails.0.is_poisoned());
        assert_eq!(tails.take_due(now), vec![9]);
    }
}
