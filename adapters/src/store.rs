//! One [`Adapter`] implementation over any `object_store` backend; backend modules only
//! construct it and describe their quirks.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::signer::Signer;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};

use crate::adapter::CUT_SHORT;
use crate::{Adapter, AdapterError, ObjectMeta, Part, PresignMethod, StorageName, Written};

/// Parts of a streamed put are written in pieces of at least this size (S3's smallest
/// multipart part); smaller parts are gathered, without copying, until they reach it.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Part writes in flight at once for one streamed put.
const PARTS_IN_FLIGHT: usize = 4;

/// Waits for one part write of a streamed put.
async fn join_part(
    writes: &mut tokio::task::JoinSet<object_store::Result<()>>,
) -> Result<(), AdapterError> {
    match writes.join_next().await {
        Some(Ok(written)) => Ok(written?),
        Some(Err(_)) => Err(AdapterError::Unavailable("part upload task failed")),
        None => Ok(()),
    }
}

/// The multipart upload of a streamed put until it completes. Dropped unfinished (the put
/// failed or its caller went away), it aborts the upload in a task of its own: an unfinished
/// upload is never visible as an object, and the caller's answer does not wait for a store
/// that may be the reason it failed. A store that cannot be reached keeps the upload until
/// the start-up clean-up of stale uploads (S3) or its own expiry.
struct AbortUnfinished(Option<Box<dyn MultipartUpload>>);

impl Drop for AbortUnfinished {
    fn drop(&mut self) {
        let Some(mut up) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("streamed put dropped outside a runtime; its upload is left unfinished");
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = up.abort().await {
                // Converted first: the backend's own message may name paths.
                let e = AdapterError::from(e);
                tracing::warn!(error = %e, "could not abort an unfinished streamed put");
            }
        });
    }
}

/// An adapter backed by an `object_store` implementation.
#[derive(Debug, Clone)]
pub struct ObjectStoreAdapter {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
    signer: Option<Arc<dyn Signer>>,
}

impl ObjectStoreAdapter {
    /// Wraps an object store; `kind` names the backend in reports.
    pub fn new(inner: Arc<dyn ObjectStore>, kind: &'static str) -> Self {
        Self {
            inner,
            kind,
            signer: None,
        }
    }

    /// Wraps a store that can also presign URLs.
    pub fn with_signer<S: ObjectStore + Signer>(inner: Arc<S>, kind: &'static str) -> Self {
        Self {
            inner: inner.clone(),
            kind,
            signer: Some(inner),
        }
    }

    fn meta(m: object_store::ObjectMeta) -> Result<ObjectMeta, AdapterError> {
        Ok(ObjectMeta {
            name: StorageName::parse(m.location.as_ref())?,
            size: m.size,
            last_modified: m.last_modified,
            e_tag: m.e_tag,
        })
    }
}

#[async_trait]
impl Adapter for ObjectStoreAdapter {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn put(&self, name: &StorageName, bytes: Bytes) -> Result<Written, AdapterError> {
        let done = self
            .inner
            .put(name.path(), PutPayload::from_bytes(bytes))
            .await?;
        Ok(done.e_tag)
    }

    async fn put_parts(
        &self,
        name: &StorageName,
        mut parts: tokio::sync::mpsc::Receiver<Part>,
    ) -> Result<Written, AdapterError> {
        // Parts are gathered up to MIN_PART_SIZE; the multipart upload starts with the first
        // full piece, so an object that fits in one piece is a plain put.
        let mut gathered: Vec<Bytes> = Vec::new();
        let mut gathered_len = 0;
        let mut upload = AbortUnfinished(None);
        let mut writes = tokio::task::JoinSet::new();
        let result = async {
            loop {
                match parts.recv().await {
                    Some(Part::Data(bytes)) => {
                        gathered_len += bytes.len();
                        gathered.push(bytes);
                    }
                    Some(Part::End) => break,
                    None => return Err(AdapterError::Unavailable(CUT_SHORT)),
                }
                if gathered_len >= MIN_PART_SIZE {
                    let up = match &mut upload.0 {
                        Some(up) => up,
                        None => upload
                            .0
                            .insert(self.inner.put_multipart(name.path()).await?),
                    };
                    writes.spawn(up.put_part(std::mem::take(&mut gathered).into_iter().collect()));
                    gathered_len = 0;
                    while writes.len() > PARTS_IN_FLIGHT {
                        join_part(&mut writes).await?;
                    }
                }
            }
            let rest: PutPayload = std::mem::take(&mut gathered).into_iter().collect();
            let done = match &mut upload.0 {
                None => self.inner.put(name.path(), rest).await?,
                Some(up) => {
                    if gathered_len > 0 {
                        writes.spawn(up.put_part(rest));
                    }
                    while !writes.is_empty() {
                        join_part(&mut writes).await?;
                    }
                    up.complete().await?
                }
            };
            Ok(done.e_tag)
        }
        .await;
        writes.abort_all();
        if result.is_ok() {
            upload.0 = None;
        }
        // Otherwise dropping `upload` aborts it, as it does when this call is cancelled.
        result
    }

    async fn get(&self, name: &StorageName) -> Result<Bytes, AdapterError> {
        Ok(self.inner.get(name.path()).await?.bytes().await?)
    }

    async fn get_range(
        &self,
        name: &StorageName,
        range: Range<u64>,
    ) -> Result<Bytes, AdapterError> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        // object_store clamps the end itself; only a start past the end is an error, and only
        // then is the size worth a second request.
        match self.inner.get_range(name.path(), range.clone()).await {
            Ok(bytes) => Ok(bytes),
            Err(e @ object_store::Error::NotFound { .. }) => Err(e.into()),
            Err(e) => {
                let size = self.inner.head(name.path()).await?.size;
                if range.start >= size {
                    Ok(Bytes::new())
                } else {
                    Err(e.into())
                }
            }
        }
    }

    async fn head(&self, name: &StorageName) -> Result<ObjectMeta, AdapterError> {
        Self::meta(self.inner.head(name.path()).await?)
    }

    async fn delete(&self, name: &StorageName) -> Result<bool, AdapterError> {
        match self.inner.head(name.path()).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        match self.inner.delete(name.path()).await {
            Ok(()) => Ok(true),
            // Deleted concurrently by someone else: it is gone either way.
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, prefix: &StorageName) -> Result<Vec<ObjectMeta>, AdapterError> {
        let metas: Vec<object_store::ObjectMeta> =
            self.inner.list(Some(prefix.path())).try_collect().await?;
        metas.into_iter().map(Self::meta).collect()
    }

    async fn presign(
        &self,
        name: &StorageName,
        method: PresignMethod,
        expires_in: std::time::Duration,
    ) -> Result<url::Url, AdapterError> {
        let signer = self.signer.as_ref().ok_or(AdapterError::Unsupported)?;
        let method = match method {
            PresignMethod::Get => http::Method::GET,
            PresignMethod::Put => http::Method::PUT,
        };
        Ok(signer.signed_url(method, name.path(), expires_in).await?)
    }
}
