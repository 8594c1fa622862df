//! Tool inputs and outputs: plain data with JSON Schemas. Field names are a public API.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::residency::Placement;

/// `put` input.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutInput {
    /// Object key, e.g. `notes/2026/meeting.md`. 1-1024 bytes of UTF-8, `/`-separated
    /// segments, no empty, `.` or `..` segment, no control characters or backslash.
    pub key: String,
    /// UTF-8 text payload. Give exactly one of `text` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Binary payload, standard base64 with padding. Give exactly one of `text` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// MIME type; defaults to `text/plain; charset=utf-8` for text and
    /// `application/octet-stream` for base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// User metadata (stored sealed; searchable with `search`). Up to 32 entries; names are
    /// 1-128 characters of `a-z A-Z 0-9 - _ .`, values up to 1024 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `put` output.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PutOutput {
    /// The key written.
    pub key: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Where the sealed bytes were stored.
    pub stored: Placement,
}

/// `put` with the payload already as bytes, for Rust callers; the `put` tool decodes its
/// `text` or `base64` into this.
#[derive(Debug, Clone, Default)]
pub struct PutBytes {
    /// Object key (same rules as [`PutInput::key`]).
    pub key: String,
    /// The plaintext.
    pub data: bytes::Bytes,
    /// MIME type; defaults to `application/octet-stream`.
    pub content_type: Option<String>,
    /// User metadata (same rules as [`PutInput::metadata`]).
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A byte range: `start` inclusive, `end` exclusive (defaults to the object's end).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ByteRange {
    /// First byte, from 0.
    pub start: u64,
    /// One past the last byte; omitted means the end of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
}

/// `get` input.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// Object key.
    pub key: String,
    /// Optional byte range; only the chunks it touches are fetched and decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
}

/// How `data` is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `data` is the text itself.
    Utf8,
    /// `data` is standard base64.
    Base64,
}

/// `get` output.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct GetOutput {
    /// The key read.
    pub key: String,
    /// Plaintext size of the whole object in bytes.
    pub size: u64,
    /// MIME type given at `put`.
    pub content_type: String,
    /// User metadata given at `put`.
    pub metadata: BTreeMap<String, String>,
    /// The byte range returned, when a range was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
    /// Encoding of `data`: `utf8` for textual content types holding valid UTF-8.
    pub encoding: Encoding,
    /// The content (or the requested range of it).
    pub data: String,
}

/// `get` result with the payload as bytes, before the tool encodes it as text or base64.
#[derive(Debug, Clone)]
pub struct GetBytes {
    /// The key read.
    pub key: String,
    /// Plaintext size of the whole object in bytes.
    pub size: u64,
    /// MIME type given at `put`.
    pub content_type: String,
    /// User metadata given at `put`.
    pub metadata: BTreeMap<String, String>,
    /// The byte range returned, when a range was asked for.
    pub range: Option<ByteRange>,
    /// The content (or the requested range of it).
    pub data: Vec<u8>,
}

/// `delete` input.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// Object key.
    pub key: String,
}

/// `delete` output.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct DeleteOutput {
    /// The key.
    pub key: String,
    /// `true` when an object was removed, `false` when there was none.
    pub deleted: bool,
}

/// `list` input.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// Folder to list: `a` and `a/` both mean the objects under `a/` (never `a-b/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// When true, only direct children are listed; deeper folders appear in `prefixes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<bool>,
    /// Page size, 1-1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One object in a listing.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ObjectSummary {
    /// Object key.
    pub key: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Last modification time (RFC 3339, UTC).
    pub last_modified: String,
}

/// `list` output.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ListOutput {
    /// Objects on this page, sorted by key.
    pub objects: Vec<ObjectSummary>,
    /// Sub-folders (with trailing `/`) when `delimiter` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `search` input. All given filters must match.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// Only objects under this folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Glob on the whole key: `*` within a segment, `**` across segments, `?`, `[abc]`,
    /// `{a,b}`. Example: `reports/**/*.pdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Metadata entries that must all be present with exactly these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Exact content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Only objects modified at or after this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_after: Option<String>,
    /// Only objects modified before this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_before: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One search hit.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct SearchMatch {
    /// Object key.
    pub key: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Last modification time (RFC 3339, UTC).
    pub last_modified: String,
    /// Content type.
    pub content_type: String,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

/// `search` output.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct SearchOutput {
    /// Matches on this page, sorted by key.
    pub matches: Vec<SearchMatch>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// HTTP method of a presigned URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PresignMethod {
    /// Download the sealed object.
    #[serde(rename = "GET")]
    Get,
    /// Upload an object sealed beforehand with `bitatlas seal`.
    #[serde(rename = "PUT")]
    Put,
}

/// `presign` input.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignInput {
    /// Object key.
    pub key: String,
    /// `GET` or `PUT`.
    pub method: PresignMethod,
    /// Lifetime in seconds (default 900, max 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// `presign` output.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct PresignOutput {
    /// The presigned URL (a bearer credential until it expires).
    pub url: String,
    /// `GET` or `PUT`.
    pub method: PresignMethod,
    /// Expiry time (RFC 3339, UTC).
    pub expires_at: String,
    /// Host the URL points to (a verified EEA endpoint).
    pub host: String,
    /// Provider region.
    pub region: String,
    /// Country holding the bytes.
    pub country: String,
}

/// The structured body of every failed call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorOutput {
    /// Stable code.
    pub code: super::ErrorCode,
    /// Human-readable message.
    pub message: String,
}
