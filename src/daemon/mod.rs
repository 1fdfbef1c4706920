//! The daemon's life: open its state, start its parts, stop them in order.
//!
//! `runlogd serve`, `runlogd index` and the tests all start a daemon through
//! [`Daemon::open`] (the state, the index, the ingest path and, when serving,
//! the bucket) and, when serving, [`Daemon::start`] and [`Running::stop`], so
//! the tests see what production does: a daemon that answers (`/readyz` with
//! 503, first requests indexing on demand) while its start-up scan is still
//! running, and that shuts down in one order.
//!
//! * [`layout`] retires an index written by another layout or under other
//!   parser rules, so that it is rebuilt in the background;
//! * [`running`] holds start-up (HTTP, watcher, scan, bucket sync,
//!   housekeeping) and shutdown;
//! * [`http`] is the HTTP/1.1 accept loop with its timeouts and drain;
//! * [`guarded`] wraps each connection's stream, so that hyper's bare
//!   refusals and HTTP/2 with prior knowledge are answered in runlogd's terms;
//! * [`index_once`] is `runlogd index`: the whole repository once, with
//!   progress;
//! * [`private`] keeps the data directory readable by runlogd's user only:
//!   it holds token hashes and the cursor key.

mod guarded;
mod http;
pub mod index_once;
mod layout;
pub mod private;
mod running;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::RngCore;
use tokio::net::TcpListener;

use crate::api::cursor::{self, CursorKey};
use crate::api::ratelimit::TokenLimiter;
use crate::api::AppState;
use crate::auth::platform::Platform;
use crate::bucket::Bucket;
use crate::config::Config;
use crate::index::LogIndex;
use crate::ingest::Ingestor;
use crate::logfiles::LogFiles;
use crate::parse::Parser;
use crate::service::{Parts, Services};
use crate::store::Store;

pub use http::serve_http;
pub use running::Running;

/// What a daemon is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `runlogd serve` and the tests: everything, the bucket included.
    Serve,
    /// `runlogd index`: the repository's files (and copies already mirrored)
    /// into the index, without connecting to the bucket.
    IndexOnce,
}

/// Everything a daemon holds, opened from a configuration: its parts, which
/// its tasks keep current, and the services built on them. The HTTP state
/// is made only when the daemon serves ([`Daemon::api_state`]).
pub struct Daemon {
    pub parts: Parts,
    pub services: Services,
    pub cursor_key: CursorKey,
    pub repository: PathBuf,
}

impl Daemon {
    /// Opens the data directory (creating it) and the repository to serve.
    pub fn open(config: &Config) -> anyhow::Result<Daemon> {
        Daemon::open_for(config, Role::Serve)
    }

    /// Opens what `role` needs.
    pub fn open_for(config: &Config, role: Role) -> anyhow::Result<Daemon> {
        config.validate()?;
        private::prepare(&config.data)?;
        let repository = match &config.repository {
            Some(r) => r.clone(),
            None => crate::example::materialize(&config.data)
                .context("cannot write the bundled example repository")?,
        };
        crate::metrics::install();
        let store = Arc::new(Store::open(&config.data)?);
        let index_dir = config.data.join("index");
        let rebuild = layout::retire_outdated_index(&store, &index_dir, &config.parser.rules)?;
        let index = Arc::new(LogIndex::open(
            &index_dir,
            config.index.writer_memory_mb << 20,
        )?);
        let parser = Arc::new(Parser::new(&config.parser.rules)?);
        let key = store.secret(cursor::KEY_NAME, || {
            let mut k = vec![0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        })?;
        let cursor_key = CursorKey::new(&key).context("cursor key")?;
        let log_dir = Config::log_dir(&repository);
        let mirror_dir = crate::bucket::mirror_dir(config, &log_dir);
        let ingestor = Ingestor::new(
            LogFiles::new(log_dir, mirror_dir.clone()),
            index.clone(),
            store.clone(),
            parser,
            Duration::from_millis(config.watch.quiet_ms),
        );
        if let Some(reason) = rebuild {
            ingestor.progress.set_rebuild(reason);
        }
        let ingestor = Arc::new(ingestor);
        let bucket = match role {
            Role::Serve => Bucket::open(config, mirror_dir, ingestor.clone(), store.clone())
                .context("cannot set up the GCS bucket")?
                .map(Arc::new),
            Role::IndexOnce => None,
        };
        let parts = Parts {
            store,
            index,
            ingestor,
            bucket,
            index_dir,
        };
        let platform = match role {
            Role::Serve => Platform::from_config(&config.auth)
                .context("cannot set up the platform's token check")?,
            Role::IndexOnce => None,
        };
        Ok(Daemon {
            services: Services::new(&parts, platform),
            parts,
            cursor_key,
            repository,
        })
    }

    /// The API's state: the services, a rate limiter configured by
    /// `config`, and the cursor key.
    pub fn api_state(&self, config: &Config) -> AppState {
        let limiter = Arc::new(TokenLimiter::per_minute(
            config.rate_limit.requests_per_minute,
        ));
        AppState::new(self.services.clone(), limiter, self.cursor_key.clone())
    }
}

/// `runlogd serve`: serves until SIGTERM or SIGINT, then stops in order.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let daemon = Daemon::open(&config)?;
    if config.repository.is_none() {
        tracing::info!(
            repository = %daemon.repository.display(),
            "no repository configured: serving the bundled example logs (runs 9401-9405)"
        );
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let running = daemon.start(&config, listener).await?;
    shutdown_signal().await;
    running.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

/// Sets up `tracing` output: human-readable or JSON lines, filtered by `RUST_LOG`.
pub fn init_tracing(format: crate::config::LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Human => builder.try_init(),
        crate::config::LogFormat::Json => builder.json().try_init(),
    };
}

/// The data directory's state, for the token commands (no index needed).
pub fn open_store(data: &Path) -> anyhow::Result<Store> {
    private::prepare(data)?;
    Ok(Store::open(data)?)
}

pub use private::private_umask;
