//! Rewrapping after a key rotation (`bitatlas keys rewrap`): every envelope the tenant has in
//! its store (objects, kept versions, staged uploads) gets its DEK wrapped anew under the
//! primary KEK. A version 2 envelope keeps its info block and every chunk byte for byte (only
//! the key block changes, ADR-0005); a version 1 envelope is migrated once: opened and sealed
//! anew as version 2. Envelopes already under the primary KEK are left alone, so an
//! interrupted run is resumed by running it again; `keys retire` then refuses a KEK that any
//! envelope still names ([`Service::kek_usage`]).
//!
//! Each envelope is replaced only if the store still holds what was read (same size, time and
//! entity tag, checked again just before the write) and under the key's lock, so a `put` of
//! this process is never overwritten with older bytes. A `put` by another process in the
//! instant between that check and the write can still be lost: run rewraps while the
//! tenant's writers are quiet, or run it twice (the second run rewraps nothing it should not).

use std::collections::BTreeMap;

use bitatlas_adapters::{AdapterError, ObjectMeta, Part};
use bytes::Bytes;

use super::call::Audited;
use super::error::ServiceError;
use super::{Caller, Service, Tenant, Tool};
use crate::crypto::{self, Context, Keyring, Layout};

/// What a rewrap did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RewrapReport {
    /// The KEK every envelope is now wrapped under.
    pub kek: String,
    /// Envelopes seen.
    pub envelopes: u64,
    /// Version 2 envelopes rewrapped (payload untouched).
    pub rewrapped: u64,
    /// Version 1 envelopes migrated to version 2 (sealed anew).
    pub migrated: u64,
    /// Envelopes already under the primary KEK.
    pub current: u64,
    /// Envelopes that changed while being rewrapped (left for the next run).
    pub changed: u64,
    /// Envelopes that do not open with the tenant's keys (left as they are, logged).
    pub failed: u64,
}

impl Audited for RewrapReport {}

/// How many envelopes of a tenant name each KEK.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct KekUsage {
    /// KEK id -> envelopes wrapped under it.
    pub by_kek: BTreeMap<String, u64>,
}

impl Audited for KekUsage {}

impl Service {
    /// Rewraps every envelope of `caller`'s tenant under its primary KEK; `progress` hears
    /// (done, total) after each envelope.
    pub async fn rewrap(
        &self,
        caller: &Caller,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<RewrapReport, ServiceError> {
        self.run(caller, Tool::Rewrap, None, async |tenant| {
            let ring = tenant.keys.reload().await?;
            let names = envelopes(tenant).await?;
            let mut out = RewrapReport {
                kek: ring.primary_id().to_owned(),
                ..RewrapReport::default()
            };
            let total = names.len() as u64;
            for meta in names {
                out.envelopes += 1;
                match rewrap_one(tenant, &ring, &meta, &mut out).await {
                    Ok(()) => {}
                    // One envelope that does not open must not hold up the others.
                    Err(e) if e.code == super::error::ErrorCode::IntegrityFailure => {
                        tracing::warn!("an envelope does not open with the tenant's keys; left");
                        out.failed += 1;
                    }
                    Err(e) => return Err(e),
                }
                progress(out.envelopes, total);
            }
            Ok(out)
        })
        .await
    }

    /// How many of `caller`'s envelopes name each KEK (read from their headers only).
    pub async fn kek_usage(&self, caller: &Caller) -> Result<KekUsage, ServiceError> {
        self.run(caller, Tool::Rewrap, None, async |tenant| {
            let mut out = KekUsage::default();
            for meta in envelopes(tenant).await? {
                if let Some(layout) = layout_of(tenant, &meta).await? {
                    *out.by_kek.entry(layout.kek_id().to_owned()).or_insert(0) += 1;
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Every name under the tenant's root.
async fn envelopes(tenant: &Tenant) -> Result<Vec<ObjectMeta>, ServiceError> {
    Ok(tenant.adapter().list(&tenant.root).await?)
}

/// The header of the envelope stored as `meta`; `None` for what is not an envelope (markers)
/// or is gone.
async fn layout_of(tenant: &Tenant, meta: &ObjectMeta) -> Result<Option<Layout>, ServiceError> {
    let len = (Layout::PREFIX_MAX as u64).min(meta.size);
    match tenant.adapter().get_range(&meta.name, 0..len).await {
        Ok(prefix) => Ok(Layout::parse(&prefix).ok()),
        Err(AdapterError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether the store still holds what was listed: the same entity tag where the store has
/// them (a listing's times have milliseconds, a HEAD's whole seconds), else size and time.
fn same(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    match (&a.e_tag, &b.e_tag) {
        (Some(x), Some(y)) => a.size == b.size && x == y,
        _ => a.size == b.size && a.last_modified == b.last_modified,
    }
}

async fn rewrap_one(
    tenant: &Tenant,
    ring: &Keyring,
    meta: &ObjectMeta,
    out: &mut RewrapReport,
) -> Result<(), ServiceError> {
    let Some(layout) = layout_of(tenant, meta).await? else {
        return Ok(());
    };
    if layout.kek_id() == ring.primary_id()
        && layout.version() == crypto::format::VERSION
        && layout.algorithm() == ring.primary_algorithm()
    {
        out.current += 1;
        return Ok(());
    }
    let prefix_len = (Layout::PREFIX_MAX as u64).min(meta.size);
    let prefix = tenant
        .adapter()
        .get_range(&meta.name, 0..prefix_len)
        .await?;
    let (info, _) = crypto::open_info(ring, &tenant.id, tenant.store_name(), &prefix)?;
    let _lock = tenant.index.lock_key(&info.key).await;
    // Version 1, or another algorithm than the primary KEK's (the algorithm is in the body):
    // sealed anew, which needs the whole object. Otherwise only the key block changes and the
    // rest is streamed through in pieces, never held whole.
    let migrated = layout.version() == crypto::format::VERSION_1
        || layout.algorithm() != ring.primary_algorithm();
    let committed = if migrated {
        let whole = tenant.adapter().get(&meta.name).await?;
        let ctx = Context {
            tenant: &tenant.id,
            store: tenant.store_name(),
            key: &info.key,
        };
        let opened = crypto::open(ring, &ctx, &whole)?;
        let sealed = crypto::seal(
            ring,
            &ctx,
            opened.info.content_type.as_deref(),
            &opened.info.metadata,
            &opened.data,
        )?;
        if !unchanged(tenant, meta).await? {
            false
        } else {
            tenant
                .adapter()
                .put(&meta.name, Bytes::from(sealed))
                .await?;
            true
        }
    } else {
        let re = crypto::rewrap(ring, &tenant.id, tenant.store_name(), &prefix)?;
        let mut first = re.header;
        first.extend_from_slice(&prefix[re.old_header_len..]);
        stream_replacement(tenant, meta, first, prefix.len() as u64).await?
    };
    if !committed {
        out.changed += 1;
        return Ok(());
    }
    if migrated {
        out.migrated += 1;
    } else {
        out.rewrapped += 1;
    }
    Ok(())
}

/// Bytes read per piece when a rewrapped envelope is streamed back.
const PIECE: u64 = 8 * 1024 * 1024;

/// Whether the store still holds the envelope that was read as `meta`.
async fn unchanged(tenant: &Tenant, meta: &ObjectMeta) -> Result<bool, ServiceError> {
    match tenant.adapter().head(&meta.name).await {
        Ok(now) => Ok(same(&now, meta)),
        Err(AdapterError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes `first` and then the stored envelope's bytes from `from` on under its own name,
/// committing only if the store still holds what was read; false when it did not.
async fn stream_replacement(
    tenant: &Tenant,
    meta: &ObjectMeta,
    first: Vec<u8>,
    from: u64,
) -> Result<bool, ServiceError> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    // Moves `tx` in: when this ends without `End`, the channel closes and the store aborts.
    let send = async move {
        if tx.send(Part::Data(Bytes::from(first))).await.is_err() {
            return Ok(false);
        }
        let mut at = from;
        while at < meta.size {
            let end = (at + PIECE).min(meta.size);
            let piece = tenant.adapter().get_range(&meta.name, at..end).await?;
            if tx.send(Part::Data(piece)).await.is_err() {
                return Ok(false);
            }
            at = end;
        }
        if !unchanged(tenant, meta).await? {
            // No `End`: the store discards what it was sent.
            return Ok(false);
        }
        Ok::<bool, ServiceError>(tx.send(Part::End).await.is_ok())
    };
    let (written, sent) = tokio::join!(tenant.adapter().put_parts(&meta.name, rx), send);
    match sent? {
        true => {
            written?;
            Ok(true)
        }
        false => Ok(false),
    }
}
