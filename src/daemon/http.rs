//! The HTTP/1.1 accept loop: one connection per task, header timeouts, a
//! bounded drain on shutdown, and an answer in the error envelope where
//! hyper alone would give a bare one or none.
//!
//! Each connection's stream is wrapped ([`Guarded`], in `guarded`) so that
//! hyper's own bare refusals are answered in the envelope and HTTP/2 with
//! prior knowledge is told to use HTTP/1.1; this loop notes every request
//! it gives the service, which is how that wrapper tells hyper's refusals
//! from runlogd's answers.
//!
//! Too many header fields are refused by `api::limits` (in the envelope,
//! counted); hyper's parser is given room for [`HYPER_MAX_HEADERS`] so that
//! its own cap only backs that up.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, Request};
use tokio::net::TcpListener;

use super::guarded::{Guarded, Limits, Waiting};
use crate::api::limits::MAX_HEADERS;

/// How long a shutdown waits for the requests in flight.
const DRAIN_SECS: u64 = 20;

/// Header fields hyper's parser makes room for: beyond runlogd's own limit,
/// so that `api::limits` refuses first, in the envelope. (hyper allocates
/// this many slots per request once it is set.)
pub const HYPER_MAX_HEADERS: usize = 4 * MAX_HEADERS;

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
    use tower::ServiceExt;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(http.header_read_timeout_secs))
        // The envelope's 414/431 come from `api::limits`; this is hyper's
        // own backstop for heads far beyond them.
        .max_header_size(4 * (http.max_header_bytes + http.max_uri_bytes))
        .max_headers(HYPER_MAX_HEADERS);
    let limits = Limits {
        max_uri: http.max_uri_bytes,
        max_head: http.max_header_bytes,
    };
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
                let waiting = Arc::new(Waiting::default());
                let io = Guarded::new(stream, waiting.clone(), limits);
                // Every request the service is given is noted before its
                // answer can exist (see `Guarded`).
                let app = app.clone().map_request(move |request: Request<hyper::body::Incoming>| {
                    waiting.push(request.method() == Method::HEAD);
                    request
                });
                let service = TowerToHyperService::new(app);
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
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
