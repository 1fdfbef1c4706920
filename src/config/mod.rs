//! The daemon's configuration: one typed struct, read from a TOML file and
//! then overridden by environment variables and command-line flags (clap
//! merges those two; see `main.rs`), in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::parse::RuleConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// SAMPLE_REPOSITORY: logs are read from its `LogFiles/`. When unset, the
    /// daemon serves the example repository bundled in the binary.
    pub repository: Option<PathBuf>,
    /// Where the index, the state database and the cursor key live.
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub rate_limit: RateLimitConfig,
    pub index: IndexConfig,
    pub parser: ParserConfig,
    pub watch: WatchConfig,
    pub gcs: GcsConfig,
    pub metrics: MetricsConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
}

/// Tokens runlogd does not know itself, checked with the Sample Platform
/// that minted them (see `auth::platform`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The platform's base URL (`https://platform.example.org`); unset:
    /// only runlogd's own tokens are accepted.
    pub platform_url: Option<String>,
    /// How long an accepted token is trusted without asking again: the
    /// longest a token revoked on the platform keeps working here.
    pub platform_cache_secs: u64,
    /// How long a token the platform refused is refused without asking.
    pub platform_negative_cache_secs: u64,
    /// How long one call to the platform may take.
    pub platform_timeout_secs: u64,
    /// Accept a plain-`http` URL that is not a loopback address (tokens
    /// would cross the network in the clear).
    pub platform_allow_http: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            platform_url: None,
            platform_cache_secs: 60,
            platform_negative_cache_secs: 5,
            platform_timeout_secs: 5,
            platform_allow_http: false,
        }
    }
}

/// `GET /metrics` (Prometheus text format, no token).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `false` turns `/metrics` off.
    pub enabled: bool,
    /// Serve `/metrics` on this address of its own instead of on `listen`
    /// (which then does not serve it).
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: None,
        }
    }
}

/// Limits that keep one client, or many, from starving the others.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request not answered within this time is a 503 `timeout`.
    pub request_timeout_secs: u64,
    /// Requests handled at once; more are refused at once with 503
    /// `overloaded` and `Retry-After`, not queued.
    pub max_concurrent_requests: usize,
    /// Longest request target (path and query), else 414.
    pub max_uri_bytes: usize,
    /// Largest request head (all header names and values), else 431.
    pub max_header_bytes: usize,
    /// A connection that has not sent a whole request head within this time
    /// (a slow client, or an idle keep-alive connection) is closed.
    pub header_read_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout_secs: 30,
            max_concurrent_requests: 512,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout_secs: 10,
        }
    }
}

/// The Google Cloud Storage bucket that mirrors `LogFiles/` (see `bucket`).
/// With no bucket set, runlogd is local-only.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GcsConfig {
    pub bucket: Option<String>,
    /// Object name prefix of the logs: objects are `{prefix}{run_id}.txt`.
    pub prefix: String,
    /// How to authenticate; required when a bucket is set, so the daemon
    /// never reaches for the cloud metadata server unless told to.
    pub credentials: Option<GcsCredentials>,
    /// Service-account JSON whose key signs raw-download URLs, when the
    /// `credentials` cannot (anonymous, or ADC without a private key).
    pub signing_key: Option<PathBuf>,
    /// Base URL of the storage API (`https://storage.googleapis.com`). When
    /// unset, `STORAGE_EMULATOR_HOST` is honoured as Google's clients do.
    pub endpoint: Option<String>,
    /// Where downloaded objects are written.
    pub mirror: MirrorTarget,
    /// How often the bucket is listed for new, changed and deleted objects.
    pub sync_interval_secs: u64,
    /// What a deleted object does to its run.
    pub on_delete: OnDelete,
    /// Lifetime of a raw-download signed URL (at most 7 days).
    pub signed_url_expiry_secs: u64,
    /// How long a run found in neither place is remembered as absent, so a
    /// flood of unknown ids does not become a flood of bucket calls.
    pub miss_cache_secs: u64,
    /// Timeout of one request to the bucket (a download may take several).
    pub request_timeout_secs: u64,
    /// Retries of a failed request, with exponential backoff.
    pub max_retries: usize,
    /// Objects downloaded at once during a sync.
    pub download_concurrency: usize,
}

/// `credentials` in `[gcs]`: one of the two keywords, or else the path of a
/// service-account JSON key file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(from = "String")]
pub enum GcsCredentials {
    /// `"application_default"`: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
    /// user credentials, or, on a Google Cloud machine, its metadata server.
    ApplicationDefault,
    /// `"anonymous"`: unsigned requests (a public bucket, or an emulator).
    Anonymous,
    ServiceAccountFile(PathBuf),
}

impl From<String> for GcsCredentials {
    fn from(s: String) -> Self {
        match s.as_str() {
            "application_default" => GcsCredentials::ApplicationDefault,
            "anonymous" => GcsCredentials::Anonymous,
            _ => GcsCredentials::ServiceAccountFile(PathBuf::from(s)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MirrorTarget {
    /// `{data}/gcs-mirror/`: the repository is never written to.
    #[default]
    Data,
    /// The repository's `LogFiles/` itself, when it is writable (otherwise
    /// the data directory, with a warning).
    Repository,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    /// The downloaded copy stays and its run stays searchable.
    #[default]
    Keep,
    /// The downloaded copy is removed; the run stays only if `LogFiles/`
    /// has its own file.
    Drop,
}

impl Default for GcsConfig {
    fn default() -> Self {
        GcsConfig {
            bucket: None,
            prefix: "LogFiles/".into(),
            credentials: None,
            signing_key: None,
            endpoint: None,
            mirror: MirrorTarget::Data,
            sync_interval_secs: 60,
            on_delete: OnDelete::Keep,
            signed_url_expiry_secs: 12 * 3600,
            miss_cache_secs: 30,
            request_timeout_secs: 60,
            max_retries: 3,
            download_concurrency: 4,
        }
    }
}

/// How file-system changes reach the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// inotify, unless `LogFiles/` is on a network or FUSE file system
    /// (NFS, CIFS, gcsfuse...) where inotify sees nothing: then poll.
    #[default]
    Auto,
    Inotify,
    Poll,
    /// No watching: only the start-up scan, first requests and the periodic reconcile.
    None,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    pub mode: WatchMode,
    /// How often poll mode looks at the folder.
    pub poll_interval_ms: u64,
    /// How long file events are gathered before they are applied together.
    pub debounce_ms: u64,
    /// How long a file must be unchanged before a last line without a
    /// newline is indexed (a writer may still be appending to it).
    pub quiet_ms: u64,
    /// How often the whole folder is compared with the index, to repair
    /// anything an event missed. 0 turns it off.
    pub reconcile_interval_secs: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            mode: WatchMode::Auto,
            poll_interval_ms: 500,
            debounce_ms: 100,
            quiet_ms: 1000,
            reconcile_interval_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per minute per token.
    pub requests_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// Indexing heap of the tantivy writer, in MiB.
    pub writer_memory_mb: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ParserConfig {
    /// Operator rules, tried before the built-in ones.
    pub rules: Vec<RuleConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            repository: None,
            data: PathBuf::from("runlogd-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log_format: LogFormat::Human,
            rate_limit: RateLimitConfig::default(),
            index: IndexConfig::default(),
            parser: ParserConfig::default(),
            watch: WatchConfig::default(),
            gcs: GcsConfig::default(),
            metrics: MetricsConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            requests_per_minute: 120,
        }
    }
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            writer_memory_mb: 128,
        }
    }
}

impl Config {
    /// Reads a config file; keys it does not set keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.watch.debounce_ms == 0 || self.watch.poll_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "watch.debounce_ms and watch.poll_interval_ms must be at least 1".into(),
            ));
        }
        if self.rate_limit.requests_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "rate_limit.requests_per_minute must be at least 1".into(),
            ));
        }
        let http = &self.http;
        if http.request_timeout_secs == 0
            || http.max_concurrent_requests == 0
            || http.header_read_timeout_secs == 0
            || http.max_uri_bytes < 256
            || http.max_header_bytes < 1024
        {
            return Err(ConfigError::Invalid(
                "http: the timeouts and max_concurrent_requests must be at least 1, \
                 max_uri_bytes at least 256 and max_header_bytes at least 1024"
                    .into(),
            ));
        }
        if self.metrics.listen.is_some_and(|m| m == self.listen) {
            return Err(ConfigError::Invalid(
                "metrics.listen must differ from listen (leave it unset to serve /metrics on listen)"
                    .into(),
            ));
        }
        self.validate_auth()?;
        if let Some(bucket) = &self.gcs.bucket {
            let gcs = &self.gcs;
            if bucket.is_empty() || bucket.contains('/') {
                return Err(ConfigError::Invalid(format!(
                    "gcs.bucket {bucket:?} is not a bucket name"
                )));
            }
            if gcs.credentials.is_none() {
                return Err(ConfigError::Invalid(
                    "gcs.credentials must be set when gcs.bucket is: the path of a \
                     service-account JSON file, \"application_default\", or \"anonymous\""
                        .into(),
                ));
            }
            if gcs.sync_interval_secs == 0 || gcs.request_timeout_secs == 0 {
                return Err(ConfigError::Invalid(
                    "gcs.sync_interval_secs and gcs.request_timeout_secs must be at least 1".into(),
                ));
            }
            if !(1..=604_800).contains(&gcs.signed_url_expiry_secs) {
                return Err(ConfigError::Invalid(
                    "gcs.signed_url_expiry_secs must be from 1 to 604800 (7 days)".into(),
                ));
            }
            if gcs.download_concurrency == 0 {
                return Err(ConfigError::Invalid(
                    "gcs.download_concurrency must be at least 1".into(),
                ));
            }
            if !gcs.prefix.is_empty() && !gcs.prefix.ends_with('/') {
                return Err(ConfigError::Invalid(format!(
                    "gcs.prefix {:?} must be empty or end with '/'",
                    gcs.prefix
                )));
            }
        }
        Ok(())
    }

    /// The `LogFiles/` folder of the configured repository.
    /// The platform URL must be one a token may be sent to: `https`, or
    /// `http` to a loopback address (or anywhere, if the operator says so).
    fn validate_auth(&self) -> Result<(), ConfigError> {
        let auth = &self.auth;
        let Some(text) = &auth.platform_url else {
            return Ok(());
        };
        let url = url::Url::parse(text).map_err(|e| {
            ConfigError::Invalid(format!("auth.platform_url {text:?} is not a URL: {e}"))
        })?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback || auth.platform_allow_http => {}
            "http" => {
                return Err(ConfigError::Invalid(format!(
                    "auth.platform_url {text:?} is plain http to another machine: tokens would \
                     cross the network in the clear; use https, or set \
                     auth.platform_allow_http = true"
                )))
            }
            other => {
                return Err(ConfigError::Invalid(format!(
                    "auth.platform_url {text:?}: the scheme must be https (or http), not {other:?}"
                )))
            }
        }
        if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::Invalid(format!(
                "auth.platform_url {text:?} needs a host and no user or password"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid(format!(
                "auth.platform_url {text:?} must be a base URL, without a query or fragment"
            )));
        }
        if auth.platform_timeout_secs == 0 || auth.platform_cache_secs == 0 {
            return Err(ConfigError::Invalid(
                "auth.platform_timeout_secs and auth.platform_cache_secs must be at least 1".into(),
            ));
        }
        Ok(())
    }

    pub fn log_dir(repository: &Path) -> PathBuf {
        repository.join("LogFiles")
    }
}

#[cfg(test)]
mod tests;
