//! The integration tests, built as one test binary (`cargo test --test
//! integration`): every module below was a test binary of its own, each
//! linking runlogd and the test dependencies again. Their tests now share one
//! process, so what is process-wide (the metrics recorder, the tracing
//! subscriber) is handled in `common`; see `common::own_process`.
//!
//! A test's name is prefixed with its module: `cargo test --test integration
//! -- gcs::` runs what was `cargo test --test gcs`.

mod common;

// The benchmarks' deterministic log generator, for the web viewer's
// measurement (`browser::viewer_perf`), which uses a part of it.
#[allow(dead_code)]
#[path = "../../benches/support/corpus.rs"]
mod corpus;

mod api;
mod browser;
mod cli;
mod crash;
mod gcs;
mod gcs_faults;
mod hostile;
mod layers;
mod live;
mod nginx;
mod ops;
mod ops_gcs;
mod paging_prop;
mod platform;
mod regex;
mod search;
mod search_prop;
mod signatures;
mod startup;
