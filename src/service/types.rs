//! The service's requests and results: bytes, keys and domain values. How they look on the
//! wire (JSON field names, text or base64, schemas) is `crate::mcp`'s business.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};

pub use bitatlas_adapters::PresignMethod;

use super::call::Audited;
use crate::residency::Placement;

/// Content type given to objects stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Store an object.
#[derive(Debug, Clone, Default)]
pub struct PutRequest {
    /// Object key, e.g. `notes/2026/meeting.md` (rules: [`super::ObjectKey`]).
    pub key: String,
    /// The plaintext.
    pub data: Bytes,
    /// MIME type; [`DEFAULT_CONTENT_TYPE`] when absent.
    pub content_type: Option<String>,
    /// User metadata, stored sealed and searchable.
    pub metadata: BTreeMap<String, String>,
}

/// Store an object whose bytes arrive as a stream (a transfer link, a local file).
#[derive(Debug, Clone, Default)]
pub struct StreamPut {
    /// Object key.
    pub key: String,
    /// MIME type; [`DEFAULT_CONTENT_TYPE`] when absent.
    pub content_type: Option<String>,
    /// User metadata, stored sealed and searchable.
    pub metadata: BTreeMap<String, String>,
    /// Refuse, storing nothing, a stream longer than this.
    pub max_bytes: Option<u64>,
    /// The length announced in advance (a `Content-Length`, a file's size): refused at once
    /// above `max_bytes`, and the total that progress reports name.
    pub expected_size: Option<u64>,
}

/// Store a local file (inside a files root) as an object.
#[derive(Debug, Clone, Default)]
pub struct FilePut {
    /// Object key.
    pub key: String,
    /// The file: absolute inside a root, or relative to the first root.
    pub path: String,
    /// MIME type; guessed from the file name, else [`DEFAULT_CONTENT_TYPE`].
    pub content_type: Option<String>,
    /// User metadata, stored sealed and searchable.
    pub metadata: BTreeMap<String, String>,
}

/// An object saved to a local file.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The key read.
    pub key: String,
    /// Plaintext size of the whole object.
    pub size: u64,
    /// Bytes written to the file (the range's length when a range was asked for).
    pub written: u64,
    /// Where the file is now (its directory resolved).
    pub saved_to: String,
}

impl Audited for Saved {
    fn audited_size(&self) -> Option<u64> {
        Some(self.written)
    }
}

/// Hears how far a long call has come, and tells it when its caller gave up.
pub trait Progress: Send + Sync {
    /// `done` bytes of `total` (when known) were moved so far.
    fn advanced(&self, done: u64, total: Option<u64>);
    /// Whether the caller cancelled the call: long calls stop at the next part, before
    /// anything is committed, and leave the previous state.
    fn cancelled(&self) -> bool {
        false
    }
    /// Whether anyone listens: a put that is heard is written in parts even when one write
    /// would do, so that it has something to report.
    fn heard(&self) -> bool {
        true
    }
}

/// Where an object was stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The key written.
    pub key: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Store, provider, region and country holding the sealed bytes.
    pub placement: Placement,
}

impl Audited for Stored {
    fn audited_size(&self) -> Option<u64> {
        Some(self.size)
    }
}

/// A byte range: `start` inclusive, `end` exclusive (the object's end when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte, from 0.
    pub start: u64,
    /// One past the last byte.
    pub end: Option<u64>,
}

/// Read an object, or part of it.
#[derive(Debug, Clone)]
pub struct GetRequest {
    /// Object key.
    pub key: String,
    /// Only these bytes; only the chunks they touch are fetched and opened.
    pub range: Option<ByteRange>,
}

impl GetRequest {
    /// The whole object at `key`.
    pub fn whole(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            range: None,
        }
    }
}

/// An object read back. While it lives it holds its share of the answer budget.
#[derive(Debug)]
pub struct Object {
    /// The key read.
    pub key: String,
    /// Plaintext size of the whole object in bytes.
    pub size: u64,
    /// MIME type given at `put`.
    pub content_type: String,
    /// User metadata given at `put`.
    pub metadata: BTreeMap<String, String>,
    /// The range returned (with its end resolved), when a range was asked for.
    pub range: Option<ByteRange>,
    /// The content, or the requested range of it.
    pub data: Vec<u8>,
    /// The replica that served the read, when the home store could not (failover).
    pub served_by: Option<Placement>,
    pub(super) _budget: super::budget::Share,
}

impl Audited for Object {
    fn audited_size(&self) -> Option<u64> {
        Some(self.data.len() as u64)
    }

    fn served_by(&self) -> Option<&Placement> {
        self.served_by.as_ref()
    }
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The key.
    pub key: String,
    /// `true` when an object was removed, `false` when there was none.
    pub deleted: bool,
}

impl Audited for Deleted {}

/// One page of a folder.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Folder: `a` and `a/` both mean the objects under `a/` (never `a-b/...`).
    pub prefix: Option<String>,
    /// Only direct children; deeper folders come back as prefixes.
    pub delimiter: bool,
    /// Page size (default and bounds: [`super::DEFAULT_PAGE`], [`super::MAX_PAGE`]).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// What the index knows of one object.
#[derive(Debug, Clone)]
pub struct IndexedObject {
    /// Object key.
    pub key: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Last modification time.
    pub last_modified: DateTime<Utc>,
    /// MIME type.
    pub content_type: String,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A page of objects (and, for a listing with a delimiter, of sub-folders).
#[derive(Debug, Clone)]
pub struct Page {
    /// Objects on this page, sorted by key.
    pub objects: Vec<IndexedObject>,
    /// Sub-folders (with trailing `/`) when the listing used a delimiter.
    pub prefixes: Option<Vec<String>>,
    /// Opaque cursor for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Audited for Page {}

/// Find objects: every given filter must match.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Only objects under this folder.
    pub prefix: Option<String>,
    /// Glob on the whole key: `*` within a segment, `**` across, `?`, `[abc]`, `{a,b}`.
    pub pattern: Option<String>,
    /// Metadata entries that must all be present with exactly these values.
    pub metadata: BTreeMap<String, String>,
    /// Media type (`text/plain` matches `text/plain; charset=utf-8`); with parameters, the
    /// parameters must match too.
    pub content_type: Option<String>,
    /// Only objects modified at or after this time.
    pub modified_after: Option<DateTime<Utc>>,
    /// Only objects modified before this time.
    pub modified_before: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Hand out a presigned URL for the sealed object.
#[derive(Debug, Clone)]
pub struct PresignRequest {
    /// Object key.
    pub key: String,
    /// Download or upload.
    pub method: PresignMethod,
    /// Lifetime in seconds (default and bound: [`super::DEFAULT_EXPIRY`], [`super::MAX_EXPIRY`]).
    pub expires_in: Option<u64>,
}

/// A presigned URL on the store's verified endpoint.
#[derive(Debug, Clone)]
pub struct Presigned {
    /// The URL (a bearer credential until it expires).
    pub url: String,
    /// Download or upload.
    pub method: PresignMethod,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Host the URL points to.
    pub host: String,
    /// Where the object lives.
    pub placement: Placement,
}

impl Audited for Presigned {}
