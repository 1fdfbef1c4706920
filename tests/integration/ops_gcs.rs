//! The bucket sync as `/metrics` reports it, against a real fake-gcs-server
//! on 127.0.0.1 (see `gcs` for what the emulator needs).

use crate::common::gcs::Emulator;
use crate::common::{metric_value, own_process, scrape, Dirs, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_sync_state_objects_downloads_and_failures_are_exported() {
    if !own_process(
        module_path!(),
        "the_bucket_sync_state_objects_downloads_and_failures_are_exported",
    ) {
        return;
    }
    let dirs = Dirs::new();
    let mut emulator = Emulator::start(&dirs.root.path().join("gcs"), "metrics-bucket").await;
    let mut config = dirs.config();
    emulator.configure(&mut config);
    emulator.put_log(601, "[INFO] from the bucket\n").await;
    emulator.put_log(602, "[ERROR] from the bucket too\n").await;
    let s = TestServer::start(config).await;
    s.wait_gcs("the first sync", |g| g["state"] == "ok").await;

    let text = scrape(&s.base).await;
    assert_eq!(
        metric_value(&text, r#"runlogd_gcs_sync_state{state="ok"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, r#"runlogd_gcs_sync_state{state="error"}"#),
        Some(0.0)
    );
    assert_eq!(metric_value(&text, "runlogd_gcs_objects"), Some(2.0));
    assert!(metric_value(&text, "runlogd_gcs_downloads_total").is_some_and(|v| v >= 2.0));
    assert!(metric_value(&text, "runlogd_gcs_sync_passes_total").is_some_and(|v| v >= 1.0));
    // A Unix time after 2020.
    assert!(
        metric_value(&text, "runlogd_gcs_last_success_timestamp_seconds")
            .is_some_and(|t| t > 1.6e9)
    );

    emulator.kill();
    s.wait_gcs("the sync to notice", |g| g["state"] == "error")
        .await;
    let text = scrape(&s.base).await;
    assert_eq!(
        metric_value(&text, r#"runlogd_gcs_sync_state{state="error"}"#),
        Some(1.0),
        "{text}"
    );
    assert!(metric_value(&text, "runlogd_gcs_sync_consecutive_failures").is_some_and(|v| v >= 1.0));
    assert!(metric_value(&text, "runlogd_gcs_sync_failures_total").is_some_and(|v| v >= 1.0));
    s.stop().await;
}
