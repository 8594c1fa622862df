//! Start-up: configuration -> verified stores, keyrings, audit log -> one [`Service`].
//!
//! Nothing is served until every configured store has passed the residency guard.

mod credentials;
mod defaults;
mod stores;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use zeroize::Zeroizing;

use crate::audit::{AuditKeys, AuditLog, AuditSink, FileSink, ObjectStoreSink};
use crate::config::{ConfigFile, default_keyring_path};
use crate::crypto::{Algorithm, Keyring};
use crate::service::{Limits, Service, Tenant};

pub use defaults::with_defaults;

/// Everything start-up produced.
pub struct Runtime {
    /// The service shared by every transport.
    pub service: Service,
    /// Tenant served over stdio.
    pub stdio_tenant: String,
    /// Human lines for the start-up banner (stderr).
    pub banner: Vec<String>,
}

/// Builds the runtime from a configuration (already completed by [`with_defaults`]), auditing
/// to `<data_dir>/audit/audit.jsonl`.
pub async fn build(config: &ConfigFile, data_dir: &Path) -> anyhow::Result<Runtime> {
    build_inner(config, data_dir, None).await
}

/// Like [`build`], with the audit records going to `sink`.
pub async fn build_with_sink(
    config: &ConfigFile,
    data_dir: &Path,
    sink: Box<dyn AuditSink>,
) -> anyhow::Result<Runtime> {
    build_inner(config, data_dir, Some(sink)).await
}

/// The configured audit sink: a guarded store named in `[audit] store`, else the file.
fn configured_sink(
    config: &ConfigFile,
    data_dir: &Path,
    stores: &Stores,
) -> anyhow::Result<Box<dyn AuditSink>> {
    match &config.audit.store {
        Some(name) => {
            let store = stores
                .get(name)
                .with_context(|| format!("[audit] store: unknown store {name}"))?;
            let side = store_checkpoint_path(data_dir, name);
            let sink = ObjectStoreSink::new(
                Arc::clone(store.adapter()),
                name,
                &chain_name(config),
                Some(&side),
            )
            .with_context(|| format!("cannot open the audit sink in store {name}"))?;
            Ok(Box::new(sink))
        }
        None => {
            let path = audit_path(data_dir);
            let sink = FileSink::open(&path)
                .with_context(|| format!("cannot open audit file {}", path.display()))?;
            Ok(Box::new(sink))
        }
    }
}

/// The whole trail kept in the configured store `name` (for `audit verify --sink`): the store
/// passes the guard first, like at start-up.
pub async fn read_store_trail(
    config: &ConfigFile,
    data_dir: &Path,
    name: &str,
) -> anyhow::Result<String> {
    let mut banner = Vec::new();
    let stores = stores::admit_all(config, data_dir, &mut banner).await?;
    let store = stores
        .get(name)
        .with_context(|| format!("unknown store {name}"))?;
    Ok(crate::audit::read_store_segments(store.adapter().as_ref()).await?)
}

/// Local copies of the checkpoints of the trail kept in store `name`.
pub fn store_checkpoint_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir
        .join("audit")
        .join(format!("store-{name}.checkpoints"))
}

async fn build_inner(
    config: &ConfigFile,
    data_dir: &Path,
    sink: Option<Box<dyn AuditSink>>,
) -> anyhow::Result<Runtime> {
    let mut banner = Vec::new();
    let stores = stores::admit_all(config, data_dir, &mut banner).await?;
    let sink = match sink {
        Some(s) => s,
        None => configured_sink(config, data_dir, &stores)?,
    };

    let mut tenants = Vec::new();
    for (id, t) in &config.tenants {
        let store = stores
            .get(&t.store)
            .with_context(|| format!("tenant {id}: unknown store {}", t.store))?;
        let policy_name = t.policy.as_deref().unwrap_or(crate::residency::EEA_POLICY);
        stores::check_tenant_policy(config, id, policy_name, &t.store)?;
        let keyring = load_keyring(id, t, data_dir)?;
        let allow_presign_put = config
            .policies
            .get(policy_name)
            .map(|p| p.allow_presign_put)
            .unwrap_or(false);
        let mut tenant = Tenant::new(id, Arc::new(keyring), Arc::clone(store), allow_presign_put)
            .map_err(|e| anyhow::anyhow!("tenant {id}: {e}"))?;
        if let Some(ms) = config.server.index_max_age_ms {
            tenant.set_index_max_age(std::time::Duration::from_millis(ms));
        }
        tenants.push(tenant);
    }
    if tenants.is_empty() {
        bail!("no tenants configured");
    }

    let secret = load_or_create_secret(&audit_key_path(data_dir))?;
    let audit = AuditLog::open(sink, chain_name(config), AuditKeys::derive(&secret))
        .context("cannot continue the audit chain")?;
    banner.push(format!("audit: {}", audit.describe()));

    let stdio_tenant = config
        .server
        .stdio_tenant
        .clone()
        .or_else(|| config.tenants.keys().next().cloned())
        .unwrap_or_else(|| "default".into());
    let limits = Limits {
        max_inline_bytes: config
            .server
            .max_inline_bytes
            .unwrap_or(Limits::default().max_inline_bytes),
        reads_fail_open: config.audit.reads_fail_open,
    };
    if limits.reads_fail_open {
        tracing::warn!(
            "[audit] reads_fail_open = true: reads are served even when they cannot be audited"
        );
    }
    let service = Service::new(tenants, audit, limits);
    service
        .audit_event("startup", &stdio_tenant, "OK")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Runtime {
        service,
        stdio_tenant,
        banner,
    })
}

fn load_keyring(
    id: &str,
    t: &crate::config::TenantConfig,
    data_dir: &Path,
) -> anyhow::Result<Keyring> {
    if let Some(var) = &t.keyring_env {
        return Keyring::from_env(var).map_err(|e| anyhow::anyhow!("tenant {id}: keyring: {e}"));
    }
    let path: PathBuf = t.keyring.clone().unwrap_or_else(|| {
        if id == "default" {
            default_keyring_path(data_dir)
        } else {
            data_dir.join("keys").join(format!("{id}.keyring"))
        }
    });
    let (keyring, created) = Keyring::load_or_create(&path, Algorithm::default())
        .map_err(|e| anyhow::anyhow!("tenant {id}: keyring {}: {e}", path.display()))?;
    if created {
        tracing::info!(tenant = id, path = %path.display(), "generated a new keyring");
    }
    Ok(keyring)
}

/// The audit trail of a data directory.
pub fn audit_path(data_dir: &Path) -> PathBuf {
    data_dir.join("audit").join("audit.jsonl")
}

/// The audit secret of a data directory (pseudonym and checkpoint keys derive from it).
pub fn audit_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("audit.key")
}

/// Reads an existing audit secret.
pub fn read_audit_keys(path: &Path) -> anyhow::Result<AuditKeys> {
    let bytes = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    let secret: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()))?;
    let secret = Zeroizing::new(secret);
    Ok(AuditKeys::derive(&secret))
}

/// A 32-byte secret kept in a 0600 file, created on first use.
fn load_or_create_secret(path: &Path) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            if bytes.len() != 32 {
                bail!("{} is not a 32-byte key", path.display());
            }
            key.copy_from_slice(&bytes);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            getrandom::fill(&mut key[..]).map_err(|_| anyhow::anyhow!("no system randomness"))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            use std::io::Write;
            let mut f = opts.open(path)?;
            f.write_all(&key[..])?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// One audit chain per instance: `[server] instance` when set, else the host name (letters,
/// digits and `-` only, so it is a valid storage name and a safe record field).
fn chain_name(config: &ConfigFile) -> String {
    let raw = config.server.instance.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    });
    let name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(63)
        .collect();
    if name.is_empty() {
        "bitatlas".into()
    } else {
        name
    }
}

/// Store names mapped to their admitted stores.
pub type Stores = BTreeMap<String, crate::service::SharedStore>;
