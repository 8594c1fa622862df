//! `bitatlas audit verify | tail | query`
//!
//! Without a FILE these read every trail of the data directory (one per instance slot, see
//! `runtime::audit_trails`), or the configured `[audit] store`. The data directory and the
//! configuration are found exactly as `serve` finds them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Exit;
use crate::audit::{AuditRecord, VerifyFailure, VerifyReport, checkpoint_path, verify};
use crate::config::{ConfigFile, resolve_data_dir};
use crate::runtime::{audit_key_path, audit_trails, read_audit_keys};

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain, checkpoint MACs and the checkpoint side file of every trail.
    Verify(VerifyArgs),
    /// Print the last records.
    Tail(TailArgs),
    /// Print the records about one tenant and/or object.
    Query(QueryArgs),
}

/// Where the trails and their key are.
#[derive(Debug, clap::Args)]
pub struct Location {
    /// One audit file (default: every trail of the data directory, or the configured
    /// `[audit] store`).
    pub file: Option<PathBuf>,
    /// Data directory holding the trails and the audit key (default: `[server] data_dir` of
    /// the configuration, else `$BITATLAS_DATA_DIR`, else the platform data directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Audit key file (default: `<data dir>/keys/audit.key`).
    #[arg(long = "audit-key", value_name = "FILE")]
    pub audit_key: Option<PathBuf>,
    /// Read the trail from the configured store NAME instead of files (default when the
    /// configuration has `[audit] store`). The store passes the residency guard first.
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    pub sink: Option<String>,
    /// Configuration file, as for `serve`.
    #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `audit verify`
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    loc: Location,
    /// Print the report as one JSON object on stdout, intact or not.
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
    #[arg(long, value_name = "K", requires = "tenant")]
    object: Option<String>,
    /// Only records at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Not an option of `audit query`: says which flag was meant.
    #[arg(long = "key", hide = true, value_name = "K")]
    old_key: Option<String>,
}

/// One trail to read: its text, its checkpoint side file and a name for reports.
struct Trail {
    name: String,
    text: String,
    side: Option<String>,
}

struct Resolved {
    dir: PathBuf,
    key: PathBuf,
    config: Option<ConfigFile>,
}

fn usage(msg: impl std::fmt::Display) -> Exit {
    eprintln!("bitatlas: {msg}");
    Exit::Usage
}

fn resolve(loc: &Location) -> Result<Resolved, Exit> {
    let config = match &loc.config {
        Some(path) => Some(crate::config::load(path).map_err(|e| usage(format!("{e:#}")))?),
        None => None,
    };
    let configured = config.as_ref().and_then(|c| c.server.data_dir.as_deref());
    let dir = resolve_data_dir(loc.data_dir.as_deref(), configured);
    Ok(Resolved {
        key: loc
            .audit_key
            .clone()
            .unwrap_or_else(|| audit_key_path(&dir)),
        dir,
        config,
    })
}

fn read(path: &Path) -> Result<String, Exit> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("bitatlas: cannot read {}: {e}", path.display());
        Exit::Failure
    })
}

fn file_trail(path: &Path) -> Result<Trail, Exit> {
    Ok(Trail {
        name: path.display().to_string(),
        text: read(path)?,
        side: std::fs::read_to_string(checkpoint_path(path)).ok(),
    })
}

/// The trails named by the command line: one file, a store, or every trail of the directory.
fn load_trails(loc: &Location, r: &Resolved) -> Result<Vec<Trail>, Exit> {
    if let Some(file) = &loc.file {
        return Ok(vec![file_trail(file)?]);
    }
    let store = loc.sink.clone().or_else(|| {
        r.config
            .as_ref()
            .and_then(|c| c.audit.store.as_ref())
            .cloned()
    });
    if let Some(name) = store {
        let Some(config) = &r.config else {
            return Err(usage(
                "--sink needs the configuration (--config or BITATLAS_CONFIG)",
            ));
        };
        return Ok(vec![store_trail(config, &r.dir, &name)?]);
    }
    let files = audit_trails(&r.dir);
    if files.is_empty() {
        eprintln!(
            "bitatlas: no audit trail in {} (give --data-dir, --config or a FILE)",
            r.dir.join("audit").display()
        );
        return Err(Exit::Failure);
    }
    files.iter().map(|f| file_trail(f)).collect()
}

fn store_trail(config: &ConfigFile, dir: &Path, name: &str) -> Result<Trail, Exit> {
    if !config.stores.contains_key(name) {
        return Err(usage(format!(
            "no store named {name:?} in the configuration"
        )));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| Exit::Failure)?;
    let text = rt
        .block_on(crate::runtime::read_store_trail(config, dir, name))
        .map_err(|e| {
            eprintln!("bitatlas: {e:#}");
            Exit::Failure
        })?;
    Ok(Trail {
        name: format!("store {name}"),
        text,
        side: crate::runtime::read_store_checkpoints(dir, name),
    })
}

/// Runs an audit subcommand.
pub fn run(cmd: AuditCommand) -> Exit {
    let result = match cmd {
        AuditCommand::Verify(a) => run_verify(a),
        AuditCommand::Tail(a) => run_tail(a),
        AuditCommand::Query(a) => run_query(a),
    };
    result.unwrap_or_else(|e| e)
}

/// What `verify --json` prints for one trail.
#[derive(serde::Serialize)]
struct TrailResult {
    trail: String,
    intact: bool,
    #[serde(flatten)]
    report: Option<VerifyReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<VerifyFailure>,
}

/// What `verify --json` prints: the totals, every trail, and the first failure.
#[derive(serde::Serialize)]
struct Summary<'a> {
    intact: bool,
    records: u64,
    macs_verified: bool,
    chains: BTreeMap<String, crate::audit::ChainHead>,
    trails: &'a [TrailResult],
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<FirstFailure<'a>>,
}

#[derive(serde::Serialize)]
struct FirstFailure<'a> {
    trail: &'a str,
    #[serde(flatten)]
    failure: &'a VerifyFailure,
}

fn run_verify(a: VerifyArgs) -> Result<Exit, Exit> {
    let r = resolve(&a.loc)?;
    let trails = load_trails(&a.loc, &r)?;
    let keys = match read_audit_keys(&r.key) {
        Ok(k) => Some(k),
        Err(e) => {
            eprintln!("bitatlas: warning: {e:#}; checkpoint MACs are not verified");
            None
        }
    };
    let results: Vec<TrailResult> = trails
        .into_iter()
        .map(
            |t| match verify(&t.text, t.side.as_deref(), keys.as_ref()) {
                Ok(report) => TrailResult {
                    trail: t.name,
                    intact: true,
                    report: Some(report),
                    failure: None,
                },
                Err(f) => TrailResult {
                    trail: t.name,
                    intact: false,
                    report: None,
                    failure: Some(f),
                },
            },
        )
        .collect();
    let first = results.iter().find_map(|t| {
        t.failure.as_ref().map(|failure| FirstFailure {
            trail: &t.trail,
            failure,
        })
    });
    let intact = first.is_none();
    if a.json {
        let mut chains = BTreeMap::new();
        let mut records = 0;
        for (t, report) in results
            .iter()
            .filter_map(|t| t.report.as_ref().map(|r| (t, r)))
        {
            records += report.records;
            for (name, head) in &report.chains {
                let key = if chains.contains_key(name) {
                    format!("{name} ({})", t.trail)
                } else {
                    name.clone()
                };
                chains.insert(key, head.clone());
            }
        }
        let summary = Summary {
            intact,
            records,
            macs_verified: keys.is_some(),
            chains,
            trails: &results,
            failure: first,
        };
        match serde_json::to_string(&summary) {
            Ok(line) => println!("{line}"),
            Err(_) => return Err(Exit::Failure),
        }
    } else {
        for t in &results {
            print_result(t, results.len() > 1);
        }
    }
    Ok(if intact { Exit::Ok } else { Exit::Integrity })
}

fn print_result(t: &TrailResult, name_trail: bool) {
    if let Some(f) = &t.failure {
        eprintln!("bitatlas: audit trail {} is not intact: {f}", t.trail);
        return;
    }
    let Some(report) = &t.report else { return };
    let prefix = if name_trail {
        format!("{}: ", t.trail)
    } else {
        String::new()
    };
    for (chain, head) in &report.chains {
        println!(
            "{prefix}chain {chain}: {} records intact{}{}",
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

/// Every record of the trails, oldest first (records of several chains interleaved by time).
fn records(trails: &[Trail]) -> Result<Vec<AuditRecord>, Exit> {
    let mut all = Vec::new();
    for t in trails {
        for line in t.text.lines().filter(|l| !l.trim().is_empty()) {
            let rec: AuditRecord = serde_json::from_str(line).map_err(|_| {
                eprintln!(
                    "bitatlas: {} holds invalid lines; run `bitatlas audit verify`",
                    t.name
                );
                Exit::Integrity
            })?;
            all.push(rec);
        }
    }
    if trails.len() > 1 {
        // RFC 3339 UTC times of one format sort as strings; stable, so records with equal
        // times keep their trail order.
        all.sort_by(|a, b| a.time.cmp(&b.time));
    }
    Ok(all)
}

fn print(rec: &AuditRecord) -> Result<(), Exit> {
    let line = serde_json::to_string(rec).map_err(|_| Exit::Failure)?;
    println!("{line}");
    Ok(())
}

fn run_tail(a: TailArgs) -> Result<Exit, Exit> {
    let r = resolve(&a.loc)?;
    let recs = records(&load_trails(&a.loc, &r)?)?;
    for rec in recs.iter().skip(recs.len().saturating_sub(a.lines)) {
        print(rec)?;
    }
    Ok(Exit::Ok)
}

fn run_query(a: QueryArgs) -> Result<Exit, Exit> {
    if a.old_key.is_some() {
        return Err(usage(
            "`audit query` filters an object with --object K (and takes the audit key file \
             as --audit-key FILE)",
        ));
    }
    let r = resolve(&a.loc)?;
    let keys = read_audit_keys(&r.key).map_err(|e| {
        eprintln!("bitatlas: {e:#}");
        Exit::Failure
    })?;
    let since = match a.since.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => return Err(usage("--since must be an RFC 3339 time")),
    };
    let tenant = a.tenant.as_deref().map(|t| keys.pseudonym("tenant", t));
    let object = match (&a.tenant, &a.object) {
        (Some(t), Some(k)) => Some(keys.pseudonym(&format!("object\0{t}"), k)),
        _ => None,
    };
    for rec in records(&load_trails(&a.loc, &r)?)? {
        let time_ok = since
            .is_none_or(|s| chrono::DateTime::parse_from_rfc3339(&rec.time).is_ok_and(|t| t >= s));
        if time_ok
            && tenant.as_ref().is_none_or(|t| *t == rec.tenant)
            && object
                .as_ref()
                .is_none_or(|o| rec.object.as_ref() == Some(o))
        {
            print(&rec)?;
        }
    }
    Ok(Exit::Ok)
}
