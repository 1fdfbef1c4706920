//! What the daemon answers, below any HTTP: the services the API's handlers
//! call, that `runlogd index` and the tests open too.
//!
//! * [`runs`]: finding a run's log (the index, then the log folder, then the
//!   bucket) and its not-found and unavailable outcomes, one run's download,
//!   the searches and listings across runs;
//! * [`signatures`]: failure signatures of one run and across runs;
//! * [`status`]: readiness and what a metrics scrape reads.
//!
//! The daemon builds [`Services`] from its parts (index, ingest, store,
//! bucket); the API's state holds the services, not the parts.

pub mod runs;
pub mod signatures;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::platform::Platform;
use crate::auth::Tokens;
use crate::bucket::Bucket;
use crate::index::LogIndex;
use crate::ingest::Ingestor;
use crate::store::Store;

pub use runs::{Download, FoundRun, RunLogs, RunsError, SearchedRun};
pub use signatures::{Signatures, SignaturesError};
pub use status::Status;

/// The parts a daemon is made of, shared by its services and by the tasks
/// that keep them current (scan, watcher, bucket sync).
#[derive(Clone)]
pub struct Parts {
    pub store: Arc<Store>,
    pub index: Arc<LogIndex>,
    pub ingestor: Arc<Ingestor>,
    /// The GCS bucket, when one is configured and the daemon serves.
    pub bucket: Option<Arc<Bucket>>,
    /// The index's directory, whose size `/metrics` reports.
    pub index_dir: PathBuf,
}

/// Every service, each shared.
#[derive(Clone)]
pub struct Services {
    pub runs: Arc<RunLogs>,
    pub signatures: Arc<Signatures>,
    pub status: Arc<Status>,
    pub tokens: Arc<Tokens>,
}

impl Services {
    /// The services over `parts`; tokens runlogd does not know are checked
    /// with `platform`, when there is one.
    pub fn new(parts: &Parts, platform: Option<Platform>) -> Services {
        Services {
            runs: Arc::new(RunLogs::new(parts)),
            signatures: Arc::new(Signatures::new(parts)),
            status: Arc::new(Status::new(parts)),
            tokens: Arc::new(Tokens::new(parts.store.clone(), platform)),
        }
    }
}
