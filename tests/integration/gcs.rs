//! The GCS bucket as a source, against a real fake-gcs-server process on
//! 127.0.0.1 (see `common::gcs`): the start-up sync, objects added, replaced
//! and deleted while running, the first-request fallback for a run indexed
//! nowhere, 404 only when both places lack the log, raw downloads by signed
//! URL, newest-wins between a local file and an object, and the emulator
//! killed and restarted under a running daemon.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::common::gcs::{assert_404_both, signing_key, Emulator};
use crate::common::{line_messages, messages, numbered_log, numbered_messages, Dirs, TestServer};
use runlogd::config::{Config, OnDelete};
use serde_json::Value;

/// Every message of a run, walking all pages.
async fn run_messages(s: &TestServer, run: u64, token: &str) -> Vec<String> {
    line_messages(&s.walk(run, "limit=100", token).await.0)
}

/// Asserts that `run` is served as exactly the lines of `numbered_log(tag, n)`.
async fn assert_serves(s: &TestServer, run: u64, token: &str, tag: &str, n: usize) {
    assert_eq!(
        run_messages(s, run, token).await,
        numbered_messages(tag, n),
        "run {run}"
    );
}

/// The bucket generation the store recorded for a run's object.
fn object_generation(s: &TestServer, run: u64) -> Option<String> {
    let object = s.daemon_parts.store.object(run).ok().flatten();
    object.and_then(|o| o.generation)
}

async fn setup(bucket: &str) -> (Dirs, Emulator, Config) {
    let dirs = Dirs::new();
    let emulator = Emulator::start(&dirs.root.path().join("gcs"), bucket).await;
    let mut config = dirs.config();
    emulator.configure(&mut config);
    (dirs, emulator, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_sync_then_objects_added_and_replaced_while_running() {
    let (dirs, emulator, config) = setup("sync-bucket").await;
    emulator.put_log(101, numbered_log("bucket-101", 250)).await;
    emulator.put_log(102, numbered_log("bucket-102", 3)).await;
    dirs.write_log(103, numbered_log("local-103", 5));

    let s = TestServer::start(config).await;
    let token = s.reader();
    let status = s
        .wait_gcs("the first sync", |g| {
            g["state"] == "ok" && g["passes"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(status["objects"], 2, "{status}");
    assert_eq!(status["downloaded"], 2, "{status}");
    assert_eq!(status["bucket"], "sync-bucket");
    let mirror = s.data.join("gcs-mirror/sync-bucket");
    assert!(
        mirror.join("101.txt").is_file(),
        "objects are mirrored under the data directory"
    );
    // Synced, not fetched on demand: the counts above were already 2.
    assert_serves(&s, 101, &token, "bucket-101", 250).await;
    assert_serves(&s, 102, &token, "bucket-102", 3).await;
    assert_serves(&s, 103, &token, "local-103", 5).await;
    let generation = object_generation(&s, 101);
    assert!(generation.is_some(), "the object's generation is recorded");

    // A cursor into the old 101, then 101 replaced and 104 added.
    let first = s.get("/api/v1/runs/101/logs?limit=10", Some(&token)).await;
    let cursor = first.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!cursor.is_empty());
    emulator.put_log(101, numbered_log("replaced-101", 7)).await;
    emulator.put_log(104, numbered_log("bucket-104", 12)).await;
    let status = s.wait_full_sync().await;
    assert_eq!(status["objects"], 3, "{status}");
    assert_eq!(status["downloaded"], 4, "{status}");
    assert_serves(&s, 101, &token, "replaced-101", 7).await;
    assert_serves(&s, 104, &token, "bucket-104", 12).await;
    let stale = s
        .get(
            &format!("/api/v1/runs/101/logs?cursor={cursor}&limit=10"),
            Some(&token),
        )
        .await;
    assert_eq!(stale.status, 400, "{}", stale.body);
    assert!(stale.body["details"]["fields"]["cursor"]
        .as_str()
        .is_some_and(|m| m.contains("replaced")));
    let after = object_generation(&s, 101);
    assert!(
        after.is_some() && after != generation,
        "the new generation is recorded"
    );
    // Nothing half-written is left beside the copies.
    let leftovers: Vec<_> = std::fs::read_dir(&mirror)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(leftovers.len(), 3, "{leftovers:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_only_in_the_bucket_is_served_on_its_first_request() {
    let (_dirs, emulator, mut config) = setup("miss-bucket").await;
    // Only the start-up sync: what is uploaded later is found by the request.
    config.gcs.sync_interval_secs = 3600;
    let s = TestServer::start(config).await;
    let token = s.reader();
    s.wait_gcs("the first sync", |g| g["passes"] == 1).await;

    emulator.put_log(201, numbered_log("late-201", 1500)).await;
    let started = Instant::now();
    let r = s.get("/api/v1/runs/201/logs?limit=5", Some(&token)).await;
    let first_request = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages(&r), numbered_messages("late-201", 5));
    // For the record (the closing note quotes it); not a pass/fail bound.
    eprintln!(
        "first request for a run only in the bucket (1500 lines): {} ms",
        first_request.as_millis()
    );
    // The next page resumes where the first ended.
    let all = run_messages(&s, 201, &token).await;
    assert_eq!(all, numbered_messages("late-201", 1500));

    // Concurrent first requests for one run share one download.
    emulator.put_log(202, numbered_log("late-202", 400)).await;
    let before = s.gcs_status().await["downloaded"].as_u64().unwrap_or(0);
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, token) = (s.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            s.get("/api/v1/runs/202/logs?limit=3", Some(&token)).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(messages(&r), numbered_messages("late-202", 3));
    }
    let after = s.gcs_status().await["downloaded"].as_u64().unwrap_or(0);
    assert_eq!(after, before + 1, "eight requests, one download");
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_from_both_is_404_with_both_checked_and_the_miss_is_remembered() {
    let (_dirs, emulator, mut config) = setup("absent-bucket").await;
    // Syncs only when the test says so, so none slips in between its steps.
    config.gcs.sync_interval_secs = 3600;
    config.gcs.miss_cache_secs = 3600;
    let s = TestServer::start(config).await;
    let token = s.reader();
    s.wait_gcs("the first sync", |g| g["passes"].as_u64() >= Some(1))
        .await;

    assert_404_both(&s.get("/api/v1/runs/301/logs", Some(&token)).await);
    assert_404_both(&s.get("/api/v1/runs/301/logs/raw", Some(&token)).await);
    // Uploaded right after the miss: the remembered miss still answers...
    emulator.put_log(301, numbered_log("arrived-301", 4)).await;
    assert_404_both(&s.get("/api/v1/runs/301/logs", Some(&token)).await);
    // ...until the next sync lists the object.
    let bucket = s.daemon_parts.bucket.clone();
    let report = match bucket {
        Some(b) => b.sync_once().await.map_err(|e| e.to_string()),
        None => Err("no bucket".into()),
    };
    assert_eq!(report.map(|r| r.downloaded), Ok(1));
    let r = s.get("/api/v1/runs/301/logs", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(4));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_download_redirects_to_a_signed_url_that_the_emulator_serves() {
    let (dirs, emulator, mut config) = setup("raw-bucket").await;
    let email = "runlogd-test@example.iam.gserviceaccount.com";
    config.gcs.signing_key = Some(signing_key(dirs.root.path(), email));
    config.gcs.signed_url_expiry_secs = 3600;
    let content = numbered_log("raw-401", 40);
    emulator.put_log(401, content.clone()).await;
    dirs.write_log(402, "local only\n");
    let s = TestServer::start(config).await;
    let token = s.reader();
    s.wait_gcs("the first sync", |g| g["state"] == "ok").await;

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = no_redirects
        .get(format!("{}/api/v1/runs/401/logs/raw", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 302);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let url = reqwest::Url::parse(&location).unwrap_or_else(|e| panic!("{location}: {e}"));
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_eq!(url.path(), "/raw-bucket/LogFiles/401.txt");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        q.get("X-Goog-Algorithm").map(String::as_str),
        Some("GOOG4-RSA-SHA256")
    );
    assert_eq!(q.get("X-Goog-Expires").map(String::as_str), Some("3600"));
    assert!(
        q.get("X-Goog-Credential")
            .is_some_and(|c| c.starts_with(email)),
        "{q:?}"
    );
    assert!(
        q.get("X-Goog-Signature")
            .is_some_and(|sig| sig.len() == 512),
        "{q:?}"
    );
    assert_eq!(
        q.get("response-content-disposition").map(String::as_str),
        Some("attachment; filename=\"401.txt\"")
    );
    // The emulator does not check signatures: check it here, with the
    // public half of the key, and check that the check can fail.
    let key_pem = dirs.root.path().join("key.pem");
    assert!(v4_signature_verifies(&url, &key_pem));
    let mut tampered = url.clone();
    let forged: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| match k.as_ref() {
            "X-Goog-Expires" => (k.into_owned(), "604800".to_owned()),
            _ => (k.into_owned(), v.into_owned()),
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(forged);
    assert!(!v4_signature_verifies(&tampered, &key_pem));
    // The emulator serves the signed URL, with no token of ours.
    let body = reqwest::get(url).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body.status(), 200);
    assert_eq!(body.text().await.unwrap_or_default(), content);

    // A run with no object: the local file, streamed.
    let r = s.get("/api/v1/runs/402/logs/raw", Some(&token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"402.txt\"")
    );
    assert_eq!(r.body, Value::String("local only\n".into()));

    // `link=true`: where the file is, as JSON, for a client that cannot
    // follow the redirect (the web viewer) but can navigate there.
    let r = s
        .get("/api/v1/runs/401/logs/raw?link=true", Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["run_id"], 401);
    let linked = r.body["url"].as_str().unwrap_or_default();
    let linked = reqwest::Url::parse(linked).unwrap_or_else(|e| panic!("{linked}: {e}"));
    assert_eq!(linked.path(), "/raw-bucket/LogFiles/401.txt");
    assert!(v4_signature_verifies(&linked, &key_pem));
    let r = s
        .get("/api/v1/runs/402/logs/raw?link=true", Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, serde_json::json!({ "run_id": 402, "url": null }));
    let r = s
        .get("/api/v1/runs/402/logs/raw?link=false", Some(&token))
        .await;
    assert_eq!(r.body, Value::String("local only\n".into()));
    let r = s
        .get("/api/v1/runs/402/logs/raw?link=yes", Some(&token))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "validation_error");

    // Same access rules as the paged endpoint.
    let anonymous = s.get("/api/v1/runs/401/logs/raw", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error_code(), "unauthorized");
    let bad = s.get("/api/v1/runs/0/logs/raw", Some(&token)).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code(), "validation_error");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_signing_key_the_bucket_copy_is_streamed() {
    let (_dirs, emulator, config) = setup("nosign-bucket").await;
    let content = numbered_log("stream-451", 30);
    emulator.put_log(451, content.clone()).await;
    let s = TestServer::start(config).await;
    let token = s.reader();
    // Fetched on this very request, then streamed from the copy.
    let r = s.get("/api/v1/runs/451/logs/raw", Some(&token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, Value::String(content));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newer_of_a_local_file_and_an_object_wins() {
    let (dirs, emulator, config) = setup("newest-bucket").await;
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    // 501: the local file is older than the object: the object wins.
    dirs.write_log(501, numbered_log("old-local-501", 3));
    dirs.set_mtime(501, hour_ago);
    emulator
        .put_log(501, numbered_log("new-object-501", 6))
        .await;
    // 502: the object is older than the local file: the local file wins.
    emulator
        .put_log(502, numbered_log("old-object-502", 6))
        .await;
    dirs.write_log(502, numbered_log("new-local-502", 2));
    dirs.set_mtime(502, SystemTime::now() + Duration::from_secs(3600));
    // 503: same bytes in both, local older: served, and not downloaded.
    dirs.write_log(503, numbered_log("same-503", 4));
    dirs.set_mtime(503, hour_ago);
    emulator.put_log(503, numbered_log("same-503", 4)).await;

    let s = TestServer::start(config).await;
    let token = s.reader();
    let status = s.wait_gcs("the first sync", |g| g["state"] == "ok").await;
    assert_eq!(status["downloaded"], 1, "only 501 needed a copy: {status}");
    assert_serves(&s, 501, &token, "new-object-501", 6).await;
    assert_serves(&s, 502, &token, "new-local-502", 2).await;
    assert_serves(&s, 503, &token, "same-503", 4).await;
    let mirror = s.data.join("gcs-mirror/newest-bucket");
    assert!(mirror.join("501.txt").is_file());
    assert!(!mirror.join("502.txt").exists() && !mirror.join("503.txt").exists());

    // The local file that stood in for 503's object goes: the next sync
    // brings the object's copy, and the run stays.
    std::fs::remove_file(dirs.log_path(503)).unwrap_or_else(|e| panic!("{e}"));
    let status = s.wait_full_sync().await;
    assert_eq!(status["downloaded"], 2, "{status}");
    assert!(mirror.join("503.txt").is_file());
    assert_serves(&s, 503, &token, "same-503", 4).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_objects_are_kept_or_dropped_as_configured() {
    let (dirs, emulator, keep_config) = setup("delete-bucket").await;
    emulator.put_log(601, numbered_log("doomed-601", 5)).await;
    let mut drop_config = keep_config.clone();
    drop_config.data = dirs.root.path().join("data-drop");
    drop_config.gcs.on_delete = OnDelete::Drop;
    let keep = TestServer::start(keep_config).await;
    let drop = TestServer::start(drop_config).await;
    let (kt, dt) = (keep.reader(), drop.reader());
    for s in [&keep, &drop] {
        s.wait_gcs("the first sync", |g| {
            g["state"] == "ok" && g["objects"] == 1
        })
        .await;
    }
    assert_serves(&drop, 601, &dt, "doomed-601", 5).await;

    emulator.delete_log(601).await;
    keep.wait_full_sync().await;
    drop.wait_full_sync().await;
    assert_serves(&keep, 601, &kt, "doomed-601", 5).await;
    assert_404_both(&drop.get("/api/v1/runs/601/logs", Some(&dt)).await);
    assert!(!drop.data.join("gcs-mirror/delete-bucket/601.txt").exists());
    keep.stop().await;
    drop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_serving_while_the_bucket_is_down_and_recovers() {
    let (_dirs, mut emulator, config) = setup("outage-bucket").await;
    emulator.put_log(701, numbered_log("before-701", 8)).await;
    let s = TestServer::start(config).await;
    let token = s.reader();
    s.wait_gcs("the first sync", |g| g["state"] == "ok").await;

    emulator.kill();
    let down = s
        .wait_gcs("the sync to notice", |g| g["state"] == "error")
        .await;
    assert!(
        down["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{down}"
    );
    let ready = s.get("/readyz", None).await;
    assert_eq!(
        ready.status, 200,
        "an unreachable bucket does not make the daemon unready"
    );
    // What is indexed is still served.
    assert_serves(&s, 701, &token, "before-701", 8).await;
    // A run indexed nowhere cannot be called absent: 503, not 404.
    let r = s.get("/api/v1/runs/702/logs", Some(&token)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error_code(), "storage_unavailable");
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.body["details"]["unavailable"], serde_json::json!(["gcs"]));

    emulator.restart().await;
    emulator.put_log(703, numbered_log("after-703", 2)).await;
    let up = s
        .wait_gcs("the sync to recover", |g| {
            g["state"] == "ok" && g["objects"] == 2
        })
        .await;
    assert_eq!(up["last_error"], Value::Null);
    assert_serves(&s, 703, &token, "after-703", 2).await;
    assert_serves(&s, 701, &token, "before-701", 8).await;
    s.stop().await;
}

/// A loopback HTTP server that answers like a bucket whose downloads break:
/// for `LogFiles/801.txt` it announces 10,000 bytes and closes after 100; for
/// `LogFiles/802.txt` it sends 10 bytes and then stalls. The emulator cannot be
/// made to cut a download short, so this stand-in plays that part; the
/// daemon under test is the real one.
async fn broken_bucket() -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let gets = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = gets.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let meta =
                    "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\nContent-Type: text/plain\r\n\
                            ETag: \"0123456789abcdef0123456789abcdef\"\r\n\
                            Last-Modified: Sun, 29 Nov 2026 05:00:00 GMT\r\n\
                            x-goog-generation: 1\r\nConnection: close\r\n\r\n";
                if line.starts_with("HEAD ") && line.contains("LogFiles") {
                    let _ = conn.write_all(meta.as_bytes()).await;
                } else if line.starts_with("GET ") && line.contains("801") {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = conn.write_all(meta.as_bytes()).await;
                    let _ = conn.write_all(&[b'x'; 100]).await;
                } else if line.starts_with("GET ") && line.contains("802") {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = conn.write_all(meta.as_bytes()).await;
                    let _ = conn.write_all(&[b'y'; 10]).await;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                } else {
                    let _ = conn
                        .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), gets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_or_stalled_download_is_never_indexed() {
    let dirs = Dirs::new();
    let (endpoint, gets) = broken_bucket().await;
    let mut config = dirs.config();
    config.gcs.bucket = Some("broken".into());
    config.gcs.credentials = Some(runlogd::config::GcsCredentials::Anonymous);
    config.gcs.endpoint = Some(endpoint);
    config.gcs.sync_interval_secs = 3600;
    config.gcs.request_timeout_secs = 2;
    config.gcs.max_retries = 1;
    let s = TestServer::start(config).await;
    let token = s.reader();
    let status = s
        .wait_gcs("the failed first sync", |g| g["state"] == "error")
        .await;
    assert!(
        status["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{status}"
    );

    for run in [801, 802] {
        // The stalled download ends by the request timeout; the request
        // itself has no deadline here.
        let r = s
            .get(&format!("/api/v1/runs/{run}/logs"), Some(&token))
            .await;
        assert_eq!(r.status, 503, "run {run}: {}", r.body);
        assert_eq!(r.error_code(), "storage_unavailable");
        let indexed = s.daemon_parts.store.run(run).ok().flatten();
        assert_eq!(
            indexed, None,
            "run {run}: nothing of a broken download is indexed"
        );
        assert_eq!(s.daemon_parts.store.object(run).ok().flatten(), None);
    }
    assert!(gets.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    let left: Vec<_> = std::fs::read_dir(s.data.join("gcs-mirror/broken"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "no copy and no partial file is left: {left:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_can_be_mirrored_into_log_files_itself() {
    let (dirs, emulator, mut config) = setup("repo-bucket").await;
    config.gcs.mirror = runlogd::config::MirrorTarget::Repository;
    emulator
        .put_log(901, numbered_log("into-repo-901", 9))
        .await;
    let s = TestServer::start_watching(config).await;
    let token = s.reader();
    s.wait_gcs("the first sync", |g| {
        g["state"] == "ok" && g["downloaded"] == 1
    })
    .await;
    let copy = std::fs::read_to_string(dirs.log_path(901)).unwrap_or_default();
    assert_eq!(copy, numbered_log("into-repo-901", 9));
    assert!(
        !s.data.join("gcs-mirror").exists(),
        "nothing under the data directory"
    );
    assert_serves(&s, 901, &token, "into-repo-901", 9).await;
    // The copy is a file like any other there: a later local append is seen.
    let mut f = std::fs::File::options()
        .append(true)
        .open(dirs.log_path(901))
        .unwrap_or_else(|e| panic!("{e}"));
    std::io::Write::write_all(&mut f, b"[INFO] into-repo-901 line 10\n")
        .unwrap_or_else(|e| panic!("{e}"));
    drop(f);
    let deadline = Instant::now() + Duration::from_secs(20);
    while run_messages(&s, 901, &token).await.len() != 10 {
        assert!(Instant::now() < deadline, "the append was not indexed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_serves(&s, 901, &token, "into-repo-901", 10).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_the_daemon_serves_and_then_completes_the_mirror() {
    let (dirs, mut emulator, mut config) = setup("midsync-bucket").await;
    config.gcs.download_concurrency = 1;
    let runs: Vec<u64> = (1001..=1040).collect();
    for &run in &runs {
        emulator
            .put_log(run, numbered_log(&format!("mid-{run}"), 3000))
            .await;
    }
    dirs.write_log(1000, numbered_log("local-1000", 10));
    let s = TestServer::start(config).await;
    let token = s.reader();
    // Kill the emulator as soon as the first download lands, while the
    // start-up sync is still going through the other objects (read in-process
    // to react within a millisecond).
    let bucket = s.daemon_parts.bucket.clone();
    let downloaded = || bucket.as_ref().map_or(0, |b| b.status().downloaded);
    let deadline = Instant::now() + Duration::from_secs(30);
    while downloaded() == 0 {
        assert!(Instant::now() < deadline, "no download started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    emulator.kill();
    let downloaded_at_kill = downloaded();
    eprintln!(
        "emulator killed after {downloaded_at_kill} of {} downloads",
        runs.len()
    );
    assert!(
        downloaded_at_kill < runs.len() as u64,
        "the kill came mid-sync"
    );
    let down = s
        .wait_gcs("the failure to show", |g| g["state"] == "error")
        .await;
    assert!(down["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    // Local runs and whatever was mirrored are served meanwhile; a run not
    // mirrored yet is unavailable, not missing.
    assert_serves(&s, 1000, &token, "local-1000", 10).await;
    let mirror = s.data.join("gcs-mirror/midsync-bucket");
    let (mirrored, pending): (Vec<u64>, Vec<u64>) = runs
        .iter()
        .partition(|run| mirror.join(format!("{run}.txt")).exists());
    assert!(
        mirrored.len() as u64 >= downloaded_at_kill,
        "every counted download has its copy: {mirrored:?}"
    );
    for &run in &mirrored {
        assert_serves(&s, run, &token, &format!("mid-{run}"), 3000).await;
    }
    for &run in &pending {
        let r = s
            .get(&format!("/api/v1/runs/{run}/logs"), Some(&token))
            .await;
        assert_eq!(r.status, 503, "run {run}: {}", r.body);
        assert_eq!(r.error_code(), "storage_unavailable");
    }

    emulator.restart().await;
    let up = s
        .wait_gcs("the mirror to complete", |g| {
            g["state"] == "ok" && g["objects"] == runs.len()
        })
        .await;
    assert_eq!(up["last_error"], Value::Null);
    for &run in &runs {
        assert_serves(&s, run, &token, &format!("mid-{run}"), 3000).await;
    }
    let names: Vec<String> = std::fs::read_dir(&mirror)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        names.len(),
        runs.len(),
        "one copy per object, no partial files: {names:?}"
    );
    s.stop().await;
}

/// Verifies a V4 signed URL the way GCS does: rebuild the canonical request
/// (query sorted and strictly percent-encoded, the signature left out; the
/// signed `host` is GCS's own), hash it into the string to sign, and check
/// the RSA-SHA256 (PKCS#1 v1.5) signature against the key's public half.
fn v4_signature_verifies(url: &reqwest::Url, key_pem: &std::path::Path) -> bool {
    use sha2::{Digest, Sha256};
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut query: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "X-Goog-Signature")
        .map(|(k, v)| (enc(k), enc(v)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical = format!(
        "GET\n{}\n{}\nhost:storage.googleapis.com\n\nhost\nUNSIGNED-PAYLOAD",
        url.path(),
        query.join("&")
    );
    let credential = get("X-Goog-Credential");
    let scope = credential
        .split_once('/')
        .map(|(_, s)| s)
        .unwrap_or_default();
    let hashed: String = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let to_sign = format!(
        "GOOG4-RSA-SHA256\n{}\n{scope}\n{hashed}",
        get("X-Goog-Date")
    );
    let signature = get("X-Goog-Signature");
    let signature: Vec<u8> = (0..signature.len() / 2)
        .filter_map(|i| u8::from_str_radix(&signature[2 * i..2 * i + 2], 16).ok())
        .collect();
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::Verifier;
    let pem = std::fs::read_to_string(key_pem).unwrap_or_else(|e| panic!("{e}"));
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
    let public = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.to_public_key());
    rsa::pkcs1v15::Signature::try_from(signature.as_slice())
        .is_ok_and(|sig| public.verify(to_sign.as_bytes(), &sig).is_ok())
}

/// A download cut short by a kill leaves a hidden `.part` file beside the
/// copies; the next start removes it, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_downloads_left_by_a_kill_are_removed_at_start() {
    let (dirs, emulator, config) = setup("stale-bucket").await;
    emulator.put_log(1101, numbered_log("kept-1101", 3)).await;
    let mirror = dirs.data().join("gcs-mirror/stale-bucket");
    std::fs::create_dir_all(&mirror).unwrap_or_else(|e| panic!("{e}"));
    let stale = [".1101.txt.0badf00d.part", ".1102.txt.12345678.part"];
    for name in stale {
        std::fs::write(mirror.join(name), "half a download")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Not partial downloads: left alone.
    let others = [".notes", "readme.part"];
    for name in others {
        std::fs::write(mirror.join(name), "someone else's")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let s = TestServer::start(config).await;
    let token = s.reader();
    for name in stale {
        assert!(!mirror.join(name).exists(), "{name} is removed at start");
    }
    for name in others {
        assert!(mirror.join(name).exists(), "{name} is kept");
    }
    s.wait_gcs("the first sync", |g| g["state"] == "ok").await;
    assert_serves(&s, 1101, &token, "kept-1101", 3).await;
    s.stop().await;
}
