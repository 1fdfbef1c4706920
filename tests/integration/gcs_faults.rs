//! The bucket misbehaving or configured differently, against a real
//! fake-gcs-server on 127.0.0.1 behind a fault-injecting proxy (see
//! `common::fault`) that counts every request the daemon makes: 5xx answers
//! retried within the configured budget and reported as the published 503
//! envelope beyond it, the remembered miss and its expiry, and a
//! non-default object prefix.

use crate::common::fault::FaultProxy;
use crate::common::gcs::{assert_404_both, Emulator};
use crate::common::{messages, numbered_log, numbered_messages, Dirs, Response, TestServer};
use axum::http::Method;
use runlogd::config::Config;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Retries of a failed bucket request in these tests: each request is tried
/// at most 1 + 2 times.
const RETRIES: usize = 2;

/// An emulator, a proxy in front of it, and a configuration whose bucket is
/// reached only through the proxy; syncs only at start, so that every later
/// bucket request comes from a request the test makes.
async fn setup(bucket: &str) -> (Dirs, Emulator, FaultProxy, Config) {
    let dirs = Dirs::new();
    let emulator = Emulator::start(&dirs.root.path().join("gcs"), bucket).await;
    let proxy = FaultProxy::start(&emulator.base_url()).await;
    let mut config = dirs.config();
    emulator.configure(&mut config);
    config.gcs.endpoint = Some(proxy.base.clone());
    config.gcs.max_retries = RETRIES;
    config.gcs.sync_interval_secs = 3600;
    (dirs, emulator, proxy, config)
}

async fn start(config: Config) -> (TestServer, String) {
    let s = TestServer::start(config).await;
    let token = s.reader();
    s.wait_gcs("the first sync", |g| g["state"] == "ok").await;
    (s, token)
}

async fn logs(s: &TestServer, run: u64, token: &str) -> Response {
    s.get(&format!("/api/v1/runs/{run}/logs?limit=100"), Some(token))
        .await
}

fn assert_storage_unavailable(r: &Response, run: u64) {
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error_code(), "storage_unavailable");
    assert_eq!(r.body["details"]["run_id"], run);
    assert_eq!(r.body["details"]["unavailable"], serde_json::json!(["gcs"]));
    assert_eq!(r.header("retry-after"), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_on_head_or_get_is_retried_and_the_run_served() {
    let (_dirs, emulator, proxy, config) = setup("retry-bucket").await;
    let (s, token) = start(config).await;

    // The first request for a run indexed nowhere asks for the object's
    // metadata (HEAD), then downloads it (GET).
    emulator.put_log(201, numbered_log("head-201", 4)).await;
    proxy.fail_next(Method::HEAD, "/LogFiles/201.txt", RETRIES);
    let r = logs(&s, 201, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), numbered_messages("head-201", 4));
    assert_eq!(
        proxy.count(Method::HEAD, "/LogFiles/201.txt"),
        RETRIES + 1,
        "{:#?}",
        proxy.log()
    );
    assert_eq!(proxy.count(Method::GET, "/LogFiles/201.txt"), 1);
    // The proxy passes answers through whole: the size from HEAD is the object's.
    let object = s.daemon_parts.store.object(201).ok().flatten();
    assert_eq!(
        object.map(|o| o.size),
        Some(numbered_log("head-201", 4).len() as u64)
    );

    emulator.put_log(202, numbered_log("get-202", 3)).await;
    proxy.fail_next(Method::GET, "/LogFiles/202.txt", RETRIES);
    let r = logs(&s, 202, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), numbered_messages("get-202", 3));
    assert_eq!(proxy.count(Method::HEAD, "/LogFiles/202.txt"), 1);
    assert_eq!(
        proxy.count(Method::GET, "/LogFiles/202.txt"),
        RETRIES + 1,
        "{:#?}",
        proxy.log()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_beyond_the_retry_budget_is_a_503_envelope_until_the_bucket_recovers() {
    let (_dirs, emulator, proxy, config) = setup("outlast-bucket").await;
    let (s, token) = start(config).await;
    emulator.put_log(301, numbered_log("head-301", 2)).await;
    emulator.put_log(302, numbered_log("get-302", 5)).await;

    proxy.fail_always(Method::HEAD, "/LogFiles/301.txt");
    let r = logs(&s, 301, &token).await;
    assert_storage_unavailable(&r, 301);
    assert_eq!(
        proxy.count(Method::HEAD, "/LogFiles/301.txt"),
        RETRIES + 1,
        "tried once and retried {RETRIES} times: {:#?}",
        proxy.log()
    );
    assert_eq!(s.daemon_parts.store.run(301).ok().flatten(), None);
    // A failure is not remembered as a miss: once the bucket answers, so
    // does the daemon.
    proxy.clear();
    let r = logs(&s, 301, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), numbered_messages("head-301", 2));

    proxy.fail_always(Method::GET, "/LogFiles/302.txt");
    let r = logs(&s, 302, &token).await;
    assert_storage_unavailable(&r, 302);
    assert_eq!(
        proxy.count(Method::GET, "/LogFiles/302.txt"),
        RETRIES + 1,
        "{:#?}",
        proxy.log()
    );
    assert_eq!(s.daemon_parts.store.run(302).ok().flatten(), None);
    assert_eq!(s.daemon_parts.store.object(302).ok().flatten(), None);
    proxy.clear();
    let r = logs(&s, 302, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), numbered_messages("get-302", 5));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_miss_does_not_ask_the_bucket_again() {
    let (_dirs, emulator, proxy, mut config) = setup("remembered-bucket").await;
    config.gcs.miss_cache_secs = 3600;
    let (s, token) = start(config).await;

    assert_404_both(&logs(&s, 401, &token).await);
    assert_eq!(proxy.count(Method::HEAD, "/LogFiles/401.txt"), 1);
    emulator.put_log(401, numbered_log("late-401", 2)).await;
    for _ in 0..3 {
        assert_404_both(&logs(&s, 401, &token).await);
    }
    assert_eq!(
        proxy.count(Method::HEAD, "/LogFiles/401.txt"),
        1,
        "{:#?}",
        proxy.log()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_miss_expires_and_the_object_is_then_found() {
    let (_dirs, emulator, proxy, mut config) = setup("expiring-bucket").await;
    config.gcs.miss_cache_secs = 1;
    let (s, token) = start(config).await;

    assert_404_both(&logs(&s, 402, &token).await);
    assert_eq!(proxy.count(Method::HEAD, "/LogFiles/402.txt"), 1);
    emulator.put_log(402, numbered_log("late-402", 3)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let r = logs(&s, 402, &token).await;
        if r.status == 200 {
            break r;
        }
        assert_404_both(&r);
        assert!(
            Instant::now() < deadline,
            "the miss was never forgotten: {:#?}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(messages(&found), numbered_messages("late-402", 3));
    // Every 404 in between came from the remembered miss; one more look
    // found the object.
    assert_eq!(
        proxy.count(Method::HEAD, "/LogFiles/402.txt"),
        2,
        "{:#?}",
        proxy.log()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_synced_and_fetched_under_a_non_default_prefix_only() {
    let (_dirs, emulator, proxy, mut config) = setup("prefix-bucket").await;
    config.gcs.prefix = "ci/logs/".into();
    emulator
        .put_object("ci/logs/501.txt", numbered_log("prefixed-501", 3))
        .await;
    emulator.put_log(502, numbered_log("default-502", 2)).await;
    emulator
        .put_object("ci/logs/archive/503.txt", numbered_log("nested-503", 1))
        .await;
    let (s, token) = start(config).await;

    let status = s.gcs_status().await;
    assert_eq!(status["prefix"], "ci/logs/", "{status}");
    assert_eq!(status["objects"], 1, "{status}");
    assert_eq!(status["downloaded"], 1, "{status}");
    // Synced at start, not fetched on request.
    let object = s.daemon_parts.store.object(501).ok().flatten();
    assert_eq!(object.map(|o| o.name), Some("ci/logs/501.txt".to_owned()));
    let r = logs(&s, 501, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), numbered_messages("prefixed-501", 3));

    // Under the default prefix, or below the configured one: not a run.
    for run in [502, 503] {
        assert_404_both(&logs(&s, run, &token).await);
    }
    assert_eq!(proxy.count(Method::HEAD, "/ci/logs/502.txt"), 1);
    assert_eq!(proxy.count(Method::HEAD, "/LogFiles/"), 0);
    assert_eq!(proxy.count(Method::GET, "/LogFiles/"), 0);

    // A run uploaded under the prefix later is found on its first request.
    emulator
        .put_object("ci/logs/504.txt", numbered_log("prefixed-504", 2))
        .await;
    let r = logs(&s, 504, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), numbered_messages("prefixed-504", 2));
    let status: Value = s.gcs_status().await;
    assert_eq!(status["downloaded"], 2, "{status}");
    s.stop().await;
}
