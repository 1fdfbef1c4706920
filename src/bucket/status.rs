//! What the bucket sync reports: its state for `/readyz` and `/metrics`, what
//! one pass did, and how long it waits after failing.

use std::time::Duration;

use serde::Serialize;

/// The sync's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    /// No sync pass has finished yet.
    Starting,
    /// The last pass listed the bucket and mirrored every change.
    Ok,
    /// The last pass failed, or some objects in it could not be mirrored.
    Error,
}

impl SyncState {
    pub const ALL: [SyncState; 3] = [SyncState::Starting, SyncState::Ok, SyncState::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Starting => "starting",
            SyncState::Ok => "ok",
            SyncState::Error => "error",
        }
    }
}

/// The sync's state, as `/readyz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub state: SyncState,
    pub bucket: String,
    pub prefix: String,
    /// Run objects seen at the last successful listing.
    pub objects: u64,
    /// Objects downloaded since start (by syncs and first requests).
    pub downloaded: u64,
    /// Sync passes that completed (listing done, changes applied).
    pub passes: u64,
    pub last_sync: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
}

impl SyncStatus {
    /// The status as plain values for the `runlogd_gcs_*` metrics.
    pub fn gauges(&self) -> crate::metrics::GcsGauges {
        crate::metrics::GcsGauges {
            states: SyncState::ALL
                .iter()
                .map(|&s| (s.as_str(), s == self.state))
                .collect(),
            objects: self.objects,
            downloaded: self.downloaded,
            passes: self.passes,
            consecutive_failures: self.consecutive_failures,
            last_success_unix: self
                .last_success
                .as_deref()
                .and_then(crate::time_format::parse_unix_seconds),
        }
    }

    pub fn new(bucket: String, prefix: String) -> SyncStatus {
        SyncStatus {
            state: SyncState::Starting,
            bucket,
            prefix,
            objects: 0,
            downloaded: 0,
            passes: 0,
            last_sync: None,
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
        }
    }
}

/// What one sync pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub listed: u64,
    pub downloaded: u64,
    pub superseded_locally: u64,
    pub forgotten: u64,
    pub failed: u64,
}

/// The longest wait before retrying a sync that failed.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// How long to wait after the `failures`-th failure in a row: 1 s, doubling,
/// up to [`MAX_RETRY_WAIT`], and never longer than the sync interval.
pub fn retry_wait(failures: u32, interval: Duration) -> Duration {
    let doubled = Duration::from_secs(1u64 << failures.clamp(1, 16).saturating_sub(1));
    doubled.min(MAX_RETRY_WAIT).min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_a_minute_within_the_interval() {
        let hour = Duration::from_secs(3600);
        let waits: Vec<u64> = (1..=9).map(|f| retry_wait(f, hour).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_wait(u32::MAX, hour), MAX_RETRY_WAIT);
        assert_eq!(retry_wait(9, Duration::from_secs(10)).as_secs(), 10);
    }

    #[test]
    fn the_state_is_shown_in_lowercase() -> serde_json::Result<()> {
        for state in SyncState::ALL {
            assert_eq!(serde_json::to_value(state)?, state.as_str());
        }
        assert_eq!(SyncState::Starting.as_str(), "starting");
        Ok(())
    }
}
