//! Building the bucket client from `[gcs]`: endpoint, credentials, signing
//! key, timeouts and retries.
//!
//! The metadata server (169.254.169.254) is reached only when the operator
//! chose `credentials = "application_default"` and no key file provides the
//! credentials: anonymous and key-file setups never fall back to it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::gcp::{
    GcpCredential, GcpSigningCredential, GoogleCloudStorage, GoogleCloudStorageBuilder,
    ServiceAccountKey,
};
use object_store::{BackoffConfig, ClientOptions, RetryConfig, StaticCredentialProvider};
use serde::Deserialize;

use super::SyncError;
use crate::config::{GcsConfig, GcsCredentials};

/// The environment variable Google's own clients read to reach an emulator.
pub const EMULATOR_HOST_VAR: &str = "STORAGE_EMULATOR_HOST";

/// A configured client, and whether it can sign download URLs.
pub struct Client {
    pub storage: GoogleCloudStorage,
    pub can_sign: bool,
    pub base_url: Option<String>,
}

/// The part of a service-account JSON key file that signing needs.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
}

pub fn build(config: &GcsConfig, bucket: &str) -> Result<Client, SyncError> {
    let invalid = |m: String| SyncError::Config(m);
    let base_url = endpoint(
        config.endpoint.as_deref(),
        std::env::var(EMULATOR_HOST_VAR).ok().as_deref(),
    );
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let mut options = ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(Duration::from_secs(5).min(timeout));
    let mut builder = GoogleCloudStorageBuilder::new().with_bucket_name(bucket);
    if let Some(url) = &base_url {
        if url.starts_with("http://") {
            options = options.with_allow_http(true);
        }
        builder = builder.with_base_url(url);
    }
    builder = builder
        .with_client_options(options)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: config.max_retries,
            retry_timeout: timeout * 2,
        });

    let mut can_sign = false;
    match &config.credentials {
        None => return Err(invalid("gcs.credentials is not set".into())),
        Some(GcsCredentials::Anonymous) => {
            // A static empty bearer keeps the builder from looking for
            // credentials anywhere, the metadata server included.
            builder = builder.with_skip_signature(true).with_credentials(Arc::new(
                StaticCredentialProvider::new(GcpCredential {
                    bearer: String::new(),
                }),
            ));
        }
        Some(GcsCredentials::ServiceAccountFile(path)) => {
            if !path.is_file() {
                return Err(invalid(format!(
                    "gcs.credentials file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.with_service_account_path(path.to_string_lossy());
            can_sign = true;
        }
        Some(GcsCredentials::ApplicationDefault) => {
            can_sign = true;
        }
    }
    if let Some(key) = &config.signing_key {
        builder = builder.with_signing_credentials(Arc::new(StaticCredentialProvider::new(
            signing_credential(key)?,
        )));
        can_sign = true;
    }
    let storage = builder.build()?;
    Ok(Client {
        storage,
        can_sign,
        base_url,
    })
}

/// The storage API's base URL: the configured endpoint, else the emulator
/// host (`host:port` or a URL, as Google's clients accept it), else the
/// client's default (Google's public endpoint).
pub fn endpoint(configured: Option<&str>, emulator_host: Option<&str>) -> Option<String> {
    let raw = configured
        .or(emulator_host)
        .map(str::trim)
        .filter(|s| !s.is_empty())?;
    let url = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    Some(url.trim_end_matches('/').to_owned())
}

/// Reads a service-account key file and keeps its private key for signing
/// locally (no signBlob call).
fn signing_credential(path: &Path) -> Result<GcpSigningCredential, SyncError> {
    let text = std::fs::read_to_string(path).map_err(|source| SyncError::Io {
        path: path.to_owned(),
        source,
    })?;
    let key: KeyFile = serde_json::from_str(&text).map_err(|e| {
        SyncError::Config(format!(
            "gcs.signing_key {} is not a service-account key file: {e}",
            path.display()
        ))
    })?;
    let private_key = ServiceAccountKey::from_pem(key.private_key.as_bytes()).map_err(|e| {
        SyncError::Config(format!(
            "gcs.signing_key {}: cannot read the private key: {e}",
            path.display()
        ))
    })?;
    Ok(GcpSigningCredential {
        email: key.client_email,
        private_key: Some(private_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_host_maps_to_a_base_url_and_config_wins() {
        assert_eq!(endpoint(None, None), None);
        assert_eq!(
            endpoint(None, Some("localhost:9023")).as_deref(),
            Some("http://localhost:9023")
        );
        assert_eq!(
            endpoint(None, Some("http://127.0.0.1:4443/")).as_deref(),
            Some("http://127.0.0.1:4443")
        );
        assert_eq!(
            endpoint(Some("https://storage.example"), Some("localhost:1")).as_deref(),
            Some("https://storage.example")
        );
        assert_eq!(endpoint(Some(" "), None), None);
    }

    #[test]
    fn a_bad_signing_key_is_a_config_error() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("sa.json");
        std::fs::write(&key, r#"{"client_email":"a@b","private_key":"not a key"}"#)?;
        let config = GcsConfig {
            credentials: Some(GcsCredentials::Anonymous),
            signing_key: Some(key),
            ..GcsConfig::default()
        };
        assert!(matches!(build(&config, "b"), Err(SyncError::Config(_))));
        Ok(())
    }
}
