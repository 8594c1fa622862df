//! Tenant keyrings and the audit secret of a data directory: loaded, or created once and
//! race-free, and never silently replaced.
//!
//! Generating a keyring where one already existed would hide every object sealed under the old
//! one (`list` shows nothing, `get` says `NOT_FOUND`) and mix two generations of objects in the
//! store. So a missing keyring file is only generated when nothing shows that the tenant had
//! one. The evidence, checked only while some keyring file is missing:
//!
//! - **the store**: the tenant's folder is a keyed hash of the keyring (`t/<hash>`), so the
//!   objects of a lost keyring cannot be found by name. Instead every folder under `t/` of the
//!   tenant's store is matched against the folders of the keyrings that did load (tenants on
//!   that store); objects in a folder no loaded keyring names are orphans, possibly the
//!   missing tenant's. Any orphan refuses the start.
//! - **the audit trail**: the local trails of the data directory (`audit/audit*.jsonl`) are
//!   searched, with the audit key, for a successful `put` by the tenant (tenants appear only as
//!   keyed pseudonyms). A trail kept in a store (`[audit] store`) is not searched.
//!
//! A refusal names the missing file and how to restore it (`bitatlas keys import`). Starting
//! over on purpose is `bitatlas keys generate --keyring FILE`: an explicit decision, never an
//! implicit one at start-up.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use super::Stores;
use super::transit::TransitProvider;
use crate::audit::{AuditRecord, Phase};
use crate::config::{ConfigFile, TenantConfig, default_keyring_path};
use crate::crypto::{
    Algorithm, CryptoError, FileProvider, FixedProvider, KeyProvider, Keyring, Loaded, OsRandom,
    TenantKeys,
};
use crate::service::Tenant;

/// Why a tenant's keyring could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The keyring exists but does not load (permissions, format, environment).
    #[error("tenant {tenant}: {source}")]
    Load {
        /// Tenant id.
        tenant: String,
        /// What the crypto module said (names the file, never key bytes).
        source: CryptoError,
    },
    /// The keyring file is missing although the tenant's data shows it existed.
    #[error(
        "tenant {tenant}: KEYRING_MISSING: the keyring {path} is missing, but {evidence}; \
         generating a new one would hide those objects. Restore it from a backup: \
         `bitatlas keys import --keyring {path} --passphrase-env VAR < BACKUP` (made with \
         `bitatlas keys export`). If those objects are lost for good and you mean to start \
         over, create a new keyring deliberately with `bitatlas keys generate --keyring {path}`"
    )]
    Missing {
        /// Tenant id.
        tenant: String,
        /// The missing file.
        path: PathBuf,
        /// What shows the tenant had a keyring.
        evidence: String,
    },
    /// The store could not be listed to look for the tenant's objects.
    #[error("tenant {tenant}: cannot look for existing objects in store {store}: {reason}")]
    Store {
        /// Tenant id.
        tenant: String,
        /// Store name.
        store: String,
        /// The adapter's error.
        reason: String,
    },
    /// The audit secret file is unusable.
    #[error("audit key {path}: {reason}")]
    AuditKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The keyring file of tenant `id` (when it is not given through the environment).
pub fn keyring_path(id: &str, t: &TenantConfig, data_dir: &Path) -> PathBuf {
    t.keyring.clone().unwrap_or_else(|| {
        if id == "default" {
            default_keyring_path(data_dir)
        } else {
            data_dir.join("keys").join(format!("{id}.keyring"))
        }
    })
}

/// Every tenant's keyring, loaded or cleared for creation: what [`load_all`] decided.
pub struct Keyrings {
    loaded: BTreeMap<String, (Loaded, String)>,
    to_create: BTreeMap<String, PathBuf>,
    providers: BTreeMap<String, TenantProvider>,
    ttl: Duration,
}

/// A tenant's key provider as configured.
#[derive(Clone)]
enum TenantProvider {
    /// The keyring file.
    File(Arc<FileProvider>),
    /// A keyring from an environment variable: loaded once, never reloaded.
    Env(String),
    /// A keyring file wrapped by OpenBao / Vault Transit.
    Transit(Arc<TransitProvider>),
}

impl TenantProvider {
    fn for_tenant(id: &str, t: &TenantConfig, data_dir: &Path) -> Result<Self, KeyringError> {
        let load_err = |reason: String| KeyringError::Load {
            tenant: id.to_owned(),
            source: CryptoError::Keyring(reason),
        };
        if let Some(var) = &t.keyring_env {
            if t.key_provider.is_some() {
                return Err(load_err(
                    "keyring_env and key_provider exclude each other".into(),
                ));
            }
            return Ok(Self::Env(var.clone()));
        }
        let path = keyring_path(id, t, data_dir);
        match t.key_provider.as_ref().map(|p| p.kind.as_str()) {
            None | Some("keyring") => Ok(Self::File(Arc::new(FileProvider::new(path)))),
            Some("transit") => {
                let config = t.key_provider.as_ref().expect("matched Some");
                TransitProvider::from_config(id, config, path)
                    .map(|p| Self::Transit(Arc::new(p)))
                    .map_err(load_err)
            }
            Some(other) => Err(load_err(format!(
                "key_provider kind {other:?} is not known (kinds: keyring, transit)"
            ))),
        }
    }

    async fn load(&self, tenant: &str) -> Result<Loaded, KeyringError> {
        let err = |source| KeyringError::Load {
            tenant: tenant.to_owned(),
            source,
        };
        match self {
            Self::File(p) => Keyring::load(&p.describe_path()).map(|ring| Loaded {
                ring,
                version: None,
            }),
            Self::Env(var) => Keyring::from_env(var).map(|ring| Loaded {
                ring,
                version: None,
            }),
            Self::Transit(p) => p.load().await,
        }
        .map_err(err)
    }

    fn as_dyn(&self, ring: &Arc<Keyring>) -> Arc<dyn KeyProvider> {
        match self {
            Self::File(p) => Arc::clone(p) as Arc<dyn KeyProvider>,
            Self::Env(var) => Arc::new(FixedProvider::new(
                Arc::clone(ring),
                "env",
                format!("${var}"),
            )),
            Self::Transit(p) => Arc::clone(p) as Arc<dyn KeyProvider>,
        }
    }
}

impl Keyrings {
    /// The keyring of tenant `id` and its keys at run time, generating the keyring now if it
    /// was cleared for creation (create-new: a process that loses the race loads the winner's
    /// file). Adds the banner line saying where it is.
    pub async fn take(
        &mut self,
        id: &str,
        banner: &mut Vec<String>,
    ) -> Result<(Arc<Keyring>, TenantKeys), KeyringError> {
        let err = |source| KeyringError::Load {
            tenant: id.to_owned(),
            source,
        };
        let provider = self
            .providers
            .remove(id)
            .ok_or_else(|| err(CryptoError::Keyring("no keyring configured".into())))?;
        let (loaded, source) = if let Some(found) = self.loaded.remove(id) {
            found
        } else {
            let path = self
                .to_create
                .remove(id)
                .ok_or_else(|| err(CryptoError::Keyring("no keyring configured".into())))?;
            let (loaded, created) = match &provider {
                TenantProvider::Transit(p) => {
                    let ring = Keyring::generate_with_rng(Algorithm::default(), &mut OsRandom)
                        .map_err(err)?;
                    match p.create(&ring).await {
                        Ok(version) => (Loaded { ring, version }, true),
                        Err(CryptoError::Keyring(_)) if path.exists() => {
                            (p.load().await.map_err(err)?, false)
                        }
                        Err(e) => return Err(err(e)),
                    }
                }
                _ => {
                    let (ring, created) =
                        Keyring::load_or_create(&path, Algorithm::default()).map_err(err)?;
                    (
                        Loaded {
                            ring,
                            version: None,
                        },
                        created,
                    )
                }
            };
            if created {
                tracing::info!(tenant = %id, path = %path.display(), "generated a new keyring");
            }
            let what = format!("{}{}", path.display(), if created { " (new)" } else { "" });
            (loaded, what)
        };
        // The tenant keeps the naming key for its life; the KEKs only in the key cache.
        let ring = Arc::new(loaded.ring.naming_only().map_err(err)?);
        let ttl = match provider {
            TenantProvider::Env(_) => None,
            _ => Some(self.ttl),
        };
        // A keyring from the environment is held whole for the process's life anyway.
        let dynamic = provider.as_dyn(&Arc::new(loaded.ring.clone()));
        let keys = TenantKeys::new(dynamic, loaded, ttl);
        let info = keys.describe();
        let version = info.version.map(|v| format!(" v{v}")).unwrap_or_default();
        banner.push(match info.kind {
            "transit" => format!(
                "keyring {id}: {source}, wrapped by Transit {}{version}",
                info.location
            ),
            _ => format!("keyring {id}: {source}"),
        });
        Ok((ring, keys))
    }
}

/// The key cache TTL of `[server] key_cache_ttl_secs` (an error names a value out of range).
pub fn key_cache_ttl(config: &ConfigFile) -> Result<Duration, String> {
    let secs = config
        .server
        .key_cache_ttl_secs
        .unwrap_or(super::defaults::DEFAULT_KEY_CACHE_TTL_SECS);
    if secs > super::defaults::MAX_KEY_CACHE_TTL_SECS {
        return Err(format!(
            "[server] key_cache_ttl_secs = {secs}: at most {}",
            super::defaults::MAX_KEY_CACHE_TTL_SECS
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// Loads every tenant's keyring and decides, for each missing file, whether it may be
/// generated: only where nothing shows the tenant had one (see the module docs). Tenants whose
/// store is not configured are left out (start-up reports them).
pub async fn load_all(
    config: &ConfigFile,
    data_dir: &Path,
    stores: &Stores,
    ttl: Duration,
) -> Result<Keyrings, KeyringError> {
    let mut loaded = BTreeMap::new();
    let mut providers = BTreeMap::new();
    let mut missing = Vec::new();
    for (id, t) in &config.tenants {
        let provider = TenantProvider::for_tenant(id, t, data_dir)?;
        providers.insert(id.clone(), provider.clone());
        if let TenantProvider::Env(var) = &provider {
            let ring = provider.load(id).await?;
            loaded.insert(id.clone(), (ring, format!("from ${var}")));
            continue;
        }
        let path = keyring_path(id, t, data_dir);
        if std::fs::symlink_metadata(&path).is_ok() {
            let ring = provider.load(id).await?;
            loaded.insert(id.clone(), (ring, path.display().to_string()));
        } else if stores.contains_key(&t.store) {
            missing.push((id, t, path));
        }
    }

    let mut to_create = BTreeMap::new();
    let mut orphans: HashMap<String, usize> = HashMap::new();
    let mut puts = AuditPuts::new(data_dir);
    for (id, t, path) in missing {
        let store_orphans = match orphans.get(&t.store) {
            Some(n) => *n,
            None => {
                let n = orphan_objects(config, stores, &loaded, id, &t.store).await?;
                orphans.insert(t.store.clone(), n);
                n
            }
        };
        let put_count = puts.successful_puts(id);
        if store_orphans == 0 && put_count == 0 {
            to_create.insert(id.clone(), path);
            continue;
        }
        // Another process may have created it meanwhile (its objects are the orphans).
        if std::fs::symlink_metadata(&path).is_ok() {
            let ring = providers[id.as_str()].load(id).await?;
            loaded.insert(id.clone(), (ring, path.display().to_string()));
            continue;
        }
        let mut evidence = Vec::new();
        if store_orphans > 0 {
            evidence.push(format!(
                "store {} holds {store_orphans} sealed object(s) that no loaded keyring opens",
                t.store
            ));
        }
        if put_count > 0 {
            evidence.push(format!(
                "the audit trail in {} records {put_count} successful put(s) by this tenant",
                data_dir.join("audit").display()
            ));
        }
        return Err(KeyringError::Missing {
            tenant: id.clone(),
            path,
            evidence: evidence.join(" and "),
        });
    }
    Ok(Keyrings {
        loaded,
        to_create,
        providers,
        ttl,
    })
}

/// Objects under `t/` of `store` in folders that no loaded keyring of a tenant on that store
/// names.
async fn orphan_objects(
    config: &ConfigFile,
    stores: &Stores,
    loaded: &BTreeMap<String, (Loaded, String)>,
    tenant: &str,
    store: &str,
) -> Result<usize, KeyringError> {
    let store_err = |reason: String| KeyringError::Store {
        tenant: tenant.to_owned(),
        store: store.to_owned(),
        reason,
    };
    let Some(shared) = stores.get(store) else {
        // An unknown store is reported when the tenant is built.
        return Ok(0);
    };
    let mut known = BTreeSet::new();
    for (id, (ring, _)) in loaded {
        if config.tenants.get(id).is_some_and(|t| t.store == store) {
            let root =
                Tenant::storage_root(&ring.ring, id).map_err(|e| store_err(e.to_string()))?;
            known.insert(format!("{}/", root.as_str()));
        }
    }
    let prefix =
        bitatlas_adapters::StorageName::parse("t").map_err(|e| store_err(e.to_string()))?;
    let listed = shared
        .adapter()
        .list(&prefix)
        .await
        .map_err(|e| store_err(e.to_string()))?;
    Ok(listed
        .iter()
        .filter(|m| !known.iter().any(|root| m.name.as_str().starts_with(root)))
        .count())
}

/// Successful puts per tenant in the data directory's local trails, read once, on first use.
struct AuditPuts {
    data_dir: PathBuf,
    /// `None` until read; then the audit keys and the count per tenant pseudonym, or nothing
    /// when there is no audit key (pseudonyms cannot be computed).
    read: Option<Option<(crate::audit::AuditKeys, HashMap<String, usize>)>>,
}

impl AuditPuts {
    fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            read: None,
        }
    }

    fn successful_puts(&mut self, tenant: &str) -> usize {
        let data_dir = &self.data_dir;
        let read = self.read.get_or_insert_with(|| {
            let keys = super::read_audit_keys(&super::audit_key_path(data_dir)).ok()?;
            Some((keys, count_puts(data_dir)))
        });
        read.as_ref()
            .and_then(|(keys, counts)| counts.get(&keys.pseudonym("tenant", tenant)))
            .copied()
            .unwrap_or(0)
    }
}

/// Successful `put` outcomes per tenant pseudonym in every trail of `data_dir`.
fn count_puts(data_dir: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for path in super::instance::audit_trails(data_dir) {
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            let Ok(rec) = serde_json::from_str::<AuditRecord>(&line) else {
                continue;
            };
            if rec.tool == "put" && rec.phase == Phase::Outcome && rec.code == "OK" {
                *counts.entry(rec.tenant).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// The 32-byte audit secret in `path` (mode 0600), created on first use. Creation writes a
/// temporary file and links it into place only if nothing is there yet, so two processes
/// starting at once end up with the same secret and neither reads a half-written file.
pub fn load_or_create_audit_secret(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyringError> {
    let err = |reason: String| KeyringError::AuditKey {
        path: path.to_owned(),
        reason,
    };
    let read = |path: &Path| -> Result<Zeroizing<[u8; 32]>, KeyringError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| err(e.to_string()))?);
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return Err(err("not a 32-byte key".into()));
        }
        key.copy_from_slice(&bytes);
        Ok(key)
    };
    match std::fs::symlink_metadata(path) {
        Ok(_) => return read(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut key[..]).map_err(|_| err("no system randomness".into()))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(|e| err(e.to_string()))?;
    }
    use std::io::Write as _;
    let mut tmp = tempfile::Builder::new()
        .prefix(".audit-key-")
        .tempfile_in(dir)
        .map_err(|e| err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(e.to_string()))?;
    }
    tmp.write_all(&key[..]).map_err(|e| err(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| err(e.to_string()))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(key),
        // Another process created it first: use theirs.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(err(e.error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racing_processes_get_one_audit_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.key");
        let secrets: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| *load_or_create_audit_secret(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(secrets.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
