//! One server for every case of a property test: proptest runs cases one
//! after another in plain (not async) test functions, and starting a daemon
//! per case would cost more than the cases. Each case takes run ids of its
//! own from [`PropServer::take_runs`], so cases never see each other's runs.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Dirs, Response, TestServer};

pub struct PropServer {
    pub runtime: tokio::runtime::Runtime,
    pub server: TestServer,
    pub dirs: Dirs,
    pub token: String,
    next_run: AtomicU64,
}

impl PropServer {
    /// A server over an empty repository; runs are numbered from `first_run`.
    pub fn start(first_run: u64) -> PropServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let dirs = Dirs::new();
        let server = runtime.block_on(TestServer::start(dirs.config()));
        let token = server.reader();
        PropServer {
            runtime,
            server,
            dirs,
            token,
            next_run: AtomicU64::new(first_run),
        }
    }

    /// `n` run ids no other case uses; the first of them.
    pub fn take_runs(&self, n: u64) -> u64 {
        self.next_run.fetch_add(n, Ordering::Relaxed)
    }

    /// GET with the reader token.
    pub fn get(&self, path: &str) -> Response {
        self.runtime
            .block_on(self.server.get(path, Some(&self.token)))
    }

    /// Brings a run up to date with its file, as the watcher would.
    pub fn sync(&self, run_id: u64) {
        self.server
            .daemon_parts
            .ingestor
            .sync_run(run_id)
            .unwrap_or_else(|e| panic!("sync {run_id}: {e}"));
    }
}
