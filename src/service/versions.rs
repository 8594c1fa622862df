//! The undo window (`[server] keep_versions_days = N`): before an object is overwritten or
//! deleted, its sealed envelope is copied, unchanged, to `<root>/v/<keyed hash of the key>/
//! <nanoseconds>` in the same store. A version is therefore exactly as sealed, as guarded and
//! as opaque to the provider as the object was (it still opens only for the same tenant,
//! store and key); the provider learns how many versions an object has and when they were
//! kept, as it already sees writes happen. Versions older than N days are removed when the
//! key is next written and by an hourly sweep; `purge` removes the object and every version
//! at once (what erasure must use).
//!
//! Keeping a version is part of the write: if it cannot be kept, the write is refused and
//! nothing changes. Uploads through presigned PUT URLs go to the store directly and commit
//! through `presign`'s commit, which keeps the version like any other write.

use std::time::Duration;

use bitatlas_adapters::{AdapterError, Part, StorageName};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::call::Audited;
use super::error::{ErrorCode, ServiceError};
use super::put::record_write;
use super::{Caller, Deleted, ObjectKey, Service, Stored, Tenant, Tool, ledger};
use crate::crypto::{self, Layout};

/// Envelopes are copied in reads of this size (memory stays bounded whatever the size).
const COPY_PIECE: u64 = 8 << 20;
/// At most this many versions are listed, newest first.
pub const MAX_LISTED: usize = 100;
/// Between two sweeps of expired versions.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The kept versions of one key.
#[derive(Debug, Clone)]
pub struct Versions {
    /// The key.
    pub key: String,
    /// Whether the key has a current object.
    pub current: bool,
    /// Kept versions, newest first (at most [`MAX_LISTED`]).
    pub versions: Vec<Version>,
    /// How long a version is kept.
    pub keep_days: u32,
}

impl Audited for Versions {}

/// One kept version.
#[derive(Debug, Clone)]
pub struct Version {
    /// Its id, for `restore`.
    pub version: String,
    /// When it stopped being the current object (overwritten or deleted).
    pub kept_at: DateTime<Utc>,
    /// Plaintext size in bytes.
    pub size: u64,
    /// MIME type given at `put`.
    pub content_type: Option<String>,
}

impl Service {
    /// The kept versions of `key`, newest first; each was opened far enough to know it is
    /// this key's.
    pub async fn versions(&self, caller: &Caller, key: &str) -> Result<Versions, ServiceError> {
        self.run(caller, Tool::Versions, Some(key), async |tenant| {
            let keep = window(tenant)?;
            let parsed = ObjectKey::parse(key)?;
            let name = tenant.name_of(parsed.as_str())?;
            let current = match tenant.adapter().head(&name).await {
                Ok(_) => true,
                Err(AdapterError::NotFound) => false,
                Err(e) => return Err(e.into()),
            };
            let now = Utc::now();
            let mut kept = kept_versions(tenant, &name).await?;
            kept.retain(|(_, at)| !expired(*at, now, keep));
            let mut versions = Vec::new();
            for (id, kept_at) in kept.into_iter().take(MAX_LISTED) {
                let vname = versions_dir(tenant, &name)?.join(&id)?;
                let (size, info) = describe(tenant, &vname, parsed.as_str()).await?;
                versions.push(Version {
                    version: id,
                    kept_at,
                    size,
                    content_type: info.content_type,
                });
            }
            Ok(Versions {
                key: parsed.as_str().to_owned(),
                current,
                versions,
                keep_days: (keep.as_secs() / 86_400) as u32,
            })
        })
        .await
    }

    /// Makes version `version` of `key` the current object again; the current one (if any)
    /// is kept as a version first, so a restore can itself be undone.
    pub async fn restore(
        &self,
        caller: &Caller,
        key: &str,
        version: &str,
    ) -> Result<Stored, ServiceError> {
        self.run(caller, Tool::Restore, Some(key), async |tenant| {
            window(tenant)?;
            let parsed = ObjectKey::parse(key)?;
            let name = tenant.name_of(parsed.as_str())?;
            parse_id(version)?;
            let vname = versions_dir(tenant, &name)?.join(version)?;
            let stored = match tenant.adapter().head(&vname).await {
                Ok(meta) => meta.size,
                Err(AdapterError::NotFound) => {
                    return Err(ServiceError::new(
                        ErrorCode::NotFound,
                        format!("no version {version} of {:?} is kept", parsed.as_str()),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            let (size, info) = describe(tenant, &vname, parsed.as_str()).await?;
            let _one_writer = tenant.index.lock_key(parsed.as_str()).await;
            let _no_reconcile = tenant.index.writes.read().await;
            let (tx, rx) = mpsc::channel(1);
            let (written, read) = tokio::join!(
                ledger::put_parts(tenant, &name, rx),
                send_pieces(tenant, &vname, stored, tx)
            );
            read?;
            let e_tag = written?;
            Ok(record_write(
                tenant,
                parsed.as_str(),
                name,
                (size, stored, e_tag),
                info.content_type
                    .unwrap_or_else(|| super::DEFAULT_CONTENT_TYPE.to_owned()),
                info.metadata,
            )
            .await)
        })
        .await
    }

    /// Deletes `key` and every kept version of it at once: nothing of it stays restorable.
    pub async fn purge(&self, caller: &Caller, key: &str) -> Result<Deleted, ServiceError> {
        self.run(caller, Tool::Delete, Some(key), async |tenant| {
            let parsed = ObjectKey::parse(key)?;
            let (current, versions) = purge_key(tenant, parsed.as_str()).await?;
            Ok(Deleted {
                key: key.to_owned(),
                deleted: current || versions > 0,
            })
        })
        .await
    }

    /// Starts the sweep of expired versions, now and every [`SWEEP_EVERY`], when a tenant
    /// keeps versions; it ends with the service.
    pub fn start_version_sweep(&self) {
        if !self
            .inner
            .tenants
            .values()
            .any(|t| t.keep_versions.is_some())
        {
            return;
        }
        let service = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = service.upgrade() else {
                    return;
                };
                let removed = Service { inner }.expire_versions().await;
                if removed > 0 {
                    tracing::info!(removed, "expired versions removed");
                }
                tokio::time::sleep(SWEEP_EVERY).await;
            }
        });
    }

    /// Removes every tenant's versions older than its window; returns how many went.
    pub async fn expire_versions(&self) -> usize {
        let mut removed = 0;
        for tenant in self.inner.tenants.values() {
            let Some(keep) = tenant.keep_versions else {
                continue;
            };
            let Ok(all) = tenant.root.join("v") else {
                continue;
            };
            match tenant.adapter().list(&all).await {
                Ok(metas) => removed += remove_expired(tenant, metas, Utc::now(), keep).await,
                Err(e) => tracing::warn!(error = %e, "cannot list kept versions"),
            }
        }
        removed
    }
}

/// Deletes `key`'s current object and every kept version of it; says whether there was a
/// current object and how many versions went.
pub(super) async fn purge_key(tenant: &Tenant, key: &str) -> Result<(bool, u64), ServiceError> {
    let name = tenant.name_of(key)?;
    let _one_writer = tenant.index.lock_key(key).await;
    let _no_reconcile = tenant.index.writes.read().await;
    let current = tenant.adapter().delete(&name).await?;
    tenant.index.remove(key).await;
    let mut versions = 0;
    for meta in tenant.adapter().list(&versions_dir(tenant, &name)?).await? {
        versions += u64::from(tenant.adapter().delete(&meta.name).await?);
    }
    Ok((current, versions))
}

/// The keys of every kept version's object (the current one may be gone), read from one
/// version's sealed header per key.
pub(super) async fn keys_with_versions(tenant: &Tenant) -> Result<Vec<String>, ServiceError> {
    let all = tenant.root.join("v")?;
    let mut dirs: std::collections::BTreeMap<String, StorageName> = Default::default();
    for meta in tenant.adapter().list(&all).await? {
        if let Some((dir, _)) = meta.name.as_str().rsplit_once('/') {
            dirs.entry(dir.to_owned()).or_insert(meta.name);
        }
    }
    let mut keys = Vec::new();
    for vname in dirs.into_values() {
        let stored = match tenant.adapter().head(&vname).await {
            Ok(meta) => meta.size,
            Err(AdapterError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let len = (Layout::PREFIX_MAX as u64).min(stored);
        let prefix = tenant.adapter().get_range(&vname, 0..len).await?;
        let ring = tenant.keys_for(&prefix).await?;
        let (info, _) = crypto::open_info(&ring, &tenant.id, tenant.store_name(), &prefix)?;
        keys.push(info.key);
    }
    Ok(keys)
}

/// Before the object at `name` is replaced or deleted: copies it to a new version when the
/// tenant keeps versions, and drops that key's expired ones. An error means the write must
/// not happen.
pub(super) async fn keep_current(tenant: &Tenant, name: &StorageName) -> Result<(), ServiceError> {
    let Some(keep) = tenant.keep_versions else {
        return Ok(());
    };
    let stored = match tenant.adapter().head(name).await {
        Ok(meta) => meta.size,
        Err(AdapterError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let dir = versions_dir(tenant, name)?;
    let now = Utc::now();
    let id = now
        .timestamp_nanos_opt()
        .ok_or_else(|| ServiceError::new(ErrorCode::Internal, "clock out of range"))?;
    let vname = dir.join(&format!("{id:020}"))?;
    let (tx, rx) = mpsc::channel(1);
    let (written, read) = tokio::join!(
        tenant.adapter().put_parts(&vname, rx),
        send_pieces(tenant, name, stored, tx)
    );
    read?;
    written?;
    if let Ok(metas) = tenant.adapter().list(&dir).await {
        remove_expired(tenant, metas, now, keep).await;
    }
    Ok(())
}

/// Sends the envelope at `name` (`stored` bytes) as parts, ending with `Part::End` only when
/// every byte was read.
async fn send_pieces(
    tenant: &Tenant,
    name: &StorageName,
    stored: u64,
    tx: mpsc::Sender<Part>,
) -> Result<(), ServiceError> {
    let mut at = 0;
    while at < stored {
        let end = (at + COPY_PIECE).min(stored);
        let bytes = tenant.adapter().get_range(name, at..end).await?;
        if bytes.len() as u64 != end - at {
            return Err(ServiceError::new(
                ErrorCode::StorageUnavailable,
                "the object changed while it was being kept",
            ));
        }
        if tx.send(Part::Data(bytes)).await.is_err() {
            // The writer failed; its error is the one reported.
            return Ok(());
        }
        at = end;
    }
    let _ = tx.send(Part::End).await;
    Ok(())
}

/// The tenant's window, or a refusal when it keeps no versions.
fn window(tenant: &Tenant) -> Result<Duration, ServiceError> {
    tenant.keep_versions.ok_or_else(|| {
        ServiceError::new(
            ErrorCode::InvalidArgument,
            "this server keeps no versions ([server] keep_versions_days is off)",
        )
    })
}

/// `<root>/v/<hash>` for the object `<root>/o/<hash>`.
fn versions_dir(tenant: &Tenant, name: &StorageName) -> Result<StorageName, ServiceError> {
    let hash = name
        .as_str()
        .strip_prefix(&format!("{}/o/", tenant.root))
        .ok_or_else(|| ServiceError::new(ErrorCode::Internal, "not an object name"))?;
    Ok(tenant.root.join(&format!("v/{hash}"))?)
}

/// The versions kept for the object at `name`, newest first.
async fn kept_versions(
    tenant: &Tenant,
    name: &StorageName,
) -> Result<Vec<(String, DateTime<Utc>)>, ServiceError> {
    let dir = versions_dir(tenant, name)?;
    let mut out: Vec<(String, DateTime<Utc>)> = tenant
        .adapter()
        .list(&dir)
        .await?
        .into_iter()
        .filter_map(|m| {
            let id = m.name.as_str().rsplit('/').next()?.to_owned();
            let at = parse_id(&id).ok()?;
            Some((id, at))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(out)
}

/// Plaintext size and sealed info of the version at `vname`, refusing one that is not
/// `key`'s (a version moved in from elsewhere does not open as this key).
async fn describe(
    tenant: &Tenant,
    vname: &StorageName,
    key: &str,
) -> Result<(u64, crypto::ObjectInfo), ServiceError> {
    let stored = tenant.adapter().head(vname).await?.size;
    let len = (Layout::PREFIX_MAX as u64).min(stored);
    let prefix = tenant.adapter().get_range(vname, 0..len).await?;
    let layout = Layout::parse(&prefix)?;
    let ring = tenant.keys_for(&prefix).await?;
    let (info, _) = crypto::open_info(&ring, &tenant.id, tenant.store_name(), &prefix)?;
    if info.key != key {
        return Err(crypto::CryptoError::Integrity.into());
    }
    Ok((layout.plaintext_len(stored)?, info))
}

/// Deletes the versions among `metas` kept longer than `keep` before `now`.
async fn remove_expired(
    tenant: &Tenant,
    metas: Vec<bitatlas_adapters::ObjectMeta>,
    now: DateTime<Utc>,
    keep: Duration,
) -> usize {
    let mut removed = 0;
    for meta in metas {
        let Some(at) = meta
            .name
            .as_str()
            .rsplit('/')
            .next()
            .and_then(|id| parse_id(id).ok())
        else {
            continue;
        };
        if expired(at, now, keep) {
            match tenant.adapter().delete(&meta.name).await {
                Ok(_) => removed += 1,
                Err(e) => tracing::warn!(error = %e, "cannot remove an expired version"),
            }
        }
    }
    removed
}

fn expired(at: DateTime<Utc>, now: DateTime<Utc>, keep: Duration) -> bool {
    chrono::Duration::from_std(keep).is_ok_and(|keep| at + keep < now)
}

/// A version id: the nanoseconds since 1970 at which it was kept, 20 digits.
fn parse_id(id: &str) -> Result<DateTime<Utc>, ServiceError> {
    let bad = || {
        ServiceError::new(
            ErrorCode::InvalidArgument,
            format!("{id:?} is not a version id (20 digits, as `versions` lists them)"),
        )
    };
    if id.len() != 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = id.parse().map_err(|_| bad())?;
    Ok(DateTime::from_timestamp_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twenty_digits_of_nanoseconds() {
        let at = parse_id("01764800000123456789").unwrap();
        assert_eq!(at.timestamp(), 1_764_800_000);
        for bad in [
            "",
            "123",
            "0176480000012345678x",
            "-1764800000123456789",
            "017648000001234567890",
        ] {
            assert_eq!(
                parse_id(bad).unwrap_err().code,
                ErrorCode::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_version_expires_after_the_window() {
        let at = parse_id("01764800000000000000").unwrap();
        let day = Duration::from_secs(86_400);
        assert!(!expired(at, at + chrono::Duration::hours(23), day));
        assert!(expired(at, at + chrono::Duration::hours(25), day));
    }
}
