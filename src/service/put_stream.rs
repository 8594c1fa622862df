//! A `put` whose payload arrives as a stream (a transfer link, a local file), of any size,
//! with bounded memory: the bytes are read a part at a time, sealed on the blocking pool and
//! handed to the store's streamed write (multipart on S3, a staged file renamed into place on
//! a local directory) while the next part is read.
//!
//! Nothing becomes visible before the whole payload was read and sealed: the store commits
//! only on `Part::End`, which is sent last, after the key's writer lock is taken (so the
//! index ends with what the store ends with, as for `put`). A stream that stops early, grows
//! past its limit or fails to read leaves the previous object in place.

use bitatlas_adapters::{AdapterError, Part, StorageName};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::error::{ErrorCode, ServiceError};
use super::put::{record_write, too_large};
use super::seal_write::{Sealing, task_failed};
use super::{
    Caller, DEFAULT_CONTENT_TYPE, ObjectKey, Progress, Service, Stored, StreamPut, Tenant, Tool,
};
use crate::crypto::{Context, Sealer};
use crate::service::metadata::{check_content_type, check_metadata};

/// Plaintext read and sealed at a time: 80 chunks of 64 KiB, so that every part but the last
/// is above the 5 MiB an S3 multipart upload needs.
const PART_BYTES: usize = 80 * Sealer::CHUNK;

/// What the object under the key must still be when a streamed write commits (links issued
/// for one version of an object must not overwrite a newer one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum Version {
    /// No object under the key.
    Absent,
    /// The envelope the store holds, told apart by entity tag (or size and time where the
    /// store has no entity tags).
    Present {
        e_tag: Option<String>,
        size: u64,
        modified: i64,
    },
}

impl Version {
    /// What the store holds under `name` now.
    pub(super) async fn of(tenant: &Tenant, name: &StorageName) -> Result<Version, ServiceError> {
        match tenant.adapter().head(name).await {
            Ok(meta) => Ok(Version::Present {
                e_tag: meta.e_tag,
                size: meta.size,
                modified: meta.last_modified.timestamp_micros(),
            }),
            Err(AdapterError::NotFound) => Ok(Version::Absent),
            Err(e) => Err(e.into()),
        }
    }
}

impl Service {
    /// Seals and stores an object read from `body` until its end, replacing any object under
    /// the same key. `progress` hears of every part stored.
    pub async fn put_stream(
        &self,
        caller: &Caller,
        request: StreamPut,
        body: &mut (dyn AsyncRead + Send + Unpin),
        progress: Option<&dyn Progress>,
    ) -> Result<Stored, ServiceError> {
        let key = request.key.clone();
        self.run(caller, Tool::Put, Some(&key), async |tenant| {
            stream_object(tenant, request, body, progress, None).await
        })
        .await
    }
}

/// Why feeding the store stopped.
enum Fed {
    /// Our own refusal (too large, a read error, a stale version).
    Refused(ServiceError),
    /// The store stopped taking parts: its own error is the one to report.
    StoreGone,
}

/// Stores `body` under `request.key`; with `expect`, only if the object is still that version
/// when the write commits.
pub(super) async fn stream_object(
    tenant: &Tenant,
    request: StreamPut,
    body: &mut (dyn AsyncRead + Send + Unpin),
    progress: Option<&dyn Progress>,
    expect: Option<&Version>,
) -> Result<Stored, ServiceError> {
    let key = ObjectKey::parse(&request.key)?;
    let content_type = request
        .content_type
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    check_content_type(&content_type)?;
    check_metadata(&request.metadata)?;
    if let (Some(max), Some(announced)) = (request.max_bytes, request.expected_size)
        && announced > max
    {
        return Err(too_large_stream(max));
    }
    let name = tenant.name_of(key.as_str())?;
    let sealing = Sealing {
        keyring: tenant.sealing_keys().await?,
        tenant: tenant.id.clone(),
        store: tenant.store_name().to_owned(),
        key: key.as_str().to_owned(),
        content_type: content_type.clone(),
        metadata: request.metadata.clone(),
    };
    let ctx = Context {
        tenant: &sealing.tenant,
        store: &sealing.store,
        key: &sealing.key,
    };
    let (prefix, sealer) = Sealer::begin(
        &sealing.keyring,
        &ctx,
        Some(&content_type),
        &sealing.metadata,
    )
    .map_err(super::seal_write::sealing_failed)?;

    let (tx, rx) = mpsc::channel(2);
    let limits = Feed {
        max_bytes: request.max_bytes,
        announced: request.expected_size,
        progress,
    };
    let store = super::ledger::put_parts(tenant, &name, rx);
    let feed = async {
        // Owned here, so that a failed feed drops the sender and the store gives up.
        let tx = tx;
        let (size, stored) = feed_parts(prefix, sealer, body, &tx, &limits).await?;
        // Every byte is sealed and handed over: take the writer lock, check the version the
        // write is allowed to replace, and only then let the store commit.
        let one_writer = tenant.index.lock_key(key.as_str()).await;
        let no_reconcile = tenant.index.writes.read().await;
        if let Some(expected) = expect {
            let now = Version::of(tenant, &name).await.map_err(Fed::Refused)?;
            if &now != expected {
                return Err(Fed::Refused(ServiceError::new(
                    ErrorCode::Conflict,
                    "the object changed since this upload was allowed; nothing was stored \
                     (ask for a new link)",
                )));
            }
        }
        tx.send(Part::End).await.map_err(|_| Fed::StoreGone)?;
        Ok((size, stored, one_writer, no_reconcile))
    };
    let (written, fed) = tokio::join!(store, feed);
    let (size, stored_size, _one_writer, _no_reconcile) = match fed {
        Ok(v) => v,
        Err(Fed::Refused(e)) => return Err(e),
        Err(Fed::StoreGone) => {
            return Err(written.err().unwrap_or_else(|| {
                ServiceError::new(ErrorCode::StorageUnavailable, "the store stopped the write")
            }));
        }
    };
    let e_tag = written?;
    Ok(record_write(
        tenant,
        key.as_str(),
        name,
        (size, stored_size, e_tag),
        content_type,
        request.metadata,
    )
    .await)
}

/// Limits and reporting of one streamed put.
struct Feed<'a> {
    max_bytes: Option<u64>,
    announced: Option<u64>,
    progress: Option<&'a dyn Progress>,
}

/// Reads, seals and sends every part; returns the plaintext and envelope sizes. Reads one
/// part ahead, so that the last part is known (and flagged) when it is sealed.
async fn feed_parts(
    prefix: Vec<u8>,
    mut sealer: Sealer,
    body: &mut (dyn AsyncRead + Send + Unpin),
    tx: &mpsc::Sender<Part>,
    limits: &Feed<'_>,
) -> Result<(u64, u64), Fed> {
    let mut cur = Zeroizing::new(vec![0u8; PART_BYTES]);
    let mut next = Zeroizing::new(vec![0u8; PART_BYTES]);
    let mut cur_len = read_full(body, &mut cur).await?;
    let mut first = Some(prefix);
    let (mut size, mut stored) = (0u64, 0u64);
    loop {
        let mut next_len = 0;
        let last = if cur_len < PART_BYTES {
            true
        } else {
            next_len = read_full(body, &mut next).await?;
            next_len == 0
        };
        size += cur_len as u64;
        if let Some(max) = limits.max_bytes
            && size > max
        {
            return Err(Fed::Refused(too_large_stream(max)));
        }
        let out = first.take().unwrap_or_default();
        let (back, sealed) = seal_part(sealer, cur, cur_len, last, out).await?;
        (sealer, cur) = back;
        stored += sealed.len() as u64;
        tx.send(Part::Data(Bytes::from(sealed)))
            .await
            .map_err(|_| Fed::StoreGone)?;
        if let Some(p) = limits.progress {
            if p.cancelled() {
                return Err(Fed::Refused(cancelled()));
            }
            p.advanced(size, limits.announced);
        }
        if last {
            return Ok((size, stored));
        }
        std::mem::swap(&mut cur, &mut next);
        cur_len = next_len;
    }
}

type Buffers = (Sealer, Zeroizing<Vec<u8>>);

/// Seals `buf[..len]` after `out` on the blocking pool; hands the sealer and buffer back.
async fn seal_part(
    mut sealer: Sealer,
    buf: Zeroizing<Vec<u8>>,
    len: usize,
    last: bool,
    mut out: Vec<u8>,
) -> Result<(Buffers, Vec<u8>), Fed> {
    let (back, sealed) = tokio::task::spawn_blocking(move || {
        out.reserve(len + len / Sealer::CHUNK * 16 + 16);
        let sealed = sealer.seal(&buf[..len], last, &mut out).map(|()| out);
        ((sealer, buf), sealed)
    })
    .await
    .map_err(|_| Fed::Refused(task_failed()))?;
    let sealed = sealed.map_err(|e| Fed::Refused(super::seal_write::sealing_failed(e)))?;
    Ok((back, sealed))
}

/// Reads until `buf` is full or the stream ends; a read error means the upload stopped.
async fn read_full(
    body: &mut (dyn AsyncRead + Send + Unpin),
    buf: &mut [u8],
) -> Result<usize, Fed> {
    let mut filled = 0;
    while filled < buf.len() {
        match body.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::info!(kind = ?e.kind(), "a streamed upload stopped before its end");
                return Err(Fed::Refused(ServiceError::new(
                    ErrorCode::Incomplete,
                    format!(
                        "the upload stopped before its end ({}); nothing was stored and the \
                         previous object, if any, is unchanged",
                        e.kind()
                    ),
                )));
            }
        }
    }
    Ok(filled)
}

pub(super) fn cancelled() -> ServiceError {
    ServiceError::new(
        ErrorCode::Cancelled,
        "the call was cancelled before anything was committed; nothing changed",
    )
}

fn too_large_stream(max: u64) -> ServiceError {
    let mut e = too_large(max);
    e.message = format!("the upload exceeds its limit of {max} bytes; nothing was stored");
    e
}
