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
        Ok(())
    }

    /// The `LogFiles/` folder of the configured repository.
    pub fn log_dir(repository: &Path) -> PathBuf {
        repository.join("LogFiles")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_override_defaults_and_unknown_keys_are_refused() {
        let c = Config::from_toml(
            r#"
            repository = "/srv/repo"
            listen = "0.0.0.0:9000"
            log_format = "json"
            [rate_limit]
            requests_per_minute = 5
            [[parser.rules]]
            pattern = '^\[SKIP\]'
            level = "warning"
            "#,
        )
        .unwrap_or_default();
        assert_eq!(c.repository, Some(PathBuf::from("/srv/repo")));
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.rate_limit.requests_per_minute, 5);
        assert_eq!(c.parser.rules.len(), 1);
        assert_eq!(c.data, PathBuf::from("runlogd-data"));
        assert!(Config::from_toml("listen_addr = \"x\"").is_err());
        assert!(Config::from_toml("[rate_limit]\nrequests_per_minute = -1").is_err());
    }

    #[test]
    fn the_shipped_example_config_parses() {
        let text = include_str!("../systemd/runlogd.toml");
        let c = Config::from_toml(text);
        assert!(c.is_ok(), "{c:?}");
    }
}
