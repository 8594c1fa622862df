//! The adapter trait: the small surface the service needs from a storage backend.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::{AdapterError, StorageName};

/// Size, modification time and identity of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's storage name.
    pub name: StorageName,
    /// Stored (ciphertext) size in bytes.
    pub size: u64,
    /// Last modification time reported by the backend.
    pub last_modified: DateTime<Utc>,
    /// The backend's entity tag, where it has one: it changes whenever the object is
    /// replaced, so two writes of the same size in the same instant are still told apart.
    pub e_tag: Option<String>,
}

/// The entity tag of the object a write created, where the backend reports one.
pub type Written = Option<String>;

/// One message of a streamed put ([`Adapter::put_parts`]).
#[derive(Debug)]
pub enum Part {
    /// The next bytes of the object.
    Data(Bytes),
    /// Every byte was sent: the object may be committed.
    End,
}

/// A storage backend. Implementations see only opaque names and sealed bytes; they never
/// see keys, policies or plaintext.
#[async_trait]
pub trait Adapter: Send + Sync + std::fmt::Debug + 'static {
    /// Short backend kind, e.g. `local`, `memory`, `s3`.
    fn kind(&self) -> &'static str;

    /// Stores `bytes` under `name`, replacing any previous object. Readers see either the old
    /// or the new object, never a partial one.
    async fn put(&self, name: &StorageName, bytes: Bytes) -> Result<Written, AdapterError>;

    /// Stores an object that arrives as consecutive parts over `parts`, with `put`'s
    /// guarantees: readers see the old or the complete new object, never a partial one. The
    /// object is committed only after [`Part::End`]; if the sender goes away before it, or a
    /// write fails, nothing changes and an error is returned. Writing a part overlaps with the
    /// caller producing the next. The default collects the parts and calls [`Adapter::put`].
    async fn put_parts(
        &self,
        name: &StorageName,
        mut parts: tokio::sync::mpsc::Receiver<Part>,
    ) -> Result<Written, AdapterError> {
        let mut all = Vec::new();
        loop {
            match parts.recv().await {
                Some(Part::Data(bytes)) => all.extend_from_slice(&bytes),
                Some(Part::End) => return self.put(name, Bytes::from(all)).await,
                None => return Err(AdapterError::Unavailable(CUT_SHORT)),
            }
        }
    }

    /// Reads a whole object.
    async fn get(&self, name: &StorageName) -> Result<Bytes, AdapterError>;

    /// Reads `range` of an object; the range is clamped to the object's end.
    async fn get_range(&self, name: &StorageName, range: Range<u64>)
    -> Result<Bytes, AdapterError>;

    /// Size and modification time of an object.
    async fn head(&self, name: &StorageName) -> Result<ObjectMeta, AdapterError>;

    /// Deletes an object; `Ok(false)` when it did not exist.
    async fn delete(&self, name: &StorageName) -> Result<bool, AdapterError>;

    /// Every object whose name starts with the segments of `prefix`.
    async fn list(&self, prefix: &StorageName) -> Result<Vec<ObjectMeta>, AdapterError>;

    /// A time-limited URL for one object; `Unsupported` where the backend has none.
    async fn presign(
        &self,
        _name: &StorageName,
        _method: PresignMethod,
        _expires_in: std::time::Duration,
    ) -> Result<url::Url, AdapterError> {
        Err(AdapterError::Unsupported)
    }
}

/// The error text of a streamed put whose producer stopped before [`Part::End`].
pub(crate) const CUT_SHORT: &str = "the upload stopped before its end";

/// HTTP method of a presigned URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresignMethod {
    /// Download.
    Get,
    /// Upload.
    Put,
}
