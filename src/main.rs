//! The `runlogd` command line: `serve`, and `token create|list|revoke`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use runlogd::auth;
use runlogd::config::{Config, LogFormat};
use runlogd::daemon;

#[derive(Parser)]
#[command(
    name = "runlogd",
    version,
    about = "Indexes CI run logs and serves the run-log API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index the repository's LogFiles/ and serve GET /api/v1/runs/{run_id}/logs.
    Serve(ServeArgs),
    /// Index the whole repository once, with progress, and exit.
    Index(IndexArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
}

/// Settings every command shares.
#[derive(Args)]
struct Common {
    /// TOML configuration file.
    #[arg(long, env = "RUNLOGD_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory (index, state database, cursor key).
    #[arg(long, env = "RUNLOGD_DATA", global = true)]
    data: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// SAMPLE_REPOSITORY folder; logs are read from its LogFiles/.
    #[arg(long, env = "RUNLOGD_REPOSITORY")]
    repository: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, env = "RUNLOGD_LISTEN")]
    listen: Option<SocketAddr>,
    /// Log output format.
    #[arg(long, env = "RUNLOGD_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// GCS bucket that mirrors LogFiles/ (objects {prefix}{run_id}.txt).
    #[arg(long, env = "RUNLOGD_GCS_BUCKET")]
    gcs_bucket: Option<String>,
    /// Bucket credentials: a service-account JSON file, "application_default" or "anonymous".
    #[arg(long, env = "RUNLOGD_GCS_CREDENTIALS")]
    gcs_credentials: Option<String>,
    /// Storage API base URL (default: Google's; STORAGE_EMULATOR_HOST is honoured).
    #[arg(long, env = "RUNLOGD_GCS_ENDPOINT")]
    gcs_endpoint: Option<String>,
    /// The Sample Platform's base URL: tokens runlogd does not know are
    /// checked with its /api/v1/auth/me.
    #[arg(long, env = "RUNLOGD_AUTH_PLATFORM_URL")]
    auth_platform_url: Option<String>,
    /// Serve GET /metrics on this address of its own instead of on --listen.
    #[arg(long, env = "RUNLOGD_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Serve GET /metrics at all (true or false).
    #[arg(long, env = "RUNLOGD_METRICS_ENABLED")]
    metrics_enabled: Option<bool>,
}

#[derive(Args)]
struct IndexArgs {
    #[command(flatten)]
    common: Common,
    /// SAMPLE_REPOSITORY folder; logs are read from its LogFiles/.
    #[arg(long, env = "RUNLOGD_REPOSITORY")]
    repository: Option<PathBuf>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; the token is printed alone on the last line of stdout.
    Create {
        #[command(flatten)]
        common: Common,
        /// Scopes, comma-separated or repeated (e.g. system:read).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Lifetime in days (1-30).
        #[arg(long, default_value_t = auth::DEFAULT_DAYS)]
        days: u32,
        /// A name to recognise the token by in `token list`.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Revoke a token by id.
    Revoke {
        #[command(flatten)]
        common: Common,
        id: i64,
    },
}

fn load(common: &Common) -> anyhow::Result<Config> {
    let mut config = match &common.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(data) = &common.data {
        config.data = data.clone();
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runlogd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            // First, before any thread or file exists: the data directory's
            // files are created by SQLite and tantivy, and only the umask
            // keeps them private.
            daemon::private_umask();
            let mut config = load(&args.common)?;
            if let Some(r) = args.repository {
                config.repository = Some(r);
            }
            if let Some(l) = args.listen {
                config.listen = l;
            }
            if let Some(f) = args.log_format {
                config.log_format = f;
            }
            if let Some(b) = args.gcs_bucket {
                config.gcs.bucket = Some(b);
            }
            if let Some(c) = args.gcs_credentials {
                config.gcs.credentials = Some(c.into());
            }
            if let Some(e) = args.gcs_endpoint {
                config.gcs.endpoint = Some(e);
            }
            if let Some(u) = args.auth_platform_url {
                config.auth.platform_url = Some(u);
            }
            if let Some(m) = args.metrics_listen {
                config.metrics.listen = Some(m);
            }
            if let Some(m) = args.metrics_enabled {
                config.metrics.enabled = m;
            }
            daemon::init_tracing(config.log_format, "info,tantivy=warn");
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(daemon::serve(config))
        }
        Command::Index(args) => {
            daemon::private_umask();
            let mut config = load(&args.common)?;
            if let Some(r) = args.repository {
                config.repository = Some(r);
            }
            daemon::init_tracing(config.log_format, "info,tantivy=warn");
            let summary = runlogd::daemon::index_once::run(&config)?;
            println!(
                "indexed {} runs ({} appended, {} unchanged, {} removed), {} lines, in {:.2} s",
                summary.indexed,
                summary.appended,
                summary.unchanged,
                summary.removed,
                summary.lines,
                summary.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Command::Token { action } => {
            daemon::private_umask();
            daemon::init_tracing(LogFormat::Human, "warn");
            token(action)
        }
    }
}

fn token(action: TokenCommand) -> anyhow::Result<()> {
    match action {
        TokenCommand::Create {
            common,
            scopes,
            days,
            name,
        } => {
            let store = daemon::open_store(&load(&common)?.data)?;
            let scopes: Vec<String> = scopes
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            let (id, token) = auth::create_token(&store, &scopes, days, &name)?;
            println!(
                "token {id} created (scopes: {}, expires in {days} days); it is shown only once:",
                scopes.join(",")
            );
            println!("{token}");
        }
        TokenCommand::List { common } => {
            let store = daemon::open_store(&load(&common)?.data)?;
            println!(
                "{:>4}  {:<20} {:<28} {:<22} state",
                "id", "name", "scopes", "expires"
            );
            let now = runlogd::store::unix_now();
            for t in store.tokens()? {
                let state = match t.revoked_at {
                    Some(_) => "revoked",
                    None if t.expires_at <= now => "expired",
                    None => "active",
                };
                println!(
                    "{:>4}  {:<20} {:<28} {:<22} {state}",
                    t.id,
                    t.name,
                    t.scopes.join(","),
                    format_unix(t.expires_at),
                );
            }
        }
        TokenCommand::Revoke { common, id } => {
            let store = daemon::open_store(&load(&common)?.data)?;
            if !store.revoke_token(id)? {
                anyhow::bail!("no token with id {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn format_unix(secs: i64) -> String {
    runlogd::time_format::from_unix_seconds(secs).unwrap_or_else(|| secs.to_string())
}
