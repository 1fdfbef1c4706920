//! A daemon at work, and its orderly stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use super::{serve_http, Daemon};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::{Ingestor, ScanSummary};
use crate::service::Parts;

/// A daemon at work: serving HTTP on its listener while the watcher, the
/// start-up scan, the bucket sync and the housekeeping run beside it.
/// `runlogd serve` and the tests start and stop a daemon through this one
/// type, so the tests see what production does: a daemon that answers
/// (`/readyz` with 503, first requests indexing on demand) while its
/// start-up scan is still running.
pub struct Running {
    /// Where the API is served.
    pub addr: SocketAddr,
    pub parts: Parts,
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
        let state = self.api_state(config);
        tracing::info!(
            listen = %addr,
            data = %config.data.display(),
            log_dir = %self.parts.ingestor.log_dir().display(),
            "runlogd serving; GET /api/v1/runs/{{run_id}}/logs"
        );
        let metrics_server = match (config.metrics.enabled, config.metrics.listen) {
            (true, Some(maddr)) => {
                let listener = TcpListener::bind(maddr)
                    .await
                    .with_context(|| format!("cannot listen on {maddr} (metrics.listen)"))?;
                tracing::info!(listen = %maddr, "serving GET /metrics");
                let app = api::metrics_app(state.clone());
                let http = config.http.clone();
                Some(tokio::spawn(async move {
                    serve_http(listener, app, &http, std::future::pending()).await
                }))
            }
            _ => None,
        };
        let with_metrics = config.metrics.enabled && config.metrics.listen.is_none();
        let app = api::app(state.clone(), &config.http, with_metrics);
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let http_config = config.http.clone();
        let http = tokio::spawn(async move {
            serve_http(listener, app, &http_config, async {
                let _ = stopped.await;
            })
            .await
        });

        let watcher =
            crate::watch::Watcher::start(self.parts.ingestor.clone(), config.watch.clone())
                .context("cannot start the watch thread")?;
        let ingestor = self.parts.ingestor.clone();
        let scan = tokio::task::spawn_blocking(move || scan_until_done(&ingestor));
        let bucket_sync = self.parts.bucket.clone().map(|b| tokio::spawn(b.run()));
        let limiter = state.limiter.clone();
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
            parts: self.parts,
            state,
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

/// The first scan wait before trying a failed start-up scan again; it
/// doubles up to [`SCAN_RETRY_MAX`].
const SCAN_RETRY_FIRST: Duration = Duration::from_secs(1);
const SCAN_RETRY_MAX: Duration = Duration::from_secs(60);

/// Runs the start-up scan until it completes, so that readiness comes back
/// by itself once what failed it (a folder that could not be listed, the
/// disk) is fixed, with no restart and whatever the reconcile interval.
/// Entries that are not logs never fail it: they are skipped.
fn scan_until_done(ingestor: &Ingestor) -> Result<ScanSummary, String> {
    let mut wait = SCAN_RETRY_FIRST;
    loop {
        match ingestor.scan() {
            Ok(s) => {
                s.log("start-up scan done");
                return Ok(s);
            }
            Err(e) if ingestor.stopping() => return Err(e.to_string()),
            Err(e) => {
                tracing::error!(error = %e, retry_in_secs = wait.as_secs(), "start-up scan failed; not ready until it succeeds");
            }
        }
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if ingestor.stopping() {
                return Err("stopped before the start-up scan succeeded".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        wait = (wait * 2).min(SCAN_RETRY_MAX);
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
            parts,
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
        parts.ingestor.stop();
        tokio::task::spawn_blocking(move || watcher.stop()).await?;
        if let Some(scan) = scan {
            if let Err(e) = scan.await {
                tracing::error!(error = %e, "start-up scan task failed");
            }
        }
        // Everything indexed is committed batch by batch; wait for merges.
        let index = parts.index.clone();
        tokio::task::spawn_blocking(move || index.close()).await??;
        tracing::info!("shutdown complete");
        Ok(())
    }
}
