//! The per-tenant object index: keys, sizes and sealed metadata, held only in memory.
//!
//! Stores see opaque names, so listing and searching work from this index. It is rebuilt
//! from the store itself (each object's sealed info block carries its key and metadata), so
//! it can never disagree with the store for long: own writes update it at once, and a
//! reconcile pass picks up objects written by other instances or uploaded through presigned
//! URLs. Nothing of it is written to disk in clear.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, RwLock};

use bitatlas_adapters::{Adapter, ObjectMeta, StorageName};

use super::error::ServiceError;
use crate::crypto::{self, Keyring, TenantKeys};

/// What the index knows about one object.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Storage name (opaque).
    pub name: StorageName,
    /// Plaintext size.
    pub size: u64,
    /// Stored (ciphertext) size, to notice replacements.
    pub stored_size: u64,
    /// The store's entity tag of the envelope this entry describes: a replacement of the
    /// same size in the same instant (another writer, another instance) is still noticed.
    pub e_tag: Option<String>,
    /// Last modification time.
    pub last_modified: DateTime<Utc>,
    /// Content type.
    pub content_type: String,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Writers of one key take the same one of this many locks.
const KEY_LOCKS: usize = 64;

/// The index of one tenant.
pub struct Index {
    entries: RwLock<BTreeMap<String, Entry>>,
    /// Held shared by writers, exclusively by reconcile, so a reconcile never races a write.
    pub(super) writes: RwLock<()>,
    /// Writes and deletes of one key in this process go one at a time, store write and index
    /// update together, so the index ends with what the store ends with.
    key_locks: Vec<Mutex<()>>,
    last_sync: Mutex<Option<Instant>>,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            entries: RwLock::default(),
            writes: RwLock::default(),
            key_locks: (0..KEY_LOCKS).map(|_| Mutex::new(())).collect(),
            last_sync: Mutex::default(),
        }
    }
}

/// Everything reconcile needs to open info blocks.
pub struct SyncContext<'a> {
    /// Tenant id.
    pub tenant: &'a str,
    /// Store name (part of the envelope context).
    pub store: &'a str,
    /// The tenant's keyring as loaded at start-up (its naming key names objects).
    pub naming: &'a Keyring,
    /// The tenant's keys, asked only when an info block has to be opened.
    pub keys: &'a TenantKeys,
    /// The tenant's folder in the store.
    pub root: &'a StorageName,
    /// The store.
    pub adapter: &'a dyn Adapter,
    /// How old the index may be before a read reconciles it.
    pub max_age: Duration,
}

impl Index {
    /// Serialises this process's writes and deletes of `key` (hold the guard across the store
    /// write and the index update).
    pub async fn lock_key(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        self.key_locks[(h.finish() as usize) % KEY_LOCKS]
            .lock()
            .await
    }

    /// Records a write made by this instance.
    pub async fn upsert(&self, key: String, entry: Entry) {
        self.entries.write().await.insert(key, entry);
    }

    /// Records a delete made by this instance.
    pub async fn remove(&self, key: &str) {
        self.entries.write().await.remove(key);
    }

    /// Runs `f` over the entries, after bringing the index up to date if it is too old.
    pub async fn read<R>(
        &self,
        sync: &SyncContext<'_>,
        f: impl FnOnce(&BTreeMap<String, Entry>) -> R,
    ) -> Result<R, ServiceError> {
        self.refresh(sync).await?;
        Ok(f(&*self.entries.read().await))
    }

    /// Unavailable keys fail the refresh (`KEY_UNAVAILABLE`) instead of leaving every object
    /// out of the index.
    async fn refresh(&self, sync: &SyncContext<'_>) -> Result<(), ServiceError> {
        let mut last = self.last_sync.lock().await;
        if last.is_some_and(|t| t.elapsed() < sync.max_age) {
            return Ok(());
        }
        let _exclusive = self.writes.write().await;
        // Objects live under `<root>/o/`; other folders of the root (link markers) are not
        // objects.
        let objects = sync
            .root
            .join("o")
            .map_err(|_| bitatlas_adapters::AdapterError::Unavailable("bad tenant root"))?;
        let listed = sync.adapter.list(&objects).await?;
        let current = self.entries.read().await;
        let known: HashMap<&StorageName, (&String, &Entry)> =
            current.iter().map(|(k, e)| (&e.name, (k, e))).collect();
        let mut next = BTreeMap::new();
        let mut ring = None;
        for meta in listed {
            match known.get(&meta.name) {
                Some((key, e)) if e.describes(&meta) => {
                    next.insert((*key).clone(), (*e).clone());
                }
                _ => {
                    let ring = match &ring {
                        Some(r) => r,
                        None => ring.insert(sync.keys.keyring().await?),
                    };
                    if let Some((key, entry)) = load_entry(sync, ring, &meta).await {
                        next.insert(key, entry);
                    }
                }
            }
        }
        drop(known);
        drop(current);
        *self.entries.write().await = next;
        *last = Some(Instant::now());
        Ok(())
    }
}

impl Entry {
    /// Whether this entry describes the object the store lists: the same entity tag where
    /// the store has them, else the same size and modification time.
    fn describes(&self, meta: &ObjectMeta) -> bool {
        self.stored_size == meta.size
            && match (&self.e_tag, &meta.e_tag) {
                (Some(ours), Some(theirs)) => ours == theirs,
                _ => self.last_modified == meta.last_modified,
            }
    }
}

/// Opens one object's info block; objects that fail are left out of the index and logged
/// (they stay in the store for an operator to inspect).
async fn load_entry(
    sync: &SyncContext<'_>,
    keyring: &Keyring,
    meta: &ObjectMeta,
) -> Option<(String, Entry)> {
    let prefix_len = (crypto::Layout::PREFIX_MAX as u64).min(meta.size);
    let prefix = match sync.adapter.get_range(&meta.name, 0..prefix_len).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read object while indexing");
            return None;
        }
    };
    let opened =
        crypto::open_info(keyring, sync.tenant, sync.store, &prefix).and_then(|(info, _)| {
            let layout = crypto::Layout::parse(&prefix)?;
            Ok((info, layout.plaintext_len(meta.size)?))
        });
    let (info, size) = match opened {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                "object in tenant folder does not open; skipped"
            );
            return None;
        }
    };
    let expected = super::tenant::object_name(sync.naming, sync.root, sync.tenant, &info.key);
    if expected.ok().as_ref() != Some(&meta.name) {
        tracing::warn!("object stored under a name that does not match its key; skipped");
        return None;
    }
    let content_type = info
        .content_type
        .clone()
        .unwrap_or_else(|| super::DEFAULT_CONTENT_TYPE.to_owned());
    Some((
        info.key,
        Entry {
            name: meta.name.clone(),
            size,
            stored_size: meta.size,
            e_tag: meta.e_tag.clone(),
            last_modified: meta.last_modified,
            content_type,
            metadata: info.metadata,
        },
    ))
}
