//! `runlogd serve`: open the state, start the start-up scan, serve HTTP, and
//! shut down cleanly on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::api::cursor::{self, CursorKey};
use crate::api::ratelimit::TokenLimiter;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::index::schema::LAYOUT_VERSION;
use crate::index::LogIndex;
use crate::ingest::{Ingestor, ScanSummary};
use crate::parse::{Parser, RuleConfig};
use crate::store::Store;
use crate::sync::Bucket;

/// Everything a running daemon holds, opened from a configuration.
pub struct Daemon {
    pub state: AppState,
    pub repository: PathBuf,
}

impl Daemon {
    /// Opens the data directory (creating it) and the repository to serve.
    pub fn open(config: &Config) -> anyhow::Result<Daemon> {
        config.validate()?;
        std::fs::create_dir_all(&config.data)
            .with_context(|| format!("cannot create data directory {}", config.data.display()))?;
        let repository = match &config.repository {
            Some(r) => r.clone(),
            None => crate::example::materialize(&config.data)
                .context("cannot write the bundled example repository")?,
        };
        crate::metrics::install();
        let store = Arc::new(Store::open(&config.data)?);
        let index_dir = config.data.join("index");
        let rebuild = retire_outdated_index(&store, &index_dir, &config.parser.rules)?;
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
        let mirror_dir = crate::sync::mirror_dir(config, &log_dir);
        let mut ingestor = Ingestor::new(
            log_dir,
            index.clone(),
            store.clone(),
            parser,
            Duration::from_millis(config.watch.quiet_ms),
        );
        if let Some(dir) = &mirror_dir {
            ingestor = ingestor.with_mirror(dir.clone());
        }
        if let Some(reason) = rebuild {
            ingestor.progress.set_rebuild(reason);
        }
        let ingestor = Arc::new(ingestor);
        let bucket = Bucket::open(config, mirror_dir, ingestor.clone(), store.clone())
            .context("cannot set up the GCS bucket")?
            .map(Arc::new);
        let limiter = Arc::new(TokenLimiter::per_minute(
            config.rate_limit.requests_per_minute,
        ));
        Ok(Daemon {
            state: AppState {
                store,
                index,
                ingestor,
                bucket,
                limiter,
                cursor_key,
                index_dir,
            },
            repository,
        })
    }
}

/// The meta key under which the state database records what the index on
/// disk was written with.
const INDEX_LAYOUT_KEY: &str = "index_layout";

/// What an index must have been written with to be served as it is: this
/// build's document layout, and the parser rules that set every line's level
/// and source.
fn index_layout(rules: &[RuleConfig]) -> anyhow::Result<String> {
    let rules = serde_json::to_vec(rules).context("parser rules")?;
    let digest = Sha256::digest(&rules);
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{LAYOUT_VERSION} rules:{short}"))
}

/// Removes an index written by another layout or under other parser rules.
/// The runs' records stay: every run then disagrees with the (empty) index,
/// so the start-up scan indexes every file again while the daemon serves
/// (runs not rebuilt yet are indexed on their first request), keeping each
/// unchanged run's generation so that its cursors stay valid. Tokens, the
/// cursor key and the bucket's state are kept too. Returns why the index is
/// rebuilt, for `/readyz`.
fn retire_outdated_index(
    store: &Store,
    dir: &Path,
    rules: &[RuleConfig],
) -> anyhow::Result<Option<String>> {
    let want = index_layout(rules)?;
    let have = store.meta_text(INDEX_LAYOUT_KEY)?;
    let index_exists = dir.join("meta.json").exists();
    let (runs, _) = store.totals()?;
    let reason = match &have {
        Some(have) if *have == want => return Ok(None),
        Some(have) if have.split(' ').next() == want.split(' ').next() => {
            "the parser rules changed: every run is re-indexed to re-classify its lines"
        }
        Some(_) => "the index was written by another version of runlogd",
        None if index_exists || runs > 0 => {
            "the index was written by an earlier version of runlogd"
        }
        None => {
            store.set_meta_text(INDEX_LAYOUT_KEY, &want)?;
            return Ok(None);
        }
    };
    tracing::warn!(
        index = %dir.display(),
        was = have.as_deref().unwrap_or("(unrecorded)"),
        now = %want,
        "{reason}; rebuilding the index in the background"
    );
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot remove the outdated index {}", dir.display()))?;
    }
    store.set_meta_text(INDEX_LAYOUT_KEY, &want)?;
    Ok(Some(reason.to_owned()))
}

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

/// A daemon at work: serving HTTP on its listener while the watcher, the
/// start-up scan, the bucket sync and the housekeeping run beside it.
/// `runlogd serve` and the tests start and stop a daemon through this one
/// type, so the tests see what production does: a daemon that answers
/// (`/readyz` with 503, first requests indexing on demand) while its
/// start-up scan is still running.
pub struct Running {
    /// Where the API is served.
    pub addr: SocketAddr,
    pub state: AppState,
    pub repository: PathBuf,
    scan: Option<tokio::task::JoinHandle<Result<ScanSummary, String>>>,
    scanned: Option<ScanSummary>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    metrics_server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    watcher: crate::watch::Watcher,
    bucket_sync: Option<tokio::task::JoinHandle<()>>,
    housekeeping: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Serves on `listener`, then starts the watcher (first, so nothing that
    /// lands during the scan is missed), the start-up scan in the
    /// background, the bucket sync and the housekeeping.
    pub async fn start(self, config: &Config, listener: TcpListener) -> anyhow::Result<Running> {
        let addr: SocketAddr = listener.local_addr()?;
        tracing::info!(
            listen = %addr,
            data = %config.data.display(),
            log_dir = %self.state.ingestor.log_dir().display(),
            "runlogd serving; GET /api/v1/runs/{{run_id}}/logs"
        );
        let metrics_server = match (config.metrics.enabled, config.metrics.listen) {
            (true, Some(maddr)) => {
                let listener = TcpListener::bind(maddr)
                    .await
                    .with_context(|| format!("cannot listen on {maddr} (metrics.listen)"))?;
                tracing::info!(listen = %maddr, "serving GET /metrics");
                let app = api::metrics_app(self.state.clone());
                let http = config.http.clone();
                Some(tokio::spawn(async move {
                    serve_http(listener, app, &http, std::future::pending()).await
                }))
            }
            _ => None,
        };
        let with_metrics = config.metrics.enabled && config.metrics.listen.is_none();
        let app = api::app(self.state.clone(), &config.http, with_metrics);
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let http_config = config.http.clone();
        let http = tokio::spawn(async move {
            serve_http(listener, app, &http_config, async {
                let _ = stopped.await;
            })
            .await
        });

        let watcher =
            crate::watch::Watcher::start(self.state.ingestor.clone(), config.watch.clone())
                .context("cannot start the watch thread")?;
        let ingestor = self.state.ingestor.clone();
        let scan = tokio::task::spawn_blocking(move || match ingestor.scan() {
            Ok(s) => {
                tracing::info!(
                    indexed = s.indexed,
                    appended = s.appended,
                    unchanged = s.unchanged,
                    removed = s.removed,
                    lines = s.lines,
                    seconds = s.elapsed.as_secs_f64(),
                    "start-up scan done"
                );
                Ok(s)
            }
            Err(e) => {
                tracing::error!(error = %e, "start-up scan failed");
                Err(e.to_string())
            }
        });
        let bucket_sync = self.state.bucket.clone().map(|b| tokio::spawn(b.run()));
        let limiter = self.state.limiter.clone();
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::metrics::UPKEEP_EVERY);
            let mut ticks = 0u64;
            loop {
                tick.tick().await;
                crate::metrics::upkeep();
                ticks += 1;
                if ticks % 12 == 0 {
                    limiter.forget_idle();
                }
            }
        });
        Ok(Running {
            addr,
            state: self.state,
            repository: self.repository,
            scan: Some(scan),
            scanned: None,
            http,
            stop_http,
            metrics_server,
            watcher,
            bucket_sync,
            housekeeping,
        })
    }
}

impl Running {
    /// Waits for the start-up scan to end and returns what it did.
    pub async fn scan_done(&mut self) -> anyhow::Result<ScanSummary> {
        if let Some(scan) = self.scan.take() {
            let summary = scan
                .await
                .context("the start-up scan task failed")?
                .map_err(|e| anyhow::anyhow!("start-up scan: {e}"))?;
            self.scanned = Some(summary);
        }
        self.scanned
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the start-up scan failed"))
    }

    /// Stops accepting and lets the requests in flight finish, then stops
    /// the bucket sync (a download in flight is left as a temporary file,
    /// removed at next start), the scan (which commits what it has) and the
    /// watcher, and closes the index once its merges are done.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Running {
            state,
            scan,
            http,
            stop_http,
            metrics_server,
            watcher,
            bucket_sync,
            housekeeping,
            ..
        } = self;
        let _ = stop_http.send(());
        match http.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the HTTP server failed"),
            Err(e) => tracing::error!(error = %e, "the HTTP server task failed"),
            Ok(Ok(())) => {}
        }
        if let Some(task) = metrics_server {
            task.abort();
        }
        tracing::info!("stopped accepting; finishing");
        housekeeping.abort();
        if let Some(task) = bucket_sync {
            task.abort();
            let _ = task.await;
        }
        state.ingestor.stop();
        tokio::task::spawn_blocking(move || watcher.stop()).await?;
        if let Some(scan) = scan {
            if let Err(e) = scan.await {
                tracing::error!(error = %e, "start-up scan task failed");
            }
        }
        // Everything indexed is committed batch by batch; wait for merges.
        let AppState {
            index,
            bucket,
            ingestor,
            ..
        } = state;
        drop(bucket);
        drop(ingestor);
        match Arc::try_unwrap(index) {
            Ok(index) => index.close()?,
            Err(_) => tracing::warn!(
                "the index is still in use elsewhere; its merges finish without waiting"
            ),
        }
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// How long a shutdown waits for the requests in flight.
const DRAIN_SECS: u64 = 20;

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish (at most [`DRAIN_SECS`]).
///
/// One HTTP/1.1 connection per task. A connection that has not sent a whole
/// request head within `http.header_read_timeout_secs`, whether a slow client
/// or an idle keep-alive connection, is closed, so idle and slow-loris
/// connections cost a socket for that long and nothing else.
pub async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    http: &crate::config::HttpConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(http.header_read_timeout_secs))
        // The envelope's 414/431 come from `api::limits`; this is hyper's
        // own backstop for heads far beyond them.
        .max_header_size(4 * (http.max_header_bytes + http.max_uri_bytes));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, most likely: wait for some to close.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(DRAIN_SECS), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN_SECS} s; closing them");
    }
    Ok(())
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
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    Ok(Store::open(data)?)
}
