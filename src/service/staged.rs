//! Staged uploads: what a presigned PUT URL writes, and how it becomes the object.
//!
//! A presigned PUT never points at the object itself. It points at the key's staging name,
//! `<root>/s/<the object's keyed hash>`, so whoever holds the URL can neither destroy nor roll
//! back the object. The upload becomes the object when the next `get` of the key (or download
//! of it), or the next first page of a `list` or `search`, finds it — and only if:
//!
//! - it is a complete envelope sealed for this tenant, store and key (every chunk is opened
//!   and verified, the final-chunk flag included);
//! - it was uploaded after the current object was written (store times), within the longest
//!   URL lifetime plus a grace period;
//! - the ledger ([`super::ledger`]) has never seen it: not the current version, not an older
//!   one, not an envelope committed once already.
//!
//! The bytes committed are the bytes verified: the envelope is streamed from the staging name
//! through the verifier into the object's own streamed write, which commits only after the
//! last chunk verified and the object is still the version the checks saw. A refused upload
//! is deleted and the object stays as it was.

use bitatlas_adapters::{ObjectMeta, Part, StorageName};
use bytes::Bytes;
use chrono::Utc;
use tokio::sync::mpsc;

use super::error::{ErrorCode, ServiceError};
use super::put::record_write;
use super::put_stream::Version;
use super::{Caller, DEFAULT_CONTENT_TYPE, ObjectKey, Service, Stored, Tenant, Tool, ledger};
use crate::crypto::{self, Context, Layout, ObjectInfo, Opener};

/// How long after upload a staged envelope can still be committed: the longest URL lifetime
/// plus ten minutes for the next read. Older ones are deleted.
const COMMIT_WINDOW_SECS: i64 = super::MAX_EXPIRY as i64 + 600;
/// Chunks verified and forwarded at a time: 80 × 64 KiB, so every part of the object's
/// streamed write but the last is above the 5 MiB an S3 multipart upload needs.
const WINDOW_CHUNKS: u64 = 80;

/// Where the presigned PUT URLs of `key` upload to.
pub(super) fn staging_name(tenant: &Tenant, key: &str) -> Result<StorageName, ServiceError> {
    // The object's own keyed name, in the staging folder.
    tenant.side_name("s", key)
}

/// A staged upload whose info block opened for this tenant and store.
struct Staged {
    meta: ObjectMeta,
    prefix: Bytes,
    info: ObjectInfo,
    opener: Opener,
}

impl Service {
    /// Before a read of `key`: commits an upload staged for it, if there is one. The commit is
    /// an audited call of its own; its failure leaves the current object, which the read
    /// then serves.
    pub(super) async fn settle_key(&self, caller: &Caller, key: &str) {
        let Ok(tenant) = self.tenant(caller) else {
            return;
        };
        if !tenant.allow_presign_put || ObjectKey::parse(key).is_err() {
            return;
        }
        let Ok(staged) = staging_name(tenant, key) else {
            return;
        };
        if let Ok(meta) = tenant.adapter().head(&staged).await {
            self.settle(caller, Some(key), meta).await;
        }
    }

    /// Before a `list` or `search`: commits every staged upload of the tenant.
    pub(super) async fn settle_all(&self, caller: &Caller) {
        let Ok(tenant) = self.tenant(caller) else {
            return;
        };
        if !tenant.allow_presign_put {
            return;
        }
        for meta in staged_uploads(tenant).await {
            self.settle(caller, None, meta).await;
        }
    }

    /// Commits one staged upload found by a read, as an audited call of its own. `key` is
    /// the key the read asked for; a `list` learns it from the envelope.
    async fn settle(&self, caller: &Caller, key: Option<&str>, meta: ObjectMeta) {
        let Ok(tenant) = self.tenant(caller) else {
            return;
        };
        let key = match key {
            Some(k) => Some(k.to_owned()),
            None => inspect(tenant, meta.clone()).await.ok().map(|s| s.info.key),
        };
        let _ = self
            .run(
                caller,
                Tool::PresignCommit,
                key.as_deref(),
                async |tenant| match &key {
                    Some(k) => commit(tenant, k, meta).await,
                    None => {
                        discard(tenant, &meta).await;
                        Err(not_an_envelope())
                    }
                },
            )
            .await;
    }
}

/// Verifies the upload staged at `meta` for `key` and makes it the object; deletes it either
/// way (a refused upload must not be retried into a later state).
async fn commit(tenant: &Tenant, key: &str, meta: ObjectMeta) -> Result<Stored, ServiceError> {
    // A listing's times are finer than a HEAD's on some stores: compare like with like.
    let meta = tenant.adapter().head(&meta.name).await?;
    let result = verify_and_store(tenant, key, &meta).await;
    discard(tenant, &meta).await;
    result
}

async fn verify_and_store(
    tenant: &Tenant,
    key: &str,
    meta: &ObjectMeta,
) -> Result<Stored, ServiceError> {
    if meta.name != staging_name(tenant, key)? {
        return Err(not_an_envelope());
    }
    if (Utc::now() - meta.last_modified).num_seconds() > COMMIT_WINDOW_SECS {
        return Err(ServiceError::new(
            ErrorCode::LinkExpired,
            "the staged upload is older than any presigned URL lives; it was discarded",
        ));
    }
    let staged = inspect(tenant, meta.clone()).await?;
    if staged.info.key != key {
        return Err(not_an_envelope());
    }
    let name = tenant.name_of(key)?;
    let current = Version::of(tenant, &name).await?;
    // Both times come from the store's HEAD, at its precision (a second on S3): an upload in
    // the same second as the current write is not taken for an older one (the ledger still
    // refuses any envelope stored before).
    if let Version::Present { modified, .. } = &current
        && *modified > staged.meta.last_modified.timestamp_micros()
    {
        return Err(ServiceError::new(
            ErrorCode::Conflict,
            "the object was written after this upload; the upload was discarded",
        ));
    }
    if ledger::seen(tenant, &staged.prefix).await? {
        return Err(ServiceError::new(
            ErrorCode::Conflict,
            "this envelope was stored before (the current or an older version); an upload \
             cannot bring it back",
        ));
    }
    let total = staged.meta.size;
    let layout = staged.opener.layout().clone();
    let plain_len = layout.plaintext_len(total)?;
    let content_type = staged
        .info
        .content_type
        .clone()
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    let metadata = staged.info.metadata.clone();

    let (tx, rx) = mpsc::channel(2);
    let store = ledger::put_parts(tenant, &name, rx);
    let feed = async {
        let tx = tx;
        forward_verified(tenant, key, &staged, &layout, plain_len, &tx).await?;
        let one_writer = tenant.index.lock_key(key).await;
        let no_reconcile = tenant.index.writes.read().await;
        if Version::of(tenant, &name).await? != current {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                "the object changed while the upload was verified; the upload was discarded",
            ));
        }
        tx.send(Part::End).await.map_err(|_| store_stopped())?;
        Ok((one_writer, no_reconcile))
    };
    let (written, fed) = tokio::join!(store, feed);
    let _locks = match fed {
        Ok(locks) => locks,
        Err(e) => return Err(written.err().unwrap_or(e)),
    };
    let e_tag = written?;
    Ok(record_write(
        tenant,
        key,
        name,
        (plain_len, total, e_tag),
        content_type,
        metadata,
    )
    .await)
}

/// Reads the staged envelope a window of chunks at a time, opens every chunk (the plaintext
/// is dropped) and sends the verified ciphertext on, the header and info block first.
async fn forward_verified(
    tenant: &Tenant,
    key: &str,
    staged: &Staged,
    layout: &Layout,
    plain_len: u64,
    tx: &mpsc::Sender<Part>,
) -> Result<(), ServiceError> {
    let ctx = Context {
        tenant: &tenant.id,
        store: tenant.store_name(),
        key,
    };
    let window = WINDOW_CHUNKS * layout.chunk_size();
    let mut head = Some(staged.prefix.slice(..layout.prefix_len() as usize));
    let mut start = 0u64;
    loop {
        let end = (start + window).min(plain_len);
        let span = layout.chunk_span(staged.meta.size, start..end)?;
        let bytes = tenant
            .adapter()
            .get_range(&staged.meta.name, span.ciphertext.clone())
            .await?;
        if bytes.len() as u64 != span.ciphertext.end - span.ciphertext.start {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                "the staged upload changed while it was verified; it was discarded",
            ));
        }
        staged.opener.open_span(&ctx, &span, &bytes, start..end)?;
        let part = match head.take() {
            Some(h) => {
                let mut first = Vec::with_capacity(h.len() + bytes.len());
                first.extend_from_slice(&h);
                first.extend_from_slice(&bytes);
                Bytes::from(first)
            }
            None => bytes,
        };
        tx.send(Part::Data(part))
            .await
            .map_err(|_| store_stopped())?;
        if end >= plain_len {
            return Ok(());
        }
        start = end;
    }
}

/// Opens the info block of a staged upload.
async fn inspect(tenant: &Tenant, meta: ObjectMeta) -> Result<Staged, ServiceError> {
    let len = (Layout::PREFIX_MAX as u64).min(meta.size);
    let prefix = tenant.adapter().get_range(&meta.name, 0..len).await?;
    let ring = tenant.keys_for(&prefix).await?;
    let (info, opener) = crypto::open_info(&ring, &tenant.id, tenant.store_name(), &prefix)
        .map_err(|_| not_an_envelope())?;
    Ok(Staged {
        meta,
        prefix,
        info,
        opener,
    })
}

/// Deletes a staged upload, unless it was replaced meanwhile by a newer one.
async fn discard(tenant: &Tenant, meta: &ObjectMeta) {
    match tenant.adapter().head(&meta.name).await {
        Ok(now) if same_upload(&now, meta) => {
            if let Err(e) = tenant.adapter().delete(&meta.name).await {
                tracing::warn!(error = %e, "cannot delete a staged upload");
            }
        }
        _ => {}
    }
}

/// Whether two looks at a staging name saw the same upload: by entity tag where the store has
/// them, else by size and time.
fn same_upload(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    match (&a.e_tag, &b.e_tag) {
        (Some(x), Some(y)) => x == y,
        _ => a.size == b.size && a.last_modified == b.last_modified,
    }
}

/// Every staged upload of the tenant (none when the folder cannot be listed).
async fn staged_uploads(tenant: &Tenant) -> Vec<ObjectMeta> {
    let Ok(folder) = tenant.root.join("s") else {
        return Vec::new();
    };
    tenant.adapter().list(&folder).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot list staged uploads");
        Vec::new()
    })
}

/// Deletes staged uploads too old to be committed, so that abandoned uploads do not pile up
/// (called on each PUT URL issued).
pub(super) async fn sweep(tenant: &Tenant) {
    let now = Utc::now();
    for meta in staged_uploads(tenant).await {
        if (now - meta.last_modified).num_seconds() > COMMIT_WINDOW_SECS {
            let _ = tenant.adapter().delete(&meta.name).await;
        }
    }
}

fn not_an_envelope() -> ServiceError {
    ServiceError::new(
        ErrorCode::IntegrityFailure,
        "the upload is not an envelope sealed for this key (use `bitatlas seal` with the \
         tenant's keyring); it was discarded and the object is unchanged",
    )
}

fn store_stopped() -> ServiceError {
    ServiceError::new(ErrorCode::StorageUnavailable, "the store stopped the write")
}
