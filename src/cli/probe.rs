//! `bitatlas probe`: one synthetic round trip (put, list, get, delete) on every configured
//! store, with each step's latency; exit 0 when every store passed, 1 otherwise.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::Exit;
use crate::config::{ConfigFile, resolve_data_dir};
use crate::runtime::{self, ProbeReport};

/// `probe` arguments.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Configuration file, as for `serve` (without it, the embedded default: one local store).
    #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, as for `serve` (where the embedded default's local store lives).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Probe only this store (repeatable; default: every configured store).
    #[arg(long = "store", value_name = "NAME")]
    stores: Vec<String>,
    /// Print one JSON object instead of a line per store.
    #[arg(long)]
    json: bool,
}

/// Runs `probe`.
pub fn run(args: ProbeArgs) -> Exit {
    let config = match &args.config {
        Some(path) => match crate::config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bitatlas: {e:#}");
                return Exit::Failure;
            }
        },
        None => ConfigFile::default(),
    };
    let data_dir = resolve_data_dir(args.data_dir.as_deref(), config.server.data_dir.as_deref());
    let config = runtime::with_defaults(config, &data_dir);
    if let Some(unknown) = args.stores.iter().find(|s| !config.stores.contains_key(*s)) {
        eprintln!("bitatlas: no store named {unknown:?} in the configuration");
        return Exit::Usage;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bitatlas: cannot start runtime: {e}");
            return Exit::Failure;
        }
    };
    let step_limit = Duration::from_secs(config.probe.timeout_secs);
    let reports = rt.block_on(async {
        let stores = runtime::admit_stores(&config, &data_dir).await?;
        let mut reports = Vec::new();
        for (name, store) in &stores {
            if args.stores.is_empty() || args.stores.contains(name) {
                reports.push(runtime::probe_store(name, store, step_limit).await);
            }
        }
        Ok::<_, runtime::StartupError>(reports)
    });
    let reports = match reports {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bitatlas: {e}");
            return Exit::from(&e);
        }
    };
    let ok = reports.iter().all(ProbeReport::ok);
    let printed = if args.json {
        let all = serde_json::json!({
            "ok": ok,
            "stores": reports.iter().map(ProbeReport::to_json).collect::<Vec<_>>(),
        });
        writeln!(std::io::stdout(), "{all}")
    } else {
        reports
            .iter()
            .try_for_each(|r| writeln!(std::io::stdout(), "{}", line(r)))
    };
    match (printed, ok) {
        (Err(_), _) | (_, false) => Exit::Failure,
        (Ok(()), true) => Exit::Ok,
    }
}

/// `store NAME: ok in 3.1 ms (put 1.2 ms, list 0.4 ms, get 0.5 ms, delete 1.0 ms)`.
fn line(r: &ProbeReport) -> String {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let steps: Vec<String> = r
        .steps
        .iter()
        .map(|(s, d)| format!("{} {}", s.as_str(), ms(*d)))
        .collect();
    match &r.error {
        None => format!(
            "store {}: ok in {} ({})",
            r.store,
            ms(r.total),
            steps.join(", ")
        ),
        Some(e) => format!("store {}: FAILED after {}: {e}", r.store, ms(r.total)),
    }
}
