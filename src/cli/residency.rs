//! `bitatlas residency ...`: check one provider/region, or report on configured stores.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::Exit;
use crate::config::{self, ConfigFile, default_data_dir};
use crate::residency::{self, Catalog, Decision, EEA_POLICY, Policies, StoreSpec};
use crate::runtime::with_defaults;

/// Residency subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ResidencyCommand {
    /// Decide whether one provider/region/endpoint satisfies a policy (static check, no I/O).
    /// Prints one JSON object; exit 0 when allowed, 3 when denied.
    Check(CheckArgs),
    /// Report the static residency checks of every store, and of every tenant's policy
    /// against its home store, in a configuration completed with the same defaults as
    /// `serve`. Exit 3 when any is denied, 1 when the configuration is inconsistent.
    Report(ReportArgs),
}

/// `bitatlas residency check`
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Catalog provider id (scaleway, ovh, hetzner, exoscale, ionos, aws, cloudflare-r2,
    /// garage, minio, local, memory).
    #[arg(long)]
    provider: String,
    /// Region id, matched exactly against the catalog.
    #[arg(long)]
    region: String,
    /// S3 endpoint URL (default: the catalog's host for the region).
    #[arg(long)]
    endpoint: Option<String>,
    /// Bucket name, to accept the virtual-hosted `{bucket}.<host>` form.
    #[arg(long)]
    bucket: Option<String>,
    /// Policy name (default `eea`); non-built-in policies come from --config.
    #[arg(long)]
    policy: Option<String>,
    /// Configuration file holding the policies.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Country attested by the operator (self-hosted and local stores), ISO alpha-2.
    #[arg(long)]
    country: Option<String>,
}

/// `bitatlas residency report`
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Configuration file (without it, the embedded default: one local store).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory, as for `serve` (only used to complete the embedded default).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs a residency subcommand.
pub fn run(cmd: ResidencyCommand) -> Exit {
    match cmd {
        ResidencyCommand::Check(args) => run_check(args),
        ResidencyCommand::Report(args) => run_report(args),
    }
}

/// The configuration at `path` (or the embedded default) and its policies; on failure the
/// error is printed and the exit code returned.
fn load(path: Option<&PathBuf>) -> Result<(ConfigFile, Policies), Exit> {
    let cfg = match path {
        None => ConfigFile::default(),
        Some(p) => config::load(p).map_err(|e| {
            eprintln!("error: {e}");
            Exit::Failure
        })?,
    };
    let policies = Policies::from_config(&cfg).map_err(|e| {
        eprintln!("error [{}]: {e}", e.code());
        Exit::Failure
    })?;
    Ok((cfg, policies))
}

fn print_json<T: Serialize>(value: &T) -> Exit {
    let mut out = std::io::stdout().lock();
    match serde_json::to_string(value) {
        Ok(s) => {
            if writeln!(out, "{s}").is_err() {
                return Exit::Failure;
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Failure
        }
    }
}

fn run_check(args: CheckArgs) -> Exit {
    let (_, policies) = match load(args.config.as_ref()) {
        Ok(loaded) => loaded,
        Err(e) => return e,
    };
    let policy_name = args.policy.as_deref().unwrap_or(EEA_POLICY);
    let Some(policy) = policies.get(policy_name) else {
        let known: Vec<&str> = policies.names().collect();
        eprintln!(
            "error: unknown policy {policy_name:?} (known: {})",
            known.join(", ")
        );
        return Exit::Usage;
    };
    let spec = StoreSpec {
        name: String::new(),
        provider: args.provider,
        region: Some(args.region),
        endpoint: args.endpoint,
        bucket: args.bucket,
        attested_country: args.country,
    };
    let decision = residency::check(Catalog::builtin(), policy, &spec);
    match print_json(&decision) {
        Exit::Ok if decision.allowed => Exit::Ok,
        Exit::Ok => Exit::PolicyDenied,
        other => other,
    }
}

/// One row of `residency report`.
#[derive(Debug, Serialize)]
struct ReportEntry {
    store: String,
    /// Set when the row checks a tenant's policy against its home store or a replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    /// `home` or `replica`, on tenant rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    copy: Option<&'static str>,
    /// The override grant in force that admits a store the policy refuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<String>,
    policy: String,
    allowed: bool,
    code: String,
    /// What this command checked.
    checked: Vec<&'static str>,
    /// What it did not check.
    not_checked: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<Decision>,
    message: String,
    /// What the row means for the exit code.
    #[serde(skip)]
    outcome: Outcome,
}

/// How one row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    /// The residency check refused the store (exit 3).
    Denied,
    /// The configuration itself is wrong: unknown or invalid policy, unknown store (exit 1).
    Invalid,
}

const STATIC_CHECKS: [&str; 5] = [
    "provider and region in the catalog (exact ids)",
    "country against the policy (EEA, narrower pin, adequacy opt-in)",
    "deny_regions and owner sovereignty",
    "endpoint host exactly equal to the catalog host of that region",
    "attested country for self-hosted and local stores",
];
const LIVE_NOTE: &str = "the bucket's real location (GetBucketLocation) is verified live by `bitatlas serve` at start-up and on every new bucket, not by this report";

fn entry(
    store: &str,
    tenant: Option<&str>,
    policy_name: &str,
    policies: &Policies,
    spec: &StoreSpec,
) -> ReportEntry {
    let base = |outcome, code: &str, decision, message| ReportEntry {
        store: store.to_string(),
        tenant: tenant.map(str::to_string),
        copy: None,
        grant: None,
        policy: policy_name.to_string(),
        allowed: outcome == Outcome::Allowed,
        code: code.to_string(),
        checked: STATIC_CHECKS.to_vec(),
        not_checked: LIVE_NOTE,
        decision,
        message,
        outcome,
    };
    match policies.require(policy_name) {
        Err(e) => base(Outcome::Invalid, e.code(), None, e.to_string()),
        Ok(policy) => {
            let d = residency::check(Catalog::builtin(), policy, spec);
            let outcome = if d.allowed {
                Outcome::Allowed
            } else {
                Outcome::Denied
            };
            let (code, msg) = (d.code.as_str(), d.message.clone());
            base(outcome, code, Some(d), msg)
        }
    }
}

fn run_report(args: ReportArgs) -> Exit {
    let (cfg, policies) = match load(args.config.as_ref()) {
        Ok(loaded) => loaded,
        Err(e) => return e,
    };
    // The stores and tenants `serve` would run with this configuration.
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| cfg.server.data_dir.clone())
        .unwrap_or_else(default_data_dir);
    let cfg = with_defaults(cfg, &data_dir);
    // Grants in force, when the data directory's audit key is there to verify them.
    let grants = crate::runtime::read_audit_keys(&crate::runtime::audit_key_path(&data_dir))
        .map(|k| crate::runtime::read_grants(&data_dir, &k))
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (name, store) in &cfg.stores {
        let spec = StoreSpec::from((name.as_str(), store));
        let policy = store.policy.as_deref().unwrap_or(EEA_POLICY);
        rows.push(entry(name, None, policy, &policies, &spec));
    }
    for (tenant, t) in &cfg.tenants {
        let tenant_policy = t.policy.as_deref().unwrap_or(EEA_POLICY);
        let Some(_home) = cfg.stores.get(&t.store) else {
            rows.push(ReportEntry {
                copy: Some("home"),
                grant: None,
                store: t.store.clone(),
                tenant: Some(tenant.clone()),
                policy: tenant_policy.to_string(),
                allowed: false,
                code: "CONFIG_UNKNOWN_STORE".into(),
                checked: Vec::new(),
                not_checked: LIVE_NOTE,
                decision: None,
                message: format!("tenant {tenant} refers to unknown store {}", t.store),
                outcome: Outcome::Invalid,
            });
            continue;
        };
        // Every tenant gets its row, also on the default policy: start-up checks each one;
        // and one row per replica, which start-up checks the same way.
        let copies = std::iter::once((t.store.as_str(), "home"))
            .chain(t.replicas.iter().map(|r| (r.as_str(), "replica")));
        for (name, copy) in copies {
            let Some(sc) = cfg.stores.get(name) else {
                continue;
            };
            let spec = StoreSpec::from((name, sc));
            let mut row = entry(name, Some(tenant), tenant_policy, &policies, &spec);
            row.copy = Some(copy);
            under_grant(&mut row, tenant, name, &grants);
            rows.push(row);
        }
    }
    let printed = if args.json {
        print_json(&rows)
    } else {
        print_table(&rows)
    };
    let has = |o| rows.iter().any(|r| r.outcome == o);
    match printed {
        Exit::Ok if has(Outcome::Denied) => Exit::PolicyDenied,
        Exit::Ok if has(Outcome::Invalid) => Exit::Failure,
        other => other,
    }
}

/// Marks a refused tenant row that a grant in force admits (as `serve` would).
fn under_grant(
    row: &mut ReportEntry,
    tenant: &str,
    store: &str,
    grants: &[crate::residency::Grant],
) {
    let Some(d) = row.decision.as_ref() else {
        return;
    };
    if row.allowed || !crate::residency::grant::overridable(d.code) {
        return;
    }
    let Some(country) = d.country.clone() else {
        return;
    };
    let now = chrono::Utc::now();
    if let Some(g) = grants
        .iter()
        .find(|g| g.covers(tenant, store, &country, now))
    {
        row.grant = Some(g.grant.clone());
        row.message = format!(
            "{}; admitted under override grant {} until {} (by {}: {})",
            row.message, g.grant, g.expires_at, g.issued_by, g.reason
        );
        row.outcome = Outcome::Allowed;
    }
}

fn print_table(rows: &[ReportEntry]) -> Exit {
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    text.push_str(&format!(
        "{:<16} {:<12} {:<14} {:<16} {:<8} {:<4} {:<8} {}\n",
        "STORE", "TENANT", "PROVIDER", "REGION", "COUNTRY", "EEA", "POLICY", "RESULT"
    ));
    for r in rows {
        let d = r.decision.as_ref();
        let country = d
            .and_then(|d| d.country.clone())
            .unwrap_or_else(|| "-".into());
        let eea = if country == "-" {
            "-"
        } else if residency::eea::is_eea(&country) {
            "yes"
        } else {
            "no"
        };
        text.push_str(&format!(
            "{:<16} {:<12} {:<14} {:<16} {:<8} {:<4} {:<8} {}\n",
            r.store,
            r.tenant.as_deref().unwrap_or("-"),
            d.map(|d| d.provider.as_str()).unwrap_or("-"),
            d.map(|d| d.region.escape_debug().to_string())
                .unwrap_or_else(|| "-".into()),
            country,
            eea,
            r.policy,
            r.code,
        ));
        text.push_str(&format!("    {}\n", r.message));
    }
    text.push_str("\nChecked statically: ");
    text.push_str(&STATIC_CHECKS.join("; "));
    text.push_str(".\nNot checked here: ");
    text.push_str(LIVE_NOTE);
    text.push_str(".\n");
    if out.write_all(text.as_bytes()).is_err() {
        return Exit::Failure;
    }
    Exit::Ok
}
