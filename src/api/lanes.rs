//! Where a request's synchronous work runs (index reads, SQLite queries).
//!
//! Work with a small bound (a page without `contains`, a page of a small
//! run, the listing) runs on the async thread that took the request: it
//! takes tens of microseconds, less than handing it to another thread and
//! back costs on a loaded machine. Work bounded only by the data searched
//! (`contains` in a large run, search across runs) may read many blocks,
//! and goes to the blocking pool so that it never holds up other requests.
//!
//! Measured with `benches/load.sh` on 2 cores: every request on the
//! blocking pool spent about 45% of the daemon's CPU in the kernel's
//! scheduler on the listing, where it now answers 2.4 times as many requests.

use super::error::ApiError;

/// What bounds a request's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The page size, or a small run: runs in place.
    Page,
    /// The data searched: runs on the blocking pool.
    Search,
}

/// A run of at most this many lines (about 1.3 MB) is searched in place
/// whatever the filter: even a needle that makes every block a candidate
/// costs about a millisecond there. The platform's runs (about 100 KB)
/// have about 1,300 lines.
pub const SMALL_RUN_LINES: u64 = 16 * 1024;

/// Where a page of one run is read. Without `contains`, every block the
/// page reads holds a line of it (the index knows each block's levels and
/// sources exactly), so the work is bounded by the page; a needle's
/// candidate blocks may not hold it, so only the run's size bounds it.
pub fn for_page(has_needle: bool, run_lines: u64) -> Bound {
    if !has_needle || run_lines <= SMALL_RUN_LINES {
        Bound::Page
    } else {
        Bound::Search
    }
}

/// Runs `work` where its [`Bound`] says.
pub async fn run<T: Send + 'static>(
    bound: Bound,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    match bound {
        Bound::Page => Ok(work()),
        Bound::Search => Ok(tokio::task::spawn_blocking(work).await?),
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

    #[test]
    fn only_a_needle_in_a_large_run_leaves_the_async_thread() {
        assert_eq!(for_page(false, u64::MAX), Bound::Page);
        assert_eq!(for_page(true, SMALL_RUN_LINES), Bound::Page);
        assert_eq!(for_page(true, SMALL_RUN_LINES + 1), Bound::Search);
    }
}
