//! `bitatlas audit verify | tail | query`

use std::path::PathBuf;

use super::Exit;
use crate::audit::{AuditRecord, checkpoint_path, verify};
use crate::config::default_data_dir;
use crate::runtime::{audit_key_path, audit_path, read_audit_keys};

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain, checkpoint MACs and the checkpoint side file.
    Verify(VerifyArgs),
    /// Print the last records.
    Tail(TailArgs),
    /// Print the records about one tenant and/or object key.
    Query(QueryArgs),
}

/// Where the trail and its key are.
#[derive(Debug, clap::Args)]
pub struct Location {
    /// Audit file (default: `<data dir>/audit/audit.jsonl`).
    pub file: Option<PathBuf>,
    /// Data directory holding the audit file and key.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Audit key file (default: `<data dir>/keys/audit.key`).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Read the trail from the configured store NAME (`[audit] store`) instead of a file;
    /// needs `--config`. The store passes the residency guard first.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "file",
        requires = "config"
    )]
    pub sink: Option<String>,
    /// Configuration file (for `--sink`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `audit verify`
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    loc: Location,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `audit tail`
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    #[command(flatten)]
    loc: Location,
    /// Number of records.
    #[arg(short = 'n', long, default_value_t = 20)]
    lines: usize,
}

/// `audit query`
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    loc: Location,
    /// Tenant id (matched through its pseudonym).
    #[arg(long)]
    tenant: Option<String>,
    /// Object key (needs --tenant; matched through its pseudonym).
    #[arg(long, requires = "tenant")]
    key: Option<String>,
    /// Only records at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
}

struct Resolved {
    file: PathBuf,
    key: PathBuf,
    dir: PathBuf,
}

fn resolve(loc: &Location) -> Result<Resolved, Exit> {
    let dir = loc.data_dir.clone().unwrap_or_else(default_data_dir);
    Ok(Resolved {
        file: loc.file.clone().unwrap_or_else(|| audit_path(&dir)),
        key: loc.key.clone().unwrap_or_else(|| audit_key_path(&dir)),
        dir,
    })
}

/// The trail text and its checkpoint side file: from the file, or from a configured store.
fn load_trail(loc: &Location, r: &Resolved) -> Result<(String, Option<String>), Exit> {
    let (Some(name), Some(config)) = (&loc.sink, &loc.config) else {
        let trail = read(&r.file)?;
        return Ok((
            trail,
            std::fs::read_to_string(checkpoint_path(&r.file)).ok(),
        ));
    };
    let config = crate::config::load(config).map_err(|e| {
        eprintln!("bitatlas: {e:#}");
        Exit::Usage
    })?;
    if !config.stores.contains_key(name) {
        eprintln!("bitatlas: no store named {name:?} in the configuration");
        return Err(Exit::Usage);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| Exit::Failure)?;
    let trail = rt
        .block_on(crate::runtime::read_store_trail(&config, &r.dir, name))
        .map_err(|e| {
            eprintln!("bitatlas: {e:#}");
            Exit::Failure
        })?;
    let side = std::fs::read_to_string(crate::runtime::store_checkpoint_path(&r.dir, name)).ok();
    Ok((trail, side))
}

/// Runs an audit subcommand.
pub fn run(cmd: AuditCommand) -> Exit {
    match cmd {
        AuditCommand::Verify(a) => run_verify(a),
        AuditCommand::Tail(a) => run_tail(a),
        AuditCommand::Query(a) => run_query(a),
    }
}

fn read(path: &std::path::Path) -> Result<String, Exit> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("bitatlas: cannot read {}: {e}", path.display());
        Exit::Failure
    })
}

fn run_verify(a: VerifyArgs) -> Exit {
    let r = match resolve(&a.loc) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (trail, side) = match load_trail(&a.loc, &r) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let keys = match read_audit_keys(&r.key) {
        Ok(k) => Some(k),
        Err(e) => {
            eprintln!("bitatlas: warning: {e:#}; checkpoint MACs are not verified");
            None
        }
    };
    match verify(&trail, side.as_deref(), keys.as_ref()) {
        Ok(report) => {
            if a.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                for (chain, head) in &report.chains {
                    println!(
                        "chain {chain}: {} records intact{}{}",
                        head.last_seq,
                        head.last_checkpoint
                            .map(|c| format!(", last checkpoint at {c}"))
                            .unwrap_or_default(),
                        if head.sealed {
                            ""
                        } else {
                            "; records after the last checkpoint are chained but not yet sealed"
                        }
                    );
                }
            }
            Exit::Ok
        }
        Err(f) => {
            eprintln!(
                "bitatlas: audit trail {} is not intact: {f}",
                r.file.display()
            );
            Exit::Integrity
        }
    }
}

fn records(path: &std::path::Path) -> Result<Vec<AuditRecord>, Exit> {
    let text = read(path)?;
    text.lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|_| {
            eprintln!("bitatlas: the trail holds invalid lines; run `bitatlas audit verify`");
            Exit::Integrity
        })
}

fn run_tail(a: TailArgs) -> Exit {
    let r = match resolve(&a.loc) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let recs = match records(&r.file) {
        Ok(v) => v,
        Err(e) => return e,
    };
    for rec in recs.iter().skip(recs.len().saturating_sub(a.lines)) {
        println!("{}", serde_json::to_string(rec).unwrap_or_default());
    }
    Exit::Ok
}

fn run_query(a: QueryArgs) -> Exit {
    let r = match resolve(&a.loc) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let keys = match read_audit_keys(&r.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bitatlas: {e:#}");
            return Exit::Failure;
        }
    };
    let since = match a.since.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            eprintln!("bitatlas: --since must be an RFC 3339 time");
            return Exit::Usage;
        }
    };
    let tenant = a.tenant.as_deref().map(|t| keys.pseudonym("tenant", t));
    let object = match (&a.tenant, &a.key) {
        (Some(t), Some(k)) => Some(keys.pseudonym(&format!("object\0{t}"), k)),
        _ => None,
    };
    let recs = match records(&r.file) {
        Ok(v) => v,
        Err(e) => return e,
    };
    for rec in recs {
        let time_ok = since
            .is_none_or(|s| chrono::DateTime::parse_from_rfc3339(&rec.time).is_ok_and(|t| t >= s));
        if time_ok
            && tenant.as_ref().is_none_or(|t| *t == rec.tenant)
            && object
                .as_ref()
                .is_none_or(|o| rec.object.as_ref() == Some(o))
        {
            println!("{}", serde_json::to_string(&rec).unwrap_or_default());
        }
    }
    Exit::Ok
}
