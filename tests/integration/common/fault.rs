//! A fault-injecting HTTP proxy on 127.0.0.1, put between the daemon and the
//! GCS emulator: it forwards every request, counts them by method and path,
//! and answers chosen ones with 503 instead of forwarding them, the way an
//! overloaded storage front end does.

use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode};
use axum::response::Response;

pub struct FaultProxy {
    pub base: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<Vec<Fault>>,
    seen: Mutex<Vec<(Method, String)>>,
}

struct Fault {
    method: Method,
    path_contains: String,
    /// Requests still to fail; `None`: until cleared.
    remaining: Option<usize>,
}

/// Headers that belong to one connection, not to the message.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "host",
];

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:port`) on an
    /// ephemeral loopback port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            faults: Mutex::default(),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy {
            base: format!("http://{addr}"),
            shared,
            server,
        }
    }

    /// Answers the next `n` requests with `method` whose path and query,
    /// percent-decoded (`/bucket/LogFiles/201.txt`), contain `path_contains`
    /// with 503.
    pub fn fail_next(&self, method: Method, path_contains: &str, n: usize) {
        self.add(method, path_contains, Some(n));
    }

    /// Answers every such request with 503 until [`FaultProxy::clear`].
    pub fn fail_always(&self, method: Method, path_contains: &str) {
        self.add(method, path_contains, None);
    }

    pub fn clear(&self) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Requests received (failed or forwarded) with `method` whose path and
    /// query, percent-decoded, contain `path_contains`.
    pub fn count(&self, method: Method, path_contains: &str) -> usize {
        let seen = self.shared.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .filter(|(m, p)| *m == method && p.contains(path_contains))
            .count()
    }

    /// Every request received, for failure messages.
    pub fn log(&self) -> Vec<String> {
        let seen = self.shared.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter().map(|(m, p)| format!("{m} {p}")).collect()
    }

    fn add(&self, method: Method, path_contains: &str, remaining: Option<usize>) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Fault {
                method,
                path_contains: path_contains.to_owned(),
                remaining,
            });
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    // Counted and matched as readable names: the client percent-encodes
    // object names (`LogFiles%2F201%2Etxt`); forwarded as it came.
    let name = percent_decode(&target);
    shared
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((method.clone(), name.clone()));
    let fail = {
        let mut faults = shared.faults.lock().unwrap_or_else(|p| p.into_inner());
        faults.iter_mut().any(|f| {
            let hit =
                f.method == method && name.contains(&f.path_contains) && f.remaining != Some(0);
            if hit {
                if let Some(n) = &mut f.remaining {
                    *n -= 1;
                }
            }
            hit
        })
    };
    if fail {
        return status(StatusCode::SERVICE_UNAVAILABLE, "injected fault");
    }

    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return status(StatusCode::BAD_GATEWAY, &format!("request body: {e}")),
    };
    let mut upstream = shared
        .client
        .request(method, format!("{}{target}", shared.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(r) => r,
        Err(e) => return status(StatusCode::BAD_GATEWAY, &format!("upstream: {e}")),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if !is_hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    let bytes = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => return status(StatusCode::BAD_GATEWAY, &format!("upstream body: {e}")),
    };
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|e| status(StatusCode::BAD_GATEWAY, &format!("response: {e}")))
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

fn status(code: StatusCode, message: &str) -> Response {
    let mut r = Response::new(Body::from(message.to_owned()));
    *r.status_mut() = code;
    r
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
