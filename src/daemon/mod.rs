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
//! * [`index_once`] is `runlogd index`: the whole repository once, with
//!   progress;
//! * [`private`] keeps the data directory readable by runlogd's user only:
//!   it holds token hashes and the cursor key.

mod http;
pub mod index_once;
mod layout;
mod running;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::RngCore;
use tokio::net::TcpListener;

use crate::api::cursor::{self, CursorKey};
use crate::api::ratelimit::TokenLimiter;
use crate::api::{AppState, Shared};
use crate::bucket::Bucket;
use crate::config::Config;
use crate::index::LogIndex;
use crate::ingest::Ingestor;
use crate::logfiles::LogFiles;
use crate::parse::Parser;
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

/// Everything a running daemon holds, opened from a configuration.
pub struct Daemon {
    pub state: AppState,
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
        let limiter = Arc::new(TokenLimiter::per_minute(
            config.rate_limit.requests_per_minute,
        ));
        Ok(Daemon {
            state: AppState::new(Shared {
                store,
                index,
                ingestor,
                bucket,
                limiter,
                cursor_key,
                index_dir,
            }),
            repository,
        })
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

pub mod private {
    //! The data directory is private to the user runlogd runs as (issue 17):
    //! `state.sqlite3` holds token hashes and the cursor key, and the index
    //! holds every log line, so no other local user may read any of it,
    //! whatever umask runlogd was started under.
    //!
    //! SQLite and tantivy create their files themselves, so the process
    //! umask ([`private_umask`]) is what makes every new file 0600 and every
    //! new directory 0700. [`prepare`] creates the directory 0700 and
    //! tightens one that an earlier runlogd (or an operator) left open.

    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use anyhow::Context;

    /// Group and other permission bits: none may be set on the data
    /// directory or on anything runlogd keeps in it.
    const OPEN_BITS: u32 = 0o077;

    /// Changes named in the warning; the rest are counted, so that a big
    /// mirror folder does not make one enormous log line.
    const NAMED_CHANGES: usize = 10;

    /// Sets the process umask to 0o077, so that every file runlogd creates
    /// from now on (the state database and its `-wal`/`-shm`, the index,
    /// the bundled example repository, bucket copies) is 0600 and every
    /// directory 0700. Called first by every command that touches the data
    /// directory: the umask is process-wide, and SQLite and tantivy create
    /// files on their own threads.
    pub fn private_umask() {
        // SAFETY: umask(2) only swaps the process's file-creation mask; it
        // has no preconditions and cannot fail.
        unsafe {
            libc::umask(OPEN_BITS as libc::mode_t);
        }
    }

    /// Creates the data directory 0700, or makes an existing one private:
    /// the directory becomes 0700 and every file and subdirectory in it
    /// owned by this user loses its group and other bits (0644 becomes
    /// 0600, 0755 becomes 0700). What was changed is logged once, at warn.
    pub fn prepare(data: &Path) -> anyhow::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data)
            .with_context(|| format!("cannot create data directory {}", data.display()))?;
        let mut changed = Vec::new();
        // The directory itself is what keeps others out: it is closed
        // first, whoever owns it, and failing to stops the start rather
        // than serve from an open directory.
        let meta = std::fs::metadata(data)
            .with_context(|| format!("cannot read data directory {}", data.display()))?;
        if let Some(change) = tighten(data, &meta, Owner::Any).with_context(|| {
            format!(
                "cannot make data directory {} private (chmod 0700)",
                data.display()
            )
        })? {
            changed.push(change);
        }
        let mut todo = vec![data.to_path_buf()];
        while let Some(dir) = todo.pop() {
            let listing = match std::fs::read_dir(&dir) {
                Ok(listing) => listing,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot list a folder of the data directory to check its permissions");
                    continue;
                }
            };
            for entry in listing.flatten() {
                let path = entry.path();
                // Not following symbolic links: what they point to is not
                // runlogd's to change.
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    todo.push(path.clone());
                } else if !meta.is_file() {
                    continue;
                }
                match tighten(&path, &meta, Owner::Me) {
                    Ok(Some(change)) => changed.push(change),
                    Ok(None) => {}
                    // Removed meanwhile (a running daemon merges segments
                    // while `token` commands open the directory).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    // Inside a private directory an entry left open is out
                    // of others' reach; say so and go on.
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot make a file of the data directory private")
                    }
                }
            }
        }
        if !changed.is_empty() {
            let mut entries: Vec<String> = changed
                .iter()
                .take(NAMED_CHANGES)
                .map(|c| c.describe(data))
                .collect();
            if changed.len() > NAMED_CHANGES {
                entries.push(format!("and {} more", changed.len() - NAMED_CHANGES));
            }
            tracing::warn!(
                data = %data.display(),
                changed = changed.len(),
                entries = %entries.join(", "),
                "the data directory was readable by other users: \
                 tightened its permissions to owner-only (0700 directories, 0600 files)"
            );
        }
        Ok(())
    }

    /// One entry whose mode was tightened.
    struct Change {
        path: PathBuf,
        from: u32,
        to: u32,
    }

    impl Change {
        fn describe(&self, data: &Path) -> String {
            let name = match self.path.strip_prefix(data) {
                Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
                _ => self.path.display().to_string(),
            };
            format!("{name} {:04o}->{:04o}", self.from, self.to)
        }
    }

    /// Whose entries [`tighten`] changes.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Owner {
        /// Only this user's: an entry of another user in the data
        /// directory is not runlogd's.
        Me,
        /// Whoever owns it (the data directory itself).
        Any,
    }

    /// Removes the group and other bits of `path` (and set-id and sticky
    /// bits, which only matter for sharing) when any is set.
    fn tighten(
        path: &Path,
        meta: &std::fs::Metadata,
        owner: Owner,
    ) -> std::io::Result<Option<Change>> {
        let from = meta.permissions().mode() & 0o7777;
        if from & OPEN_BITS == 0 || (owner == Owner::Me && meta.uid() != effective_uid()) {
            return Ok(None);
        }
        let to = from & 0o700;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(to))?;
        Ok(Some(Change {
            path: path.to_path_buf(),
            from,
            to,
        }))
    }

    fn effective_uid() -> u32 {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }
}
