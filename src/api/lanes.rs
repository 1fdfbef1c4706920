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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn page_work_stays_on_the_async_thread_and_searches_leave_it() -> anyhow::Result<()> {
        let here = std::thread::current().id();
        let page = run(Bound::Page, || std::thread::current().id()).await?;
        let search = run(Bound::Search, || std::thread::current().id()).await?;
        assert_eq!(page, here);
        assert_ne!(search, here);
        Ok(())
    }
}
