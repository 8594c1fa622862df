//! A `get` that streams: an object (or a range of it) of any size comes back as a sequence of
//! verified pieces, for transfer links and `save_to`. Only the chunks of the range are read;
//! the next piece is fetched while the current one is opened, and memory stays bounded by a
//! few pieces whatever the object's size.
//!
//! Every piece handed out verified before it was handed out; a piece that fails ends the
//! stream with `INTEGRITY_FAILURE` (a consumer that must not keep a partial result, like
//! `save_to`, writes to a temporary file and keeps it only when the stream ended cleanly).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bitatlas_adapters::{Adapter, AdapterError, StorageName};
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc;

use super::call::Call;
use super::error::{ErrorCode, ServiceError, not_found};
use super::get::resolve_range;
use super::{Caller, DEFAULT_CONTENT_TYPE, GetRequest, ObjectKey, Service, Tenant, Tool, Want};
use crate::crypto::{self, Context, Layout, Opener};

/// Plaintext bytes per piece: 64 chunks of 64 KiB, one ranged read each.
const PIECE_BYTES: u64 = 64 * 64 * 1024;
/// Ranged reads in flight ahead of the piece being opened.
const READ_AHEAD: usize = 2;

/// An object being read as a stream of verified pieces.
pub struct Download {
    /// The key read.
    pub key: String,
    /// Plaintext size of the whole object.
    pub size: u64,
    /// The plaintext bytes this download yields.
    pub range: Range<u64>,
    /// MIME type given at `put`.
    pub content_type: String,
    /// User metadata given at `put`.
    pub metadata: BTreeMap<String, String>,
    pieces: mpsc::Receiver<Result<Bytes, ServiceError>>,
    call: Option<Call>,
    sent: u64,
    done: bool,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("size", &self.size)
            .field("range", &self.range)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// The next verified piece; `None` once the range was delivered. After an error the
    /// stream is over.
    pub async fn next(&mut self) -> Option<Result<Bytes, ServiceError>> {
        if self.done {
            return None;
        }
        match self.pieces.recv().await {
            Some(Ok(piece)) => {
                self.sent += piece.len() as u64;
                // Recorded when the last byte is handed out: a consumer that stops at the
                // known length (an HTTP body with Content-Length) never asks again.
                if self.sent == self.len() {
                    self.finish("OK");
                }
                Some(Ok(piece))
            }
            Some(Err(e)) => {
                self.finish(e.code.as_str());
                Some(Err(e))
            }
            None if self.sent == self.len() => {
                self.finish("OK");
                None
            }
            None => {
                let e = ServiceError::new(ErrorCode::Internal, "the read stopped early");
                self.finish(e.code.as_str());
                Some(Err(e))
            }
        }
    }

    /// Ends the download without reading its bytes (an HTTP `HEAD`): recorded as a read of
    /// nothing that succeeded, not as a cancelled one.
    pub fn close(mut self) {
        self.finish("OK");
    }

    /// Bytes this download yields in all.
    pub fn len(&self) -> u64 {
        self.range.end - self.range.start
    }

    /// Whether it yields no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn finish(&mut self, code: &str) {
        self.done = true;
        if let Some(mut call) = self.call.take() {
            call.record(code, Some(self.sent));
        }
    }
}

impl Service {
    /// Opens an object (or `request.range` of it) for reading as a stream. The header is
    /// verified before this returns; errors that can be known up front (not found, a bad
    /// range) come back here, not from the stream.
    pub async fn download(
        &self,
        caller: &Caller,
        request: GetRequest,
    ) -> Result<Download, ServiceError> {
        let want = match request.range {
            Some(r) => Want::Range(r),
            None => Want::All,
        };
        self.download_as(caller, Tool::Get, request.key, want, None)
            .await
    }

    /// [`Service::download`] as `tool`, of `want`, refusing objects above `max` bytes; the
    /// outcome is recorded when the stream ends (or is dropped).
    pub(super) async fn download_as(
        &self,
        caller: &Caller,
        tool: Tool,
        key: String,
        want: Want,
        max: Option<u64>,
    ) -> Result<Download, ServiceError> {
        self.settle_key(caller, &key).await;
        let (call, tenant) = self.begin(caller, tool, Some(&key)).await?;
        match open_download(tenant, key, want, max).await {
            Ok(mut d) => {
                d.call = Some(call);
                Ok(d)
            }
            Err(e) => Err(call.fail(e)),
        }
    }
}

/// Opens `want` of the object at `key` for streaming, without auditing (the caller's call is
/// audited by whoever called).
pub(super) async fn open_download(
    tenant: &Tenant,
    key: String,
    want: Want,
    max: Option<u64>,
) -> Result<Download, ServiceError> {
    let parsed = ObjectKey::parse(&key)?;
    let name = tenant.name_of(parsed.as_str())?;
    let stored = match tenant.adapter().head(&name).await {
        Ok(meta) => meta.size,
        Err(AdapterError::NotFound) => return Err(not_found(parsed.as_str())),
        Err(e) => return Err(e.into()),
    };
    let prefix_len = (Layout::PREFIX_MAX as u64).min(stored);
    let prefix = tenant.adapter().get_range(&name, 0..prefix_len).await?;
    let layout = Layout::parse(&prefix)?;
    let ring = tenant.keys_for(&prefix).await?;
    let (info, opener) = crypto::open_info(&ring, &tenant.id, tenant.store_name(), &prefix)?;
    if info.key != parsed.as_str() {
        return Err(crypto::CryptoError::Integrity.into());
    }
    let size = layout.plaintext_len(stored)?;
    if let Some(max) = max
        && size > max
    {
        return Err(ServiceError::new(
            ErrorCode::TooLarge,
            format!("the object is larger than this link's limit of {max} bytes"),
        ));
    }
    let range = match want {
        Want::All => 0..size,
        Want::Range(r) => resolve_range(r, size)?,
        Want::Last(n) => size.saturating_sub(n)..size,
    };
    let source = Source {
        adapter: Arc::clone(tenant.store.adapter()),
        name,
        stored,
        layout,
        opener: Arc::new(opener),
        tenant: tenant.id.clone(),
        store: tenant.store_name().to_owned(),
        key: parsed.as_str().to_owned(),
    };
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(source.run(range.clone(), tx));
    Ok(Download {
        key,
        size,
        range,
        content_type: info
            .content_type
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
        metadata: info.metadata,
        pieces: rx,
        call: None,
        sent: 0,
        done: false,
    })
}

/// Everything the reading task needs, owned.
struct Source {
    adapter: Arc<dyn Adapter>,
    name: StorageName,
    stored: u64,
    layout: Layout,
    opener: Arc<Opener>,
    tenant: String,
    store: String,
    key: String,
}

impl Source {
    /// Reads and opens the pieces of `range` in order, sending each; stops at the first
    /// error, or when the receiver went away.
    async fn run(self, range: Range<u64>, tx: mpsc::Sender<Result<Bytes, ServiceError>>) {
        let this = Arc::new(self);
        let reads = futures::stream::iter(pieces(range, PIECE_BYTES))
            .map(|plain| {
                let this = Arc::clone(&this);
                async move {
                    let span = this.layout.chunk_span(this.stored, plain.clone())?;
                    let bytes = this
                        .adapter
                        .get_range(&this.name, span.ciphertext.clone())
                        .await?;
                    Ok::<_, ServiceError>((span, plain, bytes))
                }
            })
            .buffered(READ_AHEAD);
        futures::pin_mut!(reads);
        while let Some(read) = reads.next().await {
            let opened = match read {
                Ok((span, plain, bytes)) => {
                    let this = Arc::clone(&this);
                    tokio::task::spawn_blocking(move || {
                        let ctx = Context {
                            tenant: &this.tenant,
                            store: &this.store,
                            key: &this.key,
                        };
                        this.opener
                            .open_span(&ctx, &span, &bytes, plain)
                            .map(Bytes::from)
                            .map_err(ServiceError::from)
                    })
                    .await
                    .unwrap_or_else(|_| {
                        Err(ServiceError::new(
                            ErrorCode::Internal,
                            "opening task failed",
                        ))
                    })
                }
                Err(e) => Err(e),
            };
            let failed = opened.is_err();
            if tx.send(opened).await.is_err() || failed {
                return;
            }
        }
    }
}

/// `range` cut at multiples of `piece` (a multiple of the chunk size, so every piece starts
/// on a chunk boundary, except possibly the first). An empty range is one empty piece, which
/// still verifies the chunk it falls in.
pub(super) fn pieces(range: Range<u64>, piece: u64) -> Vec<Range<u64>> {
    if range.is_empty() {
        return vec![range];
    }
    let mut out = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let end = ((start / piece + 1) * piece).min(range.end);
        out.push(start..end);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range_on_piece_boundaries() {
        let p = PIECE_BYTES;
        assert_eq!(pieces(0..0, p), vec![0..0]);
        assert_eq!(pieces(5..10, p), vec![5..10]);
        assert_eq!(
            pieces(0..2 * p + 1, p),
            vec![0..p, p..2 * p, 2 * p..2 * p + 1]
        );
        assert_eq!(pieces(p - 1..p + 1, p), vec![p - 1..p, p..p + 1]);
    }
}
