//! Where a request's synchronous work runs (index reads, SQLite queries).
//!
//! Work bounded by the page asked for (a page without filters, the listing,
//! a run's record) runs on the async thread that took the request: it takes
//! tens of microseconds, less than handing it to another thread and back
//! costs on a loaded machine. Work bounded by the data searched (filters,
//! `contains`, search across runs) may read many blocks, and goes to the
//! blocking pool so that it never holds up other requests' I/O.
//!
//! Measured with `benches/load.sh` on 2 cores: every request on the
//! blocking pool spent about 45% of the daemon's CPU in the kernel's
//! scheduler on the listing, where it now answers 2.4 times as many requests.

use super::error::ApiError;

/// What bounds a request's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The page size: runs in place.
    Page,
    /// The data searched: runs on the blocking pool.
    Search,
}

/// Runs `work` where its [`Bound`] says.
pub async fn run<T: Send + 'static>(
    bound: Bound,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    match bound {
        Bound::Page => Ok(work()),
        Bound::Search => tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal),
    }
}
