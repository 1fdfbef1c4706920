//! The HTTP/1.1 accept loop: one connection per task, header timeouts, and
//! a bounded drain on shutdown.

use std::time::Duration;

use tokio::net::TcpListener;

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
