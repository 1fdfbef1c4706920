//! runlogd: indexes CI run logs (`SAMPLE_REPOSITORY/LogFiles/{run_id}.txt`)
//! and serves the cursor-paginated run-log API from the index.
//!
//! Data flows one way: files ([`watch`]) and the GCS bucket ([`sync`]) →
//! [`ingest`] → [`parse`] → [`index`] → [`api`].
//! [`store`] keeps per-run file state and tokens in SQLite, [`auth`] checks
//! tokens, [`config`] is the one configuration struct, and [`server`] wires
//! it all together for `runlogd serve`.

pub mod api;
pub mod auth;
pub mod backfill;
pub mod config;
pub mod corpus;
pub mod example;
pub mod index;
pub mod ingest;
pub mod metrics;
pub mod parse;
pub mod server;
pub mod store;
pub mod sync;
pub mod watch;
pub mod web;
