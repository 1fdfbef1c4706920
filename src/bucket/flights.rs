//! Shared first fetches: concurrent requests for one run not indexed yet
//! wait on one bucket lookup and download instead of starting their own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OnceCell;

use super::SyncError;

/// What a fetch answers: found and indexed, or absent from the bucket.
pub type Fetched = Result<bool, Arc<SyncError>>;

type Flight = Arc<OnceCell<Fetched>>;

#[derive(Default)]
pub struct Flights(Mutex<HashMap<u64, Flight>>);

impl Flights {
    /// Runs `fetch` for `run_id`, unless a fetch for it is in flight: then
    /// waits for that one and answers what it answers.
    pub async fn share<F, Fut>(&self, run_id: u64, fetch: F) -> Fetched
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Fetched>,
    {
        let flight = self.map().entry(run_id).or_default().clone();
        let result = flight.get_or_init(fetch).await.clone();
        // The first to finish retires the flight; a later request fetches anew.
        let mut flights = self.map();
        if flights
            .get(&run_id)
            .is_some_and(|f| Arc::ptr_eq(f, &flight))
        {
            flights.remove(&run_id);
        }
        result
    }

    /// Each change is one insert or remove: a poisoned lock still holds a
    /// consistent map.
    fn map(&self) -> MutexGuard<'_, HashMap<u64, Flight>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_fetches_of_one_run_share_one() {
        let flights = Flights::default();
        let calls = AtomicU32::new(0);
        let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            let mut gate = gate_rx.clone();
            let _ = gate.wait_for(|open| *open).await;
            Ok(true)
        };
        let open = async {
            // Both fetches are waiting on the gate by now.
            tokio::task::yield_now().await;
            let _ = gate_tx.send(true);
        };
        let (a, b, ()) = tokio::join!(flights.share(7, fetch), flights.share(7, fetch), open);
        assert!(matches!(a, Ok(true)) && matches!(b, Ok(true)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Finished flights are retired: the next request fetches again.
        let c = flights.share(7, fetch).await;
        assert!(matches!(c, Ok(true)));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(flights.map().is_empty());
    }
}
