//! `bitatlas serve`: stdio by default, streamable HTTP with `--http ADDR`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Exit;
use crate::config::{ConfigFile, default_data_dir};
use crate::runtime;
use crate::transport::auth::{Authenticator, LoopbackDefault, TokenAuthenticator};
use crate::transport::{HttpOptions, TenantLimits, check_bind, serve_http, serve_stdio};

/// `serve` arguments.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Serve streamable HTTP at ADDR (e.g. 127.0.0.1:8080) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Configuration file (default: none, the embedded local-store setup).
    #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory for the default store, keyrings and audit file.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Country attested for the default local store (ISO 3166 alpha-2, must be in the EEA).
    #[arg(long, value_name = "CC")]
    pub attest_country: Option<String>,
    /// Browser origin allowed to call the HTTP endpoint (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Value of the `Host` header accepted over HTTP (repeatable; `name` or `name:port`).
    /// Required when `--http` binds a non-loopback address.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log output format.
#[derive(Debug, Default, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

pub fn run(args: ServeArgs) -> Exit {
    init_logging(args.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bitatlas: cannot start runtime: {e}");
            return Exit::Failure;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("bitatlas: {e:#}");
            if format!("{e:#}").contains("POLICY_") {
                Exit::PolicyDenied
            } else {
                Exit::Failure
            }
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => crate::config::load(path)?,
        None => ConfigFile::default(),
    };
    if let Some(cc) = args.attest_country.clone() {
        config.server.local_country = Some(cc);
    }
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| config.server.data_dir.clone())
        .unwrap_or_else(default_data_dir);
    let config = runtime::with_defaults(config, &data_dir);
    // Validate the HTTP set-up before touching stores or the audit trail.
    let tokens = TokenAuthenticator::from_tenants(&config.tenants)?;
    let mut allowed_hosts = config.http.allowed_hosts.clone();
    allowed_hosts.extend(args.allowed_hosts.iter().cloned());
    if let Some(addr) = args.http {
        check_bind(addr, tokens.is_some(), &allowed_hosts)?;
        check_http_limits(&config.http)?;
    }
    let rt = runtime::build(&config, &data_dir).await?;
    let transport = match args.http {
        Some(addr) => format!("http://{addr}/mcp"),
        None => "stdio".into(),
    };
    eprintln!(
        "bitatlas {} serving on {transport}; data dir {}; {}",
        env!("CARGO_PKG_VERSION"),
        data_dir.display(),
        rt.banner.join("; ")
    );
    let warm = rt.service.clone();
    tokio::spawn(async move { warm.warm_up().await });
    let service = rt.service.clone();
    let result = match args.http {
        None => serve_stdio(rt.service, rt.stdio_tenant).await,
        Some(addr) => {
            let mut origins = config.http.allowed_origins.clone();
            origins.extend(args.allow_origins.iter().cloned());
            if addr.ip().is_loopback() {
                origins.extend(["http://localhost:*".into(), "http://127.0.0.1:*".into()]);
            }
            let authenticator: Arc<dyn Authenticator> = match tokens {
                Some(tokens) => Arc::new(tokens),
                None => Arc::new(LoopbackDefault {
                    tenant: rt.stdio_tenant,
                }),
            };
            serve_http(
                rt.service,
                HttpOptions {
                    addr,
                    authenticator,
                    allowed_origins: origins,
                    allowed_hosts,
                    limits: TenantLimits {
                        max_in_flight: config.http.max_in_flight_per_tenant,
                        rate_per_second: config.http.rate_per_second,
                        burst: config.http.burst,
                    },
                    request_timeout: Duration::from_secs(config.http.request_timeout_secs),
                },
            )
            .await
        }
    };
    service.shutdown();
    result
}

/// `[http]` values that would disable a limit by accident are refused.
fn check_http_limits(http: &crate::config::HttpSection) -> anyhow::Result<()> {
    if !(http.rate_per_second.is_finite() && http.rate_per_second > 0.0) {
        anyhow::bail!("[http] rate_per_second must be a positive number");
    }
    if http.burst == 0 {
        anyhow::bail!("[http] burst must be at least 1");
    }
    if http.max_in_flight_per_tenant == 0 {
        anyhow::bail!("[http] max_in_flight_per_tenant must be at least 1");
    }
    if http.request_timeout_secs == 0 {
        anyhow::bail!("[http] request_timeout_secs must be at least 1");
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BITATLAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // rmcp's session manager logs session ids (and puts them in a span around every call);
    // they are bearer secrets, so that target stays silent whatever BITATLAS_LOG asks for.
    let filter = match "rmcp::transport::streamable_http_server::session=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
