//! `bitatlas override grant|revoke`: the break-glass procedure. A grant lets one tenant use a
//! store its policy refuses, inside the EEA only, for at most 72 h, with a reason and the name
//! of who issued it; a running server picks it up (and drops a revoked one) within 5 s.

use std::path::PathBuf;

use super::Exit;
use crate::config::resolve_data_dir;
use crate::residency::grant::{Allow, Grant};
use crate::runtime;

/// `override` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum OverrideCommand {
    /// Issue a grant; prints its id on stdout (the grant itself, as JSON, on stderr).
    Grant {
        /// The tenant.
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// Let the tenant use stores in this EEA country.
        #[arg(
            long,
            value_name = "CC",
            required_unless_present = "allow_store",
            conflicts_with = "allow_store"
        )]
        allow_country: Option<String>,
        /// Let the tenant use this store (inside the EEA).
        #[arg(long, value_name = "NAME")]
        allow_store: Option<String>,
        /// How long: e.g. `90m`, `12h`, `3d` (at most 72 h).
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        lasts: chrono::Duration,
        /// Why (required; recorded in the grant).
        #[arg(long)]
        reason: String,
        /// Data directory whose audit key signs the grant, as for `serve`.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Configuration file, as for `serve` (its `[server] data_dir` applies).
        #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// End a grant at once (a running server stops honouring it within 5 s).
    Revoke {
        /// The grant id (`gr_...`).
        grant: String,
        /// Data directory, as for `serve`.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Configuration file, as for `serve` (its `[server] data_dir` applies).
        #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// The data directory `serve` would use with these flags.
fn data_dir_of(data_dir: Option<PathBuf>, config: Option<PathBuf>) -> Result<PathBuf, Exit> {
    let configured = match &config {
        Some(path) => match crate::config::load(path) {
            Ok(c) => c.server.data_dir,
            Err(e) => {
                eprintln!("bitatlas: {e:#}");
                return Err(Exit::Failure);
            }
        },
        None => None,
    };
    Ok(resolve_data_dir(data_dir.as_deref(), configured.as_deref()))
}

fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?}: a number followed by s, m, h or d"))?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!("{s:?}: a number followed by s, m, h or d")),
    }
}

/// Who issues a grant: the login name of the operator.
fn issuer() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty() && u.len() <= 64 && !u.chars().any(char::is_control))
        .unwrap_or_else(|| "unknown".into())
}

/// Runs an `override` subcommand.
pub fn run(cmd: OverrideCommand) -> Exit {
    match cmd {
        OverrideCommand::Grant {
            tenant,
            allow_country,
            allow_store,
            lasts,
            reason,
            data_dir,
            config,
        } => {
            let data_dir = match data_dir_of(data_dir, config) {
                Ok(d) => d,
                Err(e) => return e,
            };
            let allow = match (allow_country, allow_store) {
                (Some(cc), _) => Allow::Country(cc),
                (None, Some(s)) => Allow::Store(s),
                (None, None) => return Exit::Usage,
            };
            let mut id = [0u8; 12];
            if getrandom::fill(&mut id).is_err() {
                eprintln!("bitatlas: no system randomness");
                return Exit::Failure;
            }
            let grant = match Grant::issue(
                format!("gr_{}", hex::encode(id)),
                &tenant,
                allow,
                lasts,
                &reason,
                &issuer(),
                chrono::Utc::now(),
            ) {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("bitatlas: {e}");
                    return Exit::Usage;
                }
            };
            let keys = match runtime::read_audit_keys(&runtime::audit_key_path(&data_dir)) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("bitatlas: {e:#} (start the server once to create it)");
                    return Exit::Failure;
                }
            };
            match runtime::write_grant(&data_dir, &grant, &keys) {
                Ok(_) => {
                    eprintln!("{}", grant.canonical());
                    println!("{}", grant.grant);
                    Exit::Ok
                }
                Err(e) => {
                    eprintln!("bitatlas: cannot write the grant: {e}");
                    Exit::Failure
                }
            }
        }
        OverrideCommand::Revoke {
            grant,
            data_dir,
            config,
        } => {
            let data_dir = match data_dir_of(data_dir, config) {
                Ok(d) => d,
                Err(e) => return e,
            };
            match runtime::revoke_grant(&data_dir, &grant) {
                Ok(()) => {
                    eprintln!("revoked {grant}");
                    Exit::Ok
                }
                Err(e) => {
                    eprintln!("bitatlas: {e}");
                    Exit::Usage
                }
            }
        }
    }
}
