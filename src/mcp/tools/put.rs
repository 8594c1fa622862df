//! `put`: store text or base64.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::payload;
use crate::mcp::result::{structured, with_links};
use crate::residency::Placement;
use crate::service::{
    Caller, ErrorCode, FilePut, Limits, Progress, PutRequest, Service, ServiceError, Stored,
};

/// `put` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutArgs {
    /// Object key, e.g. `docs/a.txt`: 1-1024 bytes, NFC, no empty/`.`/`..` segment.
    pub key: String,
    /// UTF-8 text. Give one of `text`, `base64` or `path`.
    pub text: Option<String>,
    /// Binary, standard base64.
    pub base64: Option<String>,
    /// Or a local file (any size; needs a files root).
    pub path: Option<String>,
    /// MIME type (default: from the payload or file name).
    pub content_type: Option<String>,
    /// Searchable strings: 32 names of A-Za-z0-9-_. at most, values to 1 KiB, 12 KiB in all.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A put of inline bytes, or of a local file.
#[derive(Debug)]
pub enum PutCall {
    /// `text` or `base64`.
    Inline(PutRequest),
    /// `path`.
    File(FilePut),
}

impl Args for PutArgs {
    type Request = PutCall;
    type Output = PutResult;
    fn into_request(self, limits: &Limits) -> Result<PutCall, ServiceError> {
        let metadata = self.metadata.unwrap_or_default();
        if let Some(path) = self.path {
            if self.text.is_some() || self.base64.is_some() {
                return Err(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    "give one of `text`, `base64` or `path`",
                ));
            }
            return Ok(PutCall::File(FilePut {
                key: self.key,
                path,
                content_type: self.content_type,
                metadata,
            }));
        }
        let (data, implied_type) =
            payload::decode(self.text, self.base64, limits.max_inline_bytes)?;
        Ok(PutCall::Inline(PutRequest {
            key: self.key,
            data,
            content_type: self.content_type.or(implied_type.map(str::to_owned)),
            metadata,
        }))
    }

    async fn call(s: &Service, c: &Caller, r: PutCall, p: Option<&dyn Progress>) -> Outcome {
        let stored = match r {
            PutCall::Inline(r) => s.put_reporting(c, r, p).await?,
            PutCall::File(r) => s.put_file(c, r, p).await?,
        };
        let (key, size) = (stored.key.clone(), stored.size);
        let result = structured(&PutResult::from(stored));
        Ok(with_links(result, [(key.as_str(), None, size)]))
    }
}

/// What a model reads about `put`.
pub const ABOUT: &str = "Store an object (encrypted, in EEA storage), replacing any under the \
same key: `text` or `base64` inline, a local file by `path`, larger ones via \
`transfer`. Example: {\"key\":\"notes/a.txt\",\"text\":\"hello\"}";

/// `put` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PutResult {
    key: String,
    size: u64,
    stored: Placement,
}

impl From<Stored> for PutResult {
    fn from(s: Stored) -> Self {
        Self {
            key: s.key,
            size: s.size,
            stored: s.placement,
        }
    }
}
