//! The envelope ledger of tenants that allow presigned PUTs: every envelope that becomes an
//! object is remembered (an empty marker under `<root>/e/<keyed hash of its header>`) before
//! the store commits it, so that a staged upload ([`super::staged`]) can never bring back an
//! envelope that was stored before — the current version or any older one — even though
//! whoever holds an upload URL can fetch old ciphertext from the bucket.
//!
//! An envelope's header carries a fresh wrap nonce and a fresh wrapped DEK, so it names one
//! envelope. Tenants without presigned PUT write no markers: nothing but BitAtlas can put an
//! envelope into their folder, and nothing would read the ledger.
//!
//! Every write of such a tenant goes through [`put`] or [`put_parts`] here.

use bitatlas_adapters::{AdapterError, Part, StorageName, Written};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::Tenant;
use super::error::{ErrorCode, ServiceError};
use crate::crypto::Layout;

/// Stores `bytes` (one whole envelope) under `name`, remembering it first.
pub(super) async fn put(
    tenant: &Tenant,
    name: &StorageName,
    bytes: Bytes,
) -> Result<Written, ServiceError> {
    super::versions::keep_current(tenant, name).await?;
    if tenant.allow_presign_put {
        remember(tenant, &bytes).await?;
    }
    Ok(tenant.adapter().put(name, bytes).await?)
}

/// Stores an envelope arriving as parts under `name` (see `Adapter::put_parts`). For a tenant
/// with a ledger or an undo window the parts are relayed, and when the writer sends
/// `Part::End` (holding the key's writer lock by then) the current object is kept as a version
/// and the envelope remembered before the store is allowed to commit it; if either fails, the
/// store never sees `Part::End` and nothing changes.
pub(super) async fn put_parts(
    tenant: &Tenant,
    name: &StorageName,
    parts: mpsc::Receiver<Part>,
) -> Result<Written, ServiceError> {
    if !tenant.allow_presign_put && tenant.keep_versions.is_none() {
        return Ok(tenant.adapter().put_parts(name, parts).await?);
    }
    let (tx, rx) = mpsc::channel(1);
    let relay = relay(tenant, name, parts, tx);
    let (written, relayed) = tokio::join!(tenant.adapter().put_parts(name, rx), relay);
    match relayed {
        // The store's own error, if any, is the one to report.
        Ok(()) => Ok(written?),
        Err(e) => {
            tracing::error!(
                code = e.code.as_str(),
                "a write could not be prepared for commit"
            );
            Err(e)
        }
    }
}

async fn relay(
    tenant: &Tenant,
    name: &StorageName,
    mut parts: mpsc::Receiver<Part>,
    tx: mpsc::Sender<Part>,
) -> Result<(), ServiceError> {
    // The header is at most 155 bytes; the first part of every writer holds all of it.
    let mut head: Vec<u8> = Vec::new();
    while let Some(part) = parts.recv().await {
        match part {
            Part::Data(bytes) => {
                if head.len() < Layout::PREFIX_MAX {
                    let take = (Layout::PREFIX_MAX - head.len()).min(bytes.len());
                    head.extend_from_slice(&bytes[..take]);
                }
                if tx.send(Part::Data(bytes)).await.is_err() {
                    return Ok(());
                }
            }
            Part::End => {
                super::versions::keep_current(tenant, name).await?;
                if tenant.allow_presign_put {
                    remember(tenant, &head).await?;
                }
                let _ = tx.send(Part::End).await;
                return Ok(());
            }
        }
    }
    // The writer stopped before the end: dropping `tx` makes the store give up.
    Ok(())
}

/// Whether the envelope starting with `prefix` was ever stored for this tenant.
pub(super) async fn seen(tenant: &Tenant, prefix: &[u8]) -> Result<bool, ServiceError> {
    match tenant.adapter().head(&marker(tenant, prefix)?).await {
        Ok(_) => Ok(true),
        Err(AdapterError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn remember(tenant: &Tenant, prefix: &[u8]) -> Result<(), ServiceError> {
    tenant
        .adapter()
        .put(&marker(tenant, prefix)?, Bytes::new())
        .await?;
    Ok(())
}

/// `<root>/e/<keyed hash of the envelope header>`: opaque to the provider, one per envelope.
fn marker(tenant: &Tenant, prefix: &[u8]) -> Result<StorageName, ServiceError> {
    let layout = Layout::parse(prefix).map_err(|_| not_an_envelope())?;
    let header = &prefix[..layout.header_len() as usize];
    let digest = hex::encode(Sha256::digest(header));
    tenant.side_name("e", &format!("\0envelope\0{digest}"))
}

fn not_an_envelope() -> ServiceError {
    ServiceError::new(
        ErrorCode::IntegrityFailure,
        "the uploaded object is not a BitAtlas envelope",
    )
}
