//! What a platform token costs once the platform has vouched for it: a
//! whole request (`GET /api/v1/runs/9401/logs?limit=1` through the router,
//! in process, no sockets) with a remembered platform token, side by side
//! with the same request with one of runlogd's own tokens (the baseline,
//! measured in the same run). The target: within 10% of the baseline.
//!
//! The platform is a stand-in on 127.0.0.1 that answers `/api/v1/auth/me`
//! as the platform does; it is asked once, before the measurement.

use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::{Json, Router};
use criterion::{criterion_group, criterion_main, Criterion};
use runlogd::config::Config;
use runlogd::daemon::Daemon;
use tower::ServiceExt;

const PLATFORM_TOKEN: &str = "spci_platformtokenplatformtokenplatformtoken1";

async fn stand_in_platform() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the stand-in platform");
    let addr = listener.local_addr().expect("its address");
    let app = Router::new().route(
        "/api/v1/auth/me",
        get(|| async {
            Json(serde_json::json!({
                "email": "dev@example.org", "name": "A developer", "role": "admin",
                "scopes": ["system:read"], "user_id": 1
            }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    config.auth.platform_url = Some(runtime.block_on(stand_in_platform()));
    config.rate_limit.requests_per_minute = u32::MAX;
    let daemon = Daemon::open(&config).expect("open the daemon (bundled example runs)");
    daemon
        .parts
        .ingestor
        .scan()
        .expect("index the example runs");
    let (_, local) =
        runlogd::auth::create_token(&daemon.parts.store, &["system:read".into()], 7, "bench")
            .expect("a local token");
    let app = runlogd::api::app(daemon.api_state(&config), &config.http, false);
    let request = |token: &str| {
        let app = app.clone();
        let request = Request::get("/api/v1/runs/9401/logs?limit=1")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        async move {
            let response = app.oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), 200);
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body")
        }
    };
    // The platform is asked here, once; every measured request is served
    // from memory.
    runtime.block_on(request(PLATFORM_TOKEN));

    let mut group = c.benchmark_group("authenticated request");
    group.bench_function("local token", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(request(&local).await) })
    });
    group.bench_function("remembered platform token", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(request(PLATFORM_TOKEN).await) })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
