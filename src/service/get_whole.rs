//! A whole-object `get`: small objects (and any object on an object store) in one read,
//! opened in place; large ones on a local disk read in pieces while earlier pieces are being
//! opened, each decrypted straight into the answer's buffer (no second object-sized buffer,
//! no compaction pass).

use tokio::sync::mpsc;
use zeroize::Zeroize as _;

use super::Progress;
use super::error::{ErrorCode, ServiceError};
use super::get::{Target, too_large};
use super::get_stream::pieces;
use super::put_stream::cancelled;
use super::seal_write::INLINE_CRYPTO_BYTES;
use crate::crypto::{self, ChunkSpan, Context, Layout, ObjectInfo};

/// Envelopes above this size are read in pieces; below it one read costs less than the
/// extra request for the header.
const PIPELINE_FROM: u64 = 4 << 20;
/// Plaintext bytes per piece (32 chunks of 64 KiB): small enough that reading and opening
/// overlap for most of the object, large enough that each read is worth a request.
const PIECE_BYTES: u64 = 2 << 20;
/// Pieces read ahead of the one being opened.
const READ_AHEAD: usize = 2;

/// The whole object at `t`, refused above `max` bytes of plaintext.
pub(super) async fn open_whole(
    t: &Target<'_>,
    max: u64,
    progress: Option<&dyn Progress>,
) -> Result<(ObjectInfo, Vec<u8>), ServiceError> {
    // On a local disk a ranged read is a `pread`; on an object store every piece would be
    // a request of its own, and one GET measured faster (Garage: 0.16x of one GET at 16 MiB).
    if t.stored > PIPELINE_FROM && t.tenant.adapter().kind() == "local" {
        return open_pipelined(t, max, progress).await;
    }
    // The plaintext is never larger than what is stored: only an object stored above the
    // limit needs its header read to tell whether it fits.
    if t.stored > max {
        let size = Layout::parse(&t.prefix().await?)?.plaintext_len(t.stored)?;
        if size > max {
            return Err(too_large(size, max));
        }
    }
    let bytes = Vec::from(t.tenant.adapter().get(&t.name).await?);
    let keyring = t.tenant.keys_for(&bytes).await?;
    let opened = if bytes.len() as u64 <= INLINE_CRYPTO_BYTES {
        crypto::open_owned(&keyring, &t.ctx(), bytes)?
    } else {
        let owned = Owned::of(t);
        blocking(move || crypto::open_owned(&keyring, &owned.ctx(), bytes).map_err(Into::into))
            .await?
    };
    let size = opened.data.len() as u64;
    if size > max {
        return Err(too_large(size, max));
    }
    Ok((opened.info, opened.data))
}

/// Reads the header, then the pieces, [`READ_AHEAD`] in flight, while one blocking task
/// decrypts each piece that arrived into its place in the answer. `progress` hears of every
/// piece read; a cancelled call stops reading and the opened bytes are wiped.
async fn open_pipelined(
    t: &Target<'_>,
    max: u64,
    progress: Option<&dyn Progress>,
) -> Result<(ObjectInfo, Vec<u8>), ServiceError> {
    use futures::StreamExt as _;

    let prefix = t.prefix().await?;
    let layout = Layout::parse(&prefix)?;
    let ring = t.tenant.keys_for(&prefix).await?;
    let (info, opener) = crypto::open_info(&ring, &t.tenant.id, t.tenant.store_name(), &prefix)?;
    if info.key != t.key.as_str() {
        return Err(crypto::CryptoError::Integrity.into());
    }
    let size = layout.plaintext_len(t.stored)?;
    if size > max {
        return Err(too_large(size, max));
    }
    let spans = pieces(0..size, PIECE_BYTES)
        .into_iter()
        .map(|plain| Ok((layout.chunk_span(t.stored, plain.clone())?, plain)))
        .collect::<Result<Vec<_>, ServiceError>>()?;

    let (tx, mut rx) = mpsc::channel::<(ChunkSpan, std::ops::Range<u64>, bytes::Bytes)>(1);
    let owned = Owned::of(t);
    let opening = blocking(move || {
        let ctx = owned.ctx();
        let mut out = vec![0u8; size as usize];
        let mut filled = 0u64;
        while let Some((span, plain, bytes)) = rx.blocking_recv() {
            let into = &mut out[plain.start as usize..plain.end as usize];
            if let Err(e) = opener.open_span_into(&ctx, &span, &bytes, into) {
                out.zeroize();
                return Err(e.into());
            }
            filled = plain.end;
        }
        if filled != size {
            // The reader stopped early; its error is the answer, this one only wipes.
            out.zeroize();
            return Err(ServiceError::new(
                ErrorCode::Internal,
                "the read stopped early",
            ));
        }
        Ok(out)
    });
    let adapter = t.tenant.adapter();
    let reading = async {
        let mut reads = futures::stream::iter(spans)
            .map(|(span, plain)| async move {
                let bytes = adapter.get_range(&t.name, span.ciphertext.clone()).await?;
                Ok::<_, ServiceError>((span, plain, bytes))
            })
            .buffered(READ_AHEAD);
        while let Some(read) = reads.next().await {
            let read = read?;
            if let Some(p) = progress {
                if p.cancelled() {
                    return Err(cancelled());
                }
                p.advanced(read.1.end, Some(size));
            }
            // A send fails only when the opener stopped; its error is the answer.
            if tx.send(read).await.is_err() {
                break;
            }
        }
        drop(tx);
        Ok::<_, ServiceError>(())
    };
    let (read, opened) = tokio::join!(reading, opening);
    read?;
    Ok((info, opened?))
}

/// What a blocking task needs to build the envelope's context.
struct Owned {
    tenant: String,
    store: String,
    key: String,
}

impl Owned {
    fn of(t: &Target<'_>) -> Self {
        Self {
            tenant: t.tenant.id.clone(),
            store: t.tenant.store_name().to_owned(),
            key: t.key.as_str().to_owned(),
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            tenant: &self.tenant,
            store: &self.store,
            key: &self.key,
        }
    }
}

/// Runs `f` on the blocking pool: opening a large object must not hold an async worker.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ServiceError::new(ErrorCode::Internal, "opening task failed"))?
}
