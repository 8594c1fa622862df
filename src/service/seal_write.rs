//! Sealing a payload and writing the envelope to the tenant's store, the two halves of `put`
//! after validation: small payloads are sealed on the calling task, mid-sized ones on the
//! blocking pool, and large ones part by part so that writing a part overlaps with sealing
//! the next.

use std::collections::BTreeMap;
use std::sync::Arc;

use bitatlas_adapters::{Part, StorageName, Written};
use bytes::Bytes;

use super::error::{ErrorCode, ServiceError};
use super::put_stream::cancelled;
use super::{Progress, Tenant, ledger};
use crate::crypto::{self, Context, CryptoError, Keyring};

/// Payloads up to this size are sealed or opened on the calling task; larger ones on the
/// blocking pool, so a big object never stalls the other calls.
pub(super) const INLINE_CRYPTO_BYTES: u64 = 64 * 1024;
/// Payloads from this size are sealed and stored part by part, overlapping the two (and from
/// two parts when someone listens to the call's progress).
const STREAMED_PUT_BYTES: u64 = 16 << 20;
/// Chunks per part of a streamed put: 80 × 64 KiB, so every part but the last is at least the
/// 5 MiB an S3 multipart upload needs.
const PART_CHUNKS: usize = 80;
/// Plaintext bytes in a full part.
const PART_PLAIN_BYTES: u64 = (PART_CHUNKS * crypto::format::CHUNK_SIZE) as u64;

/// Everything the envelope binds besides the payload, owned so it can move to another thread.
pub(super) struct Sealing {
    pub keyring: Arc<Keyring>,
    pub tenant: String,
    pub store: String,
    pub key: String,
    pub content_type: String,
    pub metadata: BTreeMap<String, String>,
}

impl Sealing {
    fn ctx(&self) -> Context<'_> {
        Context {
            tenant: &self.tenant,
            store: &self.store,
            key: &self.key,
        }
    }

    fn seal(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let ctx = self.ctx();
        crypto::seal(
            &self.keyring,
            &ctx,
            Some(&self.content_type),
            &self.metadata,
            data,
        )
    }
}

/// Seals `data` and writes the envelope under `name`; returns the envelope's size and the
/// store's entity tag for it.
pub(super) async fn seal_and_write(
    tenant: &Tenant,
    name: &StorageName,
    sealing: Sealing,
    data: Bytes,
    progress: Option<&dyn Progress>,
) -> Result<(u64, Written), ServiceError> {
    let size = data.len() as u64;
    let heard = progress.is_some_and(|p| p.heard());
    if size >= STREAMED_PUT_BYTES || (heard && size > PART_PLAIN_BYTES) {
        return seal_and_write_parts(tenant, name, sealing, data, progress).await;
    }
    if progress.is_some_and(|p| p.cancelled()) {
        return Err(cancelled());
    }
    // Small payloads seal faster than a hop to the blocking pool.
    let sealed = if size <= INLINE_CRYPTO_BYTES {
        sealing.seal(&data)
    } else {
        tokio::task::spawn_blocking(move || sealing.seal(&data))
            .await
            .map_err(|_| task_failed())?
    }
    .map_err(sealing_failed)?;
    let stored = sealed.len() as u64;
    let written = ledger::put(tenant, name, Bytes::from(sealed)).await?;
    Ok((stored, written))
}

/// Seals on the blocking pool and hands each part to the store as soon as it is sealed.
/// The store commits the object only after `Part::End`, which is sent only once every part
/// was sealed; a failure on either side leaves the previous object in place.
///
/// With a `progress`, every part handed to the store is reported (in plaintext bytes), and a
/// cancelled call stops before `Part::End`: the store aborts and nothing changes.
async fn seal_and_write_parts(
    tenant: &Tenant,
    name: &StorageName,
    sealing: Sealing,
    data: Bytes,
    progress: Option<&dyn Progress>,
) -> Result<(u64, Written), ServiceError> {
    let total = data.len() as u64;
    let (tx, mut sealed_parts) = tokio::sync::mpsc::channel(2);
    let (to_store, rx) = tokio::sync::mpsc::channel(1);
    let relay = async move {
        let per_part = PART_PLAIN_BYTES;
        let mut parts = 0u64;
        while let Some(part) = sealed_parts.recv().await {
            let end = matches!(part, Part::End);
            if let Some(p) = progress {
                if p.cancelled() {
                    return Err(cancelled());
                }
                if !end {
                    parts += 1;
                    p.advanced((parts * per_part).min(total), Some(total));
                }
            }
            if to_store.send(part).await.is_err() || end {
                break;
            }
        }
        Ok(())
    };
    let sealer = tokio::task::spawn_blocking(move || {
        let ctx = sealing.ctx();
        let mut send = |part: Vec<u8>| tx.blocking_send(Part::Data(part.into())).is_ok();
        let size = crypto::seal_parts(
            &sealing.keyring,
            &ctx,
            Some(&sealing.content_type),
            &sealing.metadata,
            &data,
            PART_CHUNKS,
            &mut send,
        )?;
        // A closed channel means the store already failed; its error is the one reported.
        let _ = tx.blocking_send(Part::End);
        Ok::<_, CryptoError>(size)
    });
    let (stored, sealed, relayed) =
        tokio::join!(ledger::put_parts(tenant, name, rx), sealer, relay);
    relayed?;
    let size = sealed.map_err(|_| task_failed())?.map_err(sealing_failed)?;
    Ok((size, stored?))
}

pub(super) fn task_failed() -> ServiceError {
    ServiceError::new(ErrorCode::Internal, "sealing task failed")
}

pub(super) fn sealing_failed(e: CryptoError) -> ServiceError {
    tracing::error!(code = e.code(), "sealing failed");
    ServiceError::new(ErrorCode::Internal, "sealing failed")
}
