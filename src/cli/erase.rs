//! `bitatlas erase`: a tenant's data erased from every store it has, with a signed erasure
//! receipt on stdout; and `bitatlas receipt verify` to check one.
//!
//! The receipt is MAC'd with a key derived from the data directory's audit secret
//! (`keys/audit.key`), which the operator holds: anyone with that key can check that the
//! receipt was issued by this installation and not altered.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Exit, installation};
use crate::config::resolve_data_dir;
use crate::runtime;
use crate::service::{Caller, EraseScope, ErrorCode};

/// `erase` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["key", "prefix", "all"])))]
pub struct EraseArgs {
    /// Configuration file, as for `serve`.
    #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, as for `serve`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The tenant whose data is erased.
    #[arg(long, value_name = "NAME")]
    tenant: String,
    /// Erase one object (every copy and version).
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Erase every object under this folder.
    #[arg(long, value_name = "FOLDER")]
    prefix: Option<String>,
    /// Crypto-shred the tenant: destroy its keyring (KEKs and naming key) first, then delete
    /// everything it has in its store.
    #[arg(long)]
    all: bool,
}

/// `receipt` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ReceiptCommand {
    /// Check an erasure receipt's MAC: exit 0 when this installation issued it unaltered, 4
    /// otherwise.
    Verify {
        /// The receipt (JSON), or `-` for standard input.
        file: PathBuf,
        /// Data directory whose audit key issued it.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// Runs `erase`.
pub fn run(args: EraseArgs) -> Exit {
    let (config, data_dir) = match installation::load(
        args.config.as_deref(),
        args.data_dir.as_deref(),
        &args.tenant,
    ) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let tenant = &config.tenants[&args.tenant];
    if args.all
        && let Some(var) = &tenant.keyring_env
    {
        eprintln!(
            "bitatlas: tenant {}'s keyring comes from ${var}; destroy it where it is kept, \
             then erase with --prefix",
            args.tenant
        );
        return Exit::Failure;
    }
    let keyring = runtime::keyring_path(&args.tenant, tenant, &data_dir);
    // A Transit key shared with another tenant cannot be destroyed for one of them.
    if args.all
        && let Some(other) = runtime::transit_key_shared(&config, &args.tenant)
    {
        eprintln!(
            "bitatlas: tenant {}'s Transit key is also tenant {other}'s; give each tenant its own key",
            args.tenant
        );
        return Exit::Failure;
    }
    let (scope, scope_json) = match (&args.key, &args.prefix) {
        (Some(k), _) => (EraseScope::Key(k.clone()), json!({ "key": k })),
        (_, Some(p)) => (EraseScope::Prefix(p.clone()), json!({ "prefix": p })),
        _ => (EraseScope::All, json!({ "all": true })),
    };
    let rt = match installation::tokio_runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    let erased = rt.block_on(async {
        let built = runtime::build(&config, &data_dir)
            .await
            .map_err(|e| (Exit::from(&e), e.to_string()))?;
        if scope == EraseScope::All {
            // Keys first: once they are gone, no copy of the data opens, whatever the
            // deletions below manage.
            // On record before anything is destroyed (and not destroyed if it cannot be).
            built
                .service
                .audit_event("erase-keys", &args.tenant, "OK")
                .map_err(|e| (Exit::Failure, e.to_string()))?;
            // The provider's key goes first (a Transit key is deleted), then the file is
            // overwritten and removed.
            if let Some(keys) = built.service.tenant_keys(&args.tenant)
                && keys.provider().describe().kind == "transit"
            {
                keys.provider().destroy().await.map_err(|e| {
                    (
                        Exit::Failure,
                        format!("cannot destroy the Transit key: {e}"),
                    )
                })?;
            }
            destroy(&keyring).map_err(|e| {
                (
                    Exit::Failure,
                    format!("cannot destroy {}: {e}", keyring.display()),
                )
            })?;
        }
        let caller = Caller::new(args.tenant.clone());
        built.service.erase(&caller, &scope).await.map_err(|e| {
            let exit = match e.code {
                ErrorCode::InvalidKey | ErrorCode::InvalidArgument => Exit::Usage,
                ErrorCode::IntegrityFailure => Exit::Integrity,
                _ => Exit::Failure,
            };
            (exit, e.to_string())
        })
    });
    let erased = match erased {
        Ok(e) => e,
        Err((exit, message)) => {
            eprintln!("bitatlas: {message}");
            return exit;
        }
    };
    // The audit key exists once the runtime was built.
    let Ok(keys) = runtime::read_audit_keys(&runtime::audit_key_path(&data_dir)) else {
        eprintln!("bitatlas: erased, but the audit key to sign the receipt is unreadable");
        return Exit::Failure;
    };
    let mut id = [0u8; 12];
    if getrandom::fill(&mut id).is_err() {
        eprintln!("bitatlas: no system randomness");
        return Exit::Failure;
    }
    let mut receipt = json!({
        "receipt": format!("er_{}", hex::encode(id)),
        "tenant": args.tenant,
        "scope": scope_json,
        "stores": erased.stores,
        "objects": erased.objects,
        "versions": erased.versions,
        "other": erased.other,
        "keys_destroyed": scope == EraseScope::All,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    let mac = keys.receipt_mac(&canonical(&receipt));
    receipt["mac"] = Value::String(mac);
    let text = serde_json::to_string_pretty(&receipt).unwrap_or_default() + "\n";
    if std::io::stdout().write_all(text.as_bytes()).is_err() {
        return Exit::Failure;
    }
    Exit::Ok
}

/// Runs `receipt`.
pub fn run_receipt(cmd: ReceiptCommand) -> Exit {
    let ReceiptCommand::Verify { file, data_dir } = cmd;
    let mut text = String::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(&file).map(|t| text = t)
    };
    if let Err(e) = read {
        eprintln!("bitatlas: cannot read {}: {e}", file.display());
        return Exit::Failure;
    }
    let data_dir = resolve_data_dir(data_dir.as_deref(), None);
    let keys = match runtime::read_audit_keys(&runtime::audit_key_path(&data_dir)) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bitatlas: {e:#}");
            return Exit::Failure;
        }
    };
    let Ok(mut receipt) = serde_json::from_str::<Value>(&text) else {
        eprintln!("bitatlas: the receipt is not JSON");
        return Exit::Integrity;
    };
    let mac = receipt
        .as_object_mut()
        .and_then(|o| o.remove("mac"))
        .and_then(|m| m.as_str().map(str::to_owned));
    match mac {
        Some(mac) if keys.verify_receipt(&canonical(&receipt), &mac) => {
            println!("receipt valid: issued by this installation, unaltered");
            Exit::Ok
        }
        _ => {
            eprintln!(
                "bitatlas: the receipt's MAC does not verify (altered, or another installation's)"
            );
            Exit::Integrity
        }
    }
}

/// The text a receipt's MAC covers: its JSON without `mac`, keys sorted, no spaces.
fn canonical(receipt: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let m: std::collections::BTreeMap<&String, Value> =
                    o.iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::to_value(m).unwrap_or(Value::Null)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(receipt).to_string()
}

/// Overwrites a keyring file with zeros, syncs it, removes it and syncs its directory.
fn destroy(path: &Path) -> std::io::Result<()> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        // Already gone (a resumed erasure).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(&vec![0u8; len as usize])?;
    f.sync_all()?;
    drop(f);
    std::fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
