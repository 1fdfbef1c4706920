//! runlogd: indexes CI run logs (`SAMPLE_REPOSITORY/LogFiles/{run_id}.txt`)
//! and serves the cursor-paginated run-log API from the index.
//!
//! Data flows one way: files ([`watch`]) and the GCS bucket ([`bucket`]) →
//! [`ingest`] → [`parse`] → [`index`] → [`service`] → [`api`].
//! [`logfiles`] says which file is a run's log, [`store`] keeps per-run file
//! state and tokens in SQLite, [`auth`] checks tokens (runlogd's own and the
//! Sample Platform's), [`config`] is the one configuration struct,
//! [`metrics`], [`time_format`], [`expiring`] and [`signature`] sit below
//! everything, and [`daemon`] starts and stops it all for `runlogd serve`,
//! `runlogd index` and the tests. No module imports from one above it
//! (`tests/integration/layers.rs` checks).

pub mod api;
pub mod auth;
pub mod bucket;
pub mod config;
pub mod daemon;
pub mod example;
pub mod expiring;
pub mod index;
pub mod ingest;
pub mod logfiles;
pub mod metrics;
pub mod parse;
pub mod service;
// Failure signatures: a line's template and id, and the grouping of templates.
pub mod signature;
pub mod store;
pub mod time_format;
pub mod watch;
pub mod web;
