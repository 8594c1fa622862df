//! `bitatlas serve`: stdio by default, streamable HTTP with `--http ADDR`.

use std::io::IsTerminal as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Exit;
use crate::config::{ConfigFile, default_data_dir};
use crate::runtime::{self, StartupError};
use crate::transport::auth::{Authenticator, LoopbackDefault, NoStaticTokens, TokenAuthenticator};
use crate::transport::oauth::OAuth;
use crate::transport::{
    ConnectionLimits, HttpOptions, ReadinessCheck, SessionLimits, TenantLimits, bind_http,
    serve_http, serve_stdio,
};

/// `serve` arguments.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Serve streamable HTTP at ADDR instead of stdio: `127.0.0.1:8080`, `[::1]:8080`,
    /// `localhost:8080`, or a bare port (`8080`, meaning 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR", value_parser = parse_http_addr)]
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
    /// Directory that `put {path}` may read from and `get {save_to}` may write to
    /// (repeatable; adds to `[files] roots`). Local files are off without one.
    #[arg(long = "files-root", value_name = "DIR", value_parser = parse_files_root)]
    pub files_roots: Vec<PathBuf>,
    /// Serve only `get`, `list`, `search` and the GET forms of `presign` and `transfer`
    /// (adds to `[server] read_only`).
    #[arg(long)]
    pub read_only: bool,
    /// Serve only these tools, comma-separated (`get,list,search`); replaces `[server] tools`.
    #[arg(long, value_name = "TOOLS", value_delimiter = ',')]
    pub tools: Option<Vec<String>>,
    /// Log format on stderr (the start-up banner and a start-up error follow it too).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log output format.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `--http` value: an IP socket address, `localhost:PORT`, or a bare port on loopback.
/// Other host names are refused rather than resolved: what is bound must be what was checked.
fn parse_http_addr(s: &str) -> Result<SocketAddr, String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|_| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{p:?} is not a port number (0-65535)"))
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port(s)?)));
    }
    if let Some(p) = s.strip_prefix("localhost:") {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port(p)?)));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        format!(
            "{s:?} is not an address to listen on: give PORT, localhost:PORT, IPv4:PORT or \
             [IPv6]:PORT"
        )
    })
}

/// A `--files-root` value, made absolute against the current directory (as a shell user
/// means it); whether it exists is checked at start-up.
fn parse_files_root(s: &str) -> Result<PathBuf, String> {
    std::path::absolute(s).map_err(|e| format!("{s:?} is not a usable directory path: {e}"))
}

/// Why `serve` stopped: start-up failures keep their type, so the exit code comes from it.
enum ServeError {
    Startup(StartupError),
    Other(anyhow::Error),
}

impl From<StartupError> for ServeError {
    fn from(e: StartupError) -> Self {
        ServeError::Startup(e)
    }
}

impl From<anyhow::Error> for ServeError {
    fn from(e: anyhow::Error) -> Self {
        ServeError::Other(e)
    }
}

pub fn run(args: ServeArgs) -> Exit {
    let format = args.log_format;
    init_logging(format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report_error(format, &format!("cannot start runtime: {e}"), None);
            return Exit::Failure;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => Exit::Ok,
        Err(ServeError::Startup(e)) => {
            let code = e.residency_code();
            report_error(format, &e.to_string(), code.map(|c| c.as_str()));
            Exit::from(&e)
        }
        Err(ServeError::Other(e)) => {
            report_error(format, &format!("{e:#}"), None);
            Exit::Failure
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let mut config = match &args.config {
        Some(path) => crate::config::load(path)?,
        None => ConfigFile::default(),
    };
    if let Some(cc) = args.attest_country.clone() {
        config.server.local_country = Some(cc);
    }
    config.files.roots.extend(args.files_roots.iter().cloned());
    config.server.read_only |= args.read_only;
    if let Some(tools) = &args.tools {
        config.server.tools = Some(tools.clone());
    }
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| config.server.data_dir.clone())
        .unwrap_or_else(default_data_dir);
    let config = runtime::with_defaults(config, &data_dir);
    // Validate and bind the HTTP set-up before touching stores or the audit trail, and before
    // anything says "serving".
    let tokens = TokenAuthenticator::from_tenants(&config.tenants)?;
    let tenant_ids = config.tenants.keys().cloned().collect();
    let oauth = OAuth::from_config(&config.oauth, &tenant_ids).map_err(anyhow::Error::msg)?;
    let mut allowed_hosts = config.http.allowed_hosts.clone();
    allowed_hosts.extend(args.allowed_hosts.iter().cloned());
    let listener = match args.http {
        Some(addr) => {
            check_http_limits(&config.http)?;
            let authenticated = tokens.is_some() || oauth.is_some();
            Some(bind_http(addr, authenticated, &allowed_hosts).await?)
        }
        None => {
            runtime::check_stdio_inline_limit(&config)?;
            None
        }
    };
    let rt = runtime::build(&config, &data_dir).await?;
    let transport = match &listener {
        Some(l) => format!("http://{}/mcp", l.local_addr()),
        None => "stdio".into(),
    };
    print_banner(args.log_format, &transport, &data_dir, &rt.banner);
    let warm = rt.service.clone();
    tokio::spawn(async move { warm.warm_up().await });
    let service = rt.service.clone();
    let result = match listener {
        None => serve_stdio(rt.service, rt.stdio_tenant, runtime::STDIO_MAX_LINE_BYTES).await,
        Some(listener) => {
            let loopback = listener.local_addr().ip().is_loopback();
            let mut origins = config.http.allowed_origins.clone();
            origins.extend(args.allow_origins.iter().cloned());
            if loopback {
                origins.extend(["http://localhost:*".into(), "http://127.0.0.1:*".into()]);
            }
            let authenticator: Arc<dyn Authenticator> = match (tokens, &oauth) {
                (Some(tokens), _) => Arc::new(tokens),
                (None, Some(_)) => Arc::new(NoStaticTokens),
                (None, None) => Arc::new(LoopbackDefault {
                    tenant: rt.stdio_tenant,
                }),
            };
            // `/readyz` turns 503 while a tenant's home store does not answer its check.
            let checks = rt.store_health.spawn_checks(rt.store_check_interval);
            // ... and while a store has failed its last `[probe] unready_after` round trips.
            let probing = rt.probes.spawn(rt.service.clone());
            let health = rt.store_health.clone();
            let probes = rt.probes.clone();
            let readiness: ReadinessCheck = Arc::new(move || {
                if health.unavailable().is_some() {
                    return Some("a tenant's home store is not answering".to_owned());
                }
                probes
                    .failing()
                    .map(|_| "a store fails its synthetic round trips".to_owned())
            });
            let served = serve_http(
                rt.service,
                listener,
                HttpOptions {
                    authenticator,
                    allowed_origins: origins,
                    allowed_hosts,
                    limits: TenantLimits {
                        max_in_flight: config.http.max_in_flight_per_tenant,
                        rate_per_second: config.http.rate_per_second,
                        burst: config.http.burst,
                    },
                    request_timeout: Duration::from_secs(config.http.request_timeout_secs),
                    readiness: Some(readiness),
                    public_url: config.http.public_url.clone(),
                    oauth,
                    connections: ConnectionLimits {
                        max_connections: config.http.max_connections as usize,
                        header_read_timeout: Duration::from_secs(
                            config.http.header_read_timeout_secs,
                        ),
                        // By default in-flight requests get their whole timeout, and a little
                        // more to send their answers.
                        drain_timeout: Duration::from_secs(
                            config
                                .http
                                .shutdown_grace_secs
                                .unwrap_or(config.http.request_timeout_secs + 10),
                        ),
                    },
                    sessions: SessionLimits {
                        max_per_tenant: config.http.max_sessions_per_tenant as usize,
                        idle: Duration::from_secs(config.http.session_idle_secs),
                    },
                },
            )
            .await;
            checks.abort();
            if let Some(probing) = probing {
                probing.abort();
            }
            served
        }
    };
    service.shutdown();
    Ok(result?)
}

/// The start-up line on stderr: plain text, or one JSON object shaped like the JSON logs.
fn print_banner(format: LogFormat, transport: &str, data_dir: &std::path::Path, lines: &[String]) {
    let version = env!("CARGO_PKG_VERSION");
    match format {
        LogFormat::Text => eprintln!(
            "bitatlas {version} serving on {transport}; data dir {}; {}",
            data_dir.display(),
            lines.join("; ")
        ),
        LogFormat::Json => eprintln!(
            "{}",
            json_line(
                "INFO",
                serde_json::json!({
                    "message": format!("bitatlas {version} serving on {transport}"),
                    "version": version,
                    "transport": transport,
                    "data_dir": data_dir.display().to_string(),
                    "details": lines,
                }),
            )
        ),
    }
}

/// A start-up error on stderr, in the chosen format.
fn report_error(format: LogFormat, message: &str, code: Option<&str>) {
    match format {
        LogFormat::Text => eprintln!("bitatlas: {message}"),
        LogFormat::Json => {
            let mut fields = serde_json::json!({ "message": message });
            if let Some(code) = code {
                fields["code"] = code.into();
            }
            eprintln!("{}", json_line("ERROR", fields));
        }
    }
}

/// One line in the shape `tracing_subscriber`'s JSON format uses.
fn json_line(level: &str, fields: serde_json::Value) -> String {
    serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": level,
        "fields": fields,
        "target": "bitatlas::serve",
    })
    .to_string()
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
    if http.max_connections == 0 {
        anyhow::bail!("[http] max_connections must be at least 1");
    }
    if http.header_read_timeout_secs == 0 {
        anyhow::bail!("[http] header_read_timeout_secs must be at least 1");
    }
    if http.max_sessions_per_tenant == 0 {
        anyhow::bail!("[http] max_sessions_per_tenant must be at least 1");
    }
    // A session's worker stops after this long without an event, even mid-call.
    if http.session_idle_secs < http.request_timeout_secs {
        anyhow::bail!("[http] session_idle_secs must be at least request_timeout_secs");
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
    // Colour codes only for a terminal: a file or a log collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::parse_http_addr;

    #[test]
    fn http_addresses() {
        let ok = |s: &str| parse_http_addr(s).unwrap().to_string();
        assert_eq!(ok("8080"), "127.0.0.1:8080");
        assert_eq!(ok("0"), "127.0.0.1:0");
        assert_eq!(ok("localhost:8080"), "127.0.0.1:8080");
        assert_eq!(ok("127.0.0.1:9"), "127.0.0.1:9");
        assert_eq!(ok("0.0.0.0:8080"), "0.0.0.0:8080");
        assert_eq!(ok("[::1]:8080"), "[::1]:8080");
        for bad in [
            "",
            "65536",
            "localhost",
            "localhost:",
            "localhost:+80",
            "localhost:80x",
            "example.com:80",
            "127.0.0.1",
            "-1",
            "http://127.0.0.1:80",
        ] {
            assert!(parse_http_addr(bad).is_err(), "{bad:?}");
        }
    }
}
