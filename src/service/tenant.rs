//! A tenant at run time: its keyring, its guarded store, its index.

use std::sync::Arc;
use std::time::Duration;

use bitatlas_adapters::{Adapter, StorageName};

use super::call::Tool;
use super::error::{ErrorCode, ServiceError};
use super::index::{Index, SyncContext};
use super::profile::ToolSet;
use crate::crypto::{CryptoError, Keyring, TenantKeys};
use crate::residency::{Copies, GrantNeed, Grants, GuardedStore, Placement};

/// A guarded store shared by the tenants that live in it.
pub type SharedStore = Arc<GuardedStore<Arc<dyn Adapter>>>;

/// One tenant's runtime state.
pub struct Tenant {
    pub(super) id: String,
    /// The keyring as loaded at start-up: its naming key (which never rotates) names objects
    /// and seals links and cursors. Envelopes are sealed and opened with [`Tenant::keys`].
    pub(super) keyring: Arc<Keyring>,
    /// The tenant's keys as its provider hands them out, cached for at most the key cache TTL.
    pub(super) keys: TenantKeys,
    pub(super) store: SharedStore,
    pub(super) root: StorageName,
    pub(super) index: Index,
    pub(super) allow_presign_put: bool,
    pub(super) index_max_age: Duration,
    pub(super) peer_writes: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    pub(super) tools: ToolSet,
    /// The profile as configured, before the undo window's tools are taken out.
    profile: ToolSet,
    pub(super) confirm: Confirm,
    /// How long overwritten and deleted objects stay restorable; `None`: not kept.
    pub(super) keep_versions: Option<Duration>,
    /// The home store and its replicas, when the tenant has replicas.
    pub(super) copies: Option<Copies>,
    /// Stores the tenant may use only under an override grant, and the grants in force.
    pub(super) grant_needs: Option<(Vec<GrantNeed>, Arc<Grants>)>,
}

/// Which destructive calls of a tenant ask the person first (`[policies.NAME] confirm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confirm {
    /// Deleting an object that exists.
    pub delete: bool,
    /// A `put` over an object that exists.
    pub overwrite: bool,
}

impl Confirm {
    /// From the policy's names; an unknown name is an error naming it.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut c = Confirm::default();
        for n in names {
            match n.as_ref() {
                "delete" => c.delete = true,
                "overwrite" => c.overwrite = true,
                other => {
                    return Err(format!(
                        "unknown confirm entry {other:?} (entries: delete, overwrite)"
                    ));
                }
            }
        }
        Ok(c)
    }
}

impl Tenant {
    /// A tenant living in `store`, sealing with `keyring`.
    pub fn new(
        id: &str,
        keyring: Arc<Keyring>,
        store: SharedStore,
        allow_presign_put: bool,
    ) -> Result<Self, ServiceError> {
        let root = Self::storage_root(&keyring, id)?;
        Ok(Self {
            id: id.to_owned(),
            keys: TenantKeys::fixed(Arc::clone(&keyring)),
            keyring,
            store,
            root,
            index: Index::default(),
            allow_presign_put,
            index_max_age: Duration::from_secs(5),
            peer_writes: None,
            tools: ToolSet::all().without(&[Tool::Versions, Tool::Restore]),
            profile: ToolSet::all(),
            confirm: Confirm::default(),
            keep_versions: None,
            copies: None,
            grant_needs: None,
        })
    }

    /// Seals and opens envelopes with keys from `keys` (default: the keyring given to
    /// [`Tenant::new`], for ever). `keys` must hand out the same naming key.
    pub fn set_keys(&mut self, keys: TenantKeys) {
        self.keys = keys;
    }

    /// The tenant's store is a replica set (`store` then already writes to every copy).
    pub fn set_copies(&mut self, copies: Copies) {
        self.copies = Some(copies);
    }

    /// The tenant uses `needs` only under an override grant from `grants`: every call checks
    /// that one is still in force.
    pub fn set_grant_needs(&mut self, needs: Vec<GrantNeed>, grants: Arc<Grants>) {
        self.grant_needs = Some((needs, grants));
    }

    /// The ids of the grants this tenant's calls run under (empty without a need), or the
    /// refusal when one it needs is no longer in force (expired, revoked).
    pub(super) fn grants_in_force(&self) -> Result<Vec<String>, ServiceError> {
        let Some((needs, grants)) = &self.grant_needs else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for need in needs {
            match grants.covering(&self.id, need) {
                Some(id) => {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                None => {
                    return Err(ServiceError::new(
                        ErrorCode::PolicyCountryNotAllowed,
                        format!(
                            "store {} ({}) is outside this tenant's policy and the override \
                             grant that allowed it has ended or was revoked; nothing was done",
                            need.store, need.country
                        ),
                    ));
                }
            }
        }
        Ok(ids)
    }

    /// The home store and its replicas, when there are replicas.
    pub fn copies(&self) -> Option<&Copies> {
        self.copies.as_ref()
    }

    /// The replica that answered a call's reads, from the index [`bitatlas_adapters::tracking`]
    /// gave (`None` for the home store).
    pub(super) fn served_by(&self, copy: usize) -> Option<Placement> {
        let copies = self.copies.as_ref()?;
        (copy > 0).then(|| copies.copy(copy).clone())
    }

    /// Where the tenant's keys are (for `locate` and reports).
    pub fn key_provider(&self) -> crate::crypto::ProviderInfo {
        self.keys.describe()
    }

    /// The keyring to seal with: the provider's, fresh within the cache TTL.
    pub(super) async fn sealing_keys(&self) -> Result<Arc<Keyring>, ServiceError> {
        Ok(self.keys.keyring().await?)
    }

    /// The keyring to open the envelope starting with `prefix`: the cached one, or, when it
    /// lacks the KEK the header names (a rotation or rewrap since it was loaded), loaded anew
    /// once.
    pub(super) async fn keys_for(&self, prefix: &[u8]) -> Result<Arc<Keyring>, ServiceError> {
        let ring = self.keys.keyring().await?;
        let Ok(layout) = crate::crypto::Layout::parse(prefix) else {
            return Ok(ring);
        };
        if ring.has_kek(layout.kek_id()) {
            return Ok(ring);
        }
        let ring = self.keys.reload().await?;
        if !ring.has_kek(layout.kek_id()) {
            return Err(CryptoError::UnknownKek(layout.kek_id().to_owned()).into());
        }
        Ok(ring)
    }

    /// Which destructive calls ask the person first (default: none).
    pub fn set_confirm(&mut self, confirm: Confirm) {
        self.confirm = confirm;
    }

    /// The tools this tenant may call (default: every tool). Without an undo window,
    /// `versions` and `restore` are never listed.
    pub fn set_tools(&mut self, tools: ToolSet) {
        self.profile = tools;
        self.tools = self.effective_tools();
    }

    /// Keeps overwritten and deleted objects restorable for `keep` (default: not kept).
    pub fn set_keep_versions(&mut self, keep: Option<Duration>) {
        self.keep_versions = keep;
        self.tools = self.effective_tools();
    }

    fn effective_tools(&self) -> ToolSet {
        if self.keep_versions.is_some() {
            self.profile.clone()
        } else {
            self.profile
                .clone()
                .without(&[Tool::Versions, Tool::Restore])
        }
    }

    /// The tenant's folder in its store, `t/<keyed hash>`. The folder name is a keyed hash
    /// too, so the provider cannot tell tenants apart by name; only the keyring names it.
    pub fn storage_root(keyring: &Keyring, id: &str) -> Result<StorageName, ServiceError> {
        let label = keyring.object_name(id, "\0tenant-root");
        StorageName::parse(&format!("t/{}", &label[..32.min(label.len())]))
            .map_err(|_| ServiceError::new(ErrorCode::Internal, "bad tenant root"))
    }

    /// Lets `list`/`search` notice writes by other processes sharing the store at once:
    /// `peer_writes` is asked before each of them and answers true when another process may
    /// have written since it last answered true; the index then re-reads the store at once
    /// instead of waiting for the index age limit.
    pub fn set_peer_writes(&mut self, peer_writes: Arc<dyn Fn() -> bool + Send + Sync>) {
        self.peer_writes = Some(peer_writes);
    }

    /// How stale the index may get before `list`/`search` re-read the store (default 5 s).
    /// Writes made through this instance are visible at once regardless.
    pub fn set_index_max_age(&mut self, age: Duration) {
        self.index_max_age = age;
    }

    /// Where this tenant's bytes live.
    pub fn placement(&self) -> &Placement {
        self.store.placement()
    }

    pub(super) fn adapter(&self) -> &dyn Adapter {
        self.store.adapter().as_ref()
    }

    pub(super) fn store_name(&self) -> &str {
        &self.store.placement().store
    }

    /// A name beside the objects, `<root>/<folder>/<keyed hash of label>`: opaque to the
    /// provider (markers, staged uploads).
    pub(super) fn side_name(&self, folder: &str, label: &str) -> Result<StorageName, ServiceError> {
        let hash = self.keyring.object_name(&self.id, label);
        self.root
            .join(&format!("{folder}/{hash}"))
            .map_err(|_| ServiceError::new(ErrorCode::Internal, "cannot derive a storage name"))
    }

    pub(super) fn name_of(&self, key: &str) -> Result<StorageName, ServiceError> {
        object_name(&self.keyring, &self.root, &self.id, key)
            .map_err(|_| ServiceError::new(ErrorCode::Internal, "cannot derive storage name"))
    }

    pub(super) fn sync_context(&self) -> SyncContext<'_> {
        SyncContext {
            tenant: &self.id,
            store: self.store_name(),
            naming: &self.keyring,
            keys: &self.keys,
            root: &self.root,
            adapter: self.adapter(),
            max_age: match &self.peer_writes {
                Some(changed) if changed() => Duration::ZERO,
                _ => self.index_max_age,
            },
        }
    }
}

/// The opaque storage name of `key`: `<root>/o/<keyed hash>`.
pub(super) fn object_name(
    keyring: &Keyring,
    root: &StorageName,
    tenant: &str,
    key: &str,
) -> Result<StorageName, bitatlas_adapters::AdapterError> {
    root.join(&format!("o/{}", keyring.object_name(tenant, key)))
}
