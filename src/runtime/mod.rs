//! Start-up: configuration -> verified stores, keyrings, audit log -> one [`Service`].
//!
//! Nothing is served until every configured store has passed the residency guard.

mod credentials;
mod defaults;
mod error;
mod grants;
mod health;
mod inline_limit;
mod instance;
mod keyrings;
mod probe;
mod probe_schedule;
mod stores;
mod transit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use zeroize::Zeroizing;

use self::error::StartupError as E;

use crate::audit::{AuditKeys, AuditLog, AuditSink};
use crate::config::ConfigFile;
use crate::files::{FileRoots, FilesError};
use crate::service::{Limits, Service, Tenant, ToolSet};

pub use defaults::{
    DEFAULT_LOCAL_COUNTRY, DEFAULT_STORE, DEFAULT_STORE_CHECK_SECS, DEFAULT_TENANT,
    STDIO_ENVELOPE_BYTES, STDIO_MAX_LINE_BYTES, tenant_name_problem, with_defaults,
};
pub use error::StartupError;
pub use grants::{read_grants, revoke as revoke_grant, write_grant};
pub use health::StoreHealth;
pub use inline_limit::{check_stdio_inline_limit, largest_stdio_inline_bytes};
pub use instance::{MAX_INSTANCES, audit_path_for, audit_trails, read_store_checkpoints};
pub use keyrings::{KeyringError, key_cache_ttl, keyring_path};
pub use probe::{
    PROBE_PAYLOAD_BYTES, PROBE_PREFIX, PROBE_TENANT, ProbeError, ProbeReport, Step, probe_store,
};
pub use probe_schedule::ProbeSchedule;
pub use transit::transit_key_shared;

/// Everything start-up produced.
pub struct Runtime {
    /// The service shared by every transport.
    pub service: Service,
    /// Tenant served over stdio.
    pub stdio_tenant: String,
    /// Human lines for the start-up banner (stderr).
    pub banner: Vec<String>,
    /// Whether the tenants' home stores still answer (checks run once
    /// [`StoreHealth::spawn_checks`] is called).
    pub store_health: StoreHealth,
    /// Interval of those checks (`[server] store_check_secs`).
    pub store_check_interval: std::time::Duration,
    /// The synthetic round trips on every store (run once [`ProbeSchedule::spawn`] is called).
    pub probes: ProbeSchedule,
}

/// Builds the runtime from a configuration (already completed by [`with_defaults`]), auditing
/// to `<data_dir>/audit/audit.jsonl`.
pub async fn build(config: &ConfigFile, data_dir: &Path) -> Result<Runtime, StartupError> {
    build_inner(config, data_dir, None).await
}

/// Like [`build`], with the audit records going to `sink`.
pub async fn build_with_sink(
    config: &ConfigFile,
    data_dir: &Path,
    sink: Box<dyn AuditSink>,
) -> Result<Runtime, StartupError> {
    build_inner(config, data_dir, Some(sink)).await
}

/// Every configured store, each admitted by the residency guard as at start-up, without
/// opening keyrings or the audit trail (for `bitatlas probe`).
pub async fn admit_stores(config: &ConfigFile, data_dir: &Path) -> Result<Stores, StartupError> {
    check_probe_settings(&config.probe)?;
    stores::admit_all(config, data_dir, &mut Vec::new()).await
}

/// `[probe]` values that would make the probe meaningless are refused.
fn check_probe_settings(p: &crate::config::ProbeSection) -> Result<(), StartupError> {
    if p.timeout_secs == 0 {
        return Err(E::Config("[probe] timeout_secs must be at least 1".into()));
    }
    if p.unready_after == 0 {
        return Err(E::Config("[probe] unready_after must be at least 1".into()));
    }
    Ok(())
}

/// The whole trail kept in the configured store `name` (for `audit verify --sink`): the store
/// passes the guard first, like at start-up.
pub async fn read_store_trail(
    config: &ConfigFile,
    data_dir: &Path,
    name: &str,
) -> Result<String, StartupError> {
    let mut banner = Vec::new();
    let stores = stores::admit_all(config, data_dir, &mut banner).await?;
    let store = stores
        .get(name)
        .ok_or_else(|| E::Config(format!("unknown store {name}")))?;
    crate::audit::read_store_segments(store.adapter().as_ref())
        .await
        .map_err(|e| E::audit(format!("cannot read the audit trail in store {name}"), e))
}

/// Local copies of the checkpoints of the trail kept in store `name` (instance slot 1).
pub fn store_checkpoint_path(data_dir: &Path, name: &str) -> PathBuf {
    instance::store_checkpoint_path_for(data_dir, name, 1)
}

async fn build_inner(
    config: &ConfigFile,
    data_dir: &Path,
    sink: Option<Box<dyn AuditSink>>,
) -> Result<Runtime, StartupError> {
    for id in config.tenants.keys() {
        if let Some(problem) = tenant_name_problem(id) {
            return Err(E::Config(format!("tenant {id:?}: {problem}")));
        }
    }
    check_probe_settings(&config.probe)?;
    // File roots first: a bad one stops start-up before any store or trail is touched.
    let files = file_roots(config)?;
    let mut banner = Vec::new();
    instance::prepare_data_dir(data_dir).map_err(|e| {
        E::audit(
            format!("cannot create data directory {}", data_dir.display()),
            e,
        )
    })?;
    let stores = stores::admit_all(config, data_dir, &mut banner).await?;
    let opened = match sink {
        Some(s) => instance::Opened::given(s, config),
        None => instance::open(config, data_dir, &stores)
            .map_err(|e| E::audit("audit trail", format!("{e:#}")))?,
    };
    let ttl = keyrings::key_cache_ttl(config).map_err(E::Config)?;
    let mut keyrings = keyrings::load_all(config, data_dir, &stores, ttl).await?;

    let secret = keyrings::load_or_create_audit_secret(&audit_key_path(data_dir))?;
    let audit_keys = Arc::new(AuditKeys::derive(&secret));
    let grants = Arc::new(crate::residency::Grants::default());
    grants.set(grants::read_grants(data_dir, &audit_keys));

    let mut tenants = Vec::new();
    let mut homes = BTreeMap::new();
    for (id, t) in &config.tenants {
        let store = stores
            .get(&t.store)
            .ok_or_else(|| E::Config(format!("tenant {id}: unknown store {}", t.store)))?;
        homes.insert(t.store.clone(), Arc::clone(store));
        let policy_name = t.policy.as_deref().unwrap_or(crate::residency::EEA_POLICY);
        let mut needs: Vec<_> =
            stores::check_tenant_policy_or_grant(config, id, policy_name, &t.store, &grants)?
                .into_iter()
                .collect();
        let (store, copies) = with_replicas(
            config,
            id,
            t,
            policy_name,
            store,
            &stores,
            &grants,
            &mut needs,
        )?;
        let (keyring, keys) = keyrings.take(id, &mut banner).await?;
        let policy = config.policies.get(policy_name);
        let allow_presign_put = policy.map(|p| p.allow_presign_put).unwrap_or(false);
        let confirm = crate::service::Confirm::parse(policy.map_or(&[][..], |p| &p.confirm))
            .map_err(|e| E::Config(format!("policy {policy_name}: confirm: {e}")))?;
        let mut tenant = Tenant::new(id, keyring, store, allow_presign_put)
            .map_err(|e| E::Config(format!("tenant {id}: {e}")))?;
        tenant.set_keys(keys);
        if !needs.is_empty() {
            banner.push(format!(
                "tenant {id}: under an override grant for {}",
                needs
                    .iter()
                    .map(|n| format!("{} ({})", n.store, n.country))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            tenant.set_grant_needs(needs, Arc::clone(&grants));
        }
        if let Some(copies) = copies {
            banner.push(format!(
                "tenant {id}: copies in {}",
                copies
                    .placements()
                    .map(|(p, _)| format!("{} ({})", p.store, p.country))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            tenant.set_copies(copies);
        }
        if let Some(peers) = &opened.peers {
            tenant.set_peer_writes(peers.for_tenant());
        }
        if let Some(ms) = config.server.index_max_age_ms {
            tenant.set_index_max_age(std::time::Duration::from_millis(ms));
        }
        tenant.set_keep_versions(keep_versions(config)?);
        tenant.set_tools(tool_profile(config, id, t.tools.as_deref())?);
        tenant.set_confirm(confirm);
        tenants.push(tenant);
    }
    if tenants.is_empty() {
        return Err(E::Config("no tenants configured".into()));
    }

    grants::keep_fresh(grants, data_dir.to_owned(), Arc::clone(&audit_keys));
    let audit = AuditLog::open(opened.sink, opened.chain, AuditKeys::derive(&secret))
        .map_err(|e| E::audit("cannot continue the audit chain", e))?;
    banner.push(format!("audit: {}", audit.describe()));

    let stdio_tenant = config
        .server
        .stdio_tenant
        .clone()
        .or_else(|| config.tenants.keys().next().cloned())
        .unwrap_or_else(|| DEFAULT_TENANT.into());
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
    if files.is_enabled() {
        let roots: Vec<String> = files.roots().map(|r| r.display().to_string()).collect();
        banner.push(format!("local files: {}", roots.join(", ")));
    }
    let service = Service::with_files(tenants, audit, limits, files);
    service.start_version_sweep();
    service
        .audit_event("startup", &stdio_tenant, "OK")
        .map_err(|e| E::audit("cannot record the start-up", e))?;
    let secs = config
        .server
        .store_check_secs
        .unwrap_or(DEFAULT_STORE_CHECK_SECS);
    if secs == 0 {
        return Err(E::Config(
            "[server] store_check_secs must be at least 1".into(),
        ));
    }
    Ok(Runtime {
        service,
        stdio_tenant,
        banner,
        store_health: StoreHealth::new(homes),
        store_check_interval: std::time::Duration::from_secs(secs),
        probes: ProbeSchedule::new(&stores, &config.probe),
    })
}

/// The `[files] roots` of the configuration (with any `--files-root` already added), opened.
/// Roots in the file must be absolute: a relative one would depend on the directory the
/// server happens to be started from.
fn file_roots(config: &ConfigFile) -> Result<FileRoots, StartupError> {
    if let Some(r) = config.files.roots.iter().find(|r| !r.is_absolute()) {
        return Err(E::Files(FilesError::InvalidRoot {
            root: r.clone(),
            reason: "is not an absolute path".into(),
        }));
    }
    Ok(FileRoots::new(&config.files.roots)?)
}

/// The audit trail of a data directory's first instance slot (see [`audit_trails`]).
pub fn audit_path(data_dir: &Path) -> PathBuf {
    instance::audit_path_for(data_dir, 1)
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

/// Store names mapped to their admitted stores.
pub type Stores = BTreeMap<String, crate::service::SharedStore>;

/// The longest undo window, in days (ten years).
const MAX_KEEP_VERSIONS_DAYS: u32 = 3650;

/// `[server] keep_versions_days` as a window; `None` when off.
fn keep_versions(config: &ConfigFile) -> Result<Option<std::time::Duration>, E> {
    match config.server.keep_versions_days {
        None | Some(0) => Ok(None),
        Some(days) if days > MAX_KEEP_VERSIONS_DAYS => Err(E::Config(format!(
            "[server] keep_versions_days = {days} is above the most allowed, \
             {MAX_KEEP_VERSIONS_DAYS}"
        ))),
        Some(days) => Ok(Some(std::time::Duration::from_secs(
            u64::from(days) * 86_400,
        ))),
    }
}

/// The tools tenant `id` may call: the server's `tools` and `read_only`, met by the
/// tenant's own `tools`. An unknown tool name stops start-up naming it.
fn tool_profile(
    config: &ConfigFile,
    id: &str,
    tenant_tools: Option<&[String]>,
) -> Result<ToolSet, E> {
    let mut set = ToolSet::all();
    if let Some(names) = &config.server.tools {
        let tools =
            ToolSet::parse_names(names).map_err(|e| E::Config(format!("[server] tools: {e}")))?;
        set = set.only(&tools);
    }
    if let Some(names) = tenant_tools {
        let tools = ToolSet::parse_names(names)
            .map_err(|e| E::Config(format!("tenant {id}: tools: {e}")))?;
        set = set.only(&tools);
    }
    if config.server.read_only {
        set = set.without_writes();
    }
    Ok(set)
}

/// The tenant's store with its replicas (`[tenants.NAME] replicas`), each admitted by the
/// guard at start-up and by the tenant's policy; the home store alone when it has none.
#[allow(clippy::too_many_arguments)]
fn with_replicas(
    config: &ConfigFile,
    id: &str,
    t: &crate::config::TenantConfig,
    policy_name: &str,
    home: &crate::service::SharedStore,
    stores: &Stores,
    grants: &crate::residency::Grants,
    needs: &mut Vec<crate::residency::GrantNeed>,
) -> Result<
    (
        crate::service::SharedStore,
        Option<crate::residency::Copies>,
    ),
    StartupError,
> {
    if t.replicas.is_empty() {
        return Ok((Arc::clone(home), None));
    }
    let mut replicas = Vec::new();
    for name in &t.replicas {
        if *name == t.store || t.replicas.iter().filter(|r| *r == name).count() > 1 {
            return Err(E::Config(format!(
                "tenant {id}: replica {name} is named twice or is the home store"
            )));
        }
        needs.extend(stores::check_tenant_policy_or_grant(
            config,
            id,
            policy_name,
            name,
            grants,
        )?);
        let store = stores
            .get(name)
            .ok_or_else(|| E::Config(format!("tenant {id}: unknown replica store {name}")))?;
        replicas.push(store.as_ref());
    }
    let (store, copies) = crate::residency::ReplicaSet::new(home, &replicas).into_store();
    Ok((Arc::new(store), Some(copies)))
}
