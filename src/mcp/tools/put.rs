//! `put`: store text or base64.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::payload;
use crate::mcp::result::structured;
use crate::residency::Placement;
use crate::service::{Caller, Limits, PutRequest, Service, ServiceError, Stored};

/// `put` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutArgs {
    /// Object key, e.g. `docs/a.txt`: 1-1024 bytes of NFC text, no empty, `.` or `..` segment.
    pub key: String,
    /// UTF-8 text. Give exactly one of `text` or `base64`.
    pub text: Option<String>,
    /// Binary, standard base64.
    pub base64: Option<String>,
    /// MIME type (default: text/plain or application/octet-stream).
    pub content_type: Option<String>,
    /// Searchable string map: up to 32 names of A-Za-z0-9-_., values up to 1 KiB, 12 KiB in all.
    pub metadata: Option<BTreeMap<String, String>>,
}

impl Args for PutArgs {
    type Request = PutRequest;
    type Output = PutResult;
    fn into_request(self, limits: &Limits) -> Result<PutRequest, ServiceError> {
        let (data, implied_type) =
            payload::decode(self.text, self.base64, limits.max_inline_bytes)?;
        Ok(PutRequest {
            key: self.key,
            data,
            content_type: self.content_type.or(implied_type.map(str::to_owned)),
            metadata: self.metadata.unwrap_or_default(),
        })
    }

    async fn call(s: &Service, c: &Caller, r: PutRequest) -> Outcome {
        Ok(structured(&PutResult::from(s.put(c, r).await?)))
    }
}

/// What a model reads about `put`.
pub const ABOUT: &str = "Store an object (encrypted, in EEA storage), replacing any under the \
same key. Returns its size and where it is stored. Example: \
{\"key\":\"notes/a.txt\",\"text\":\"hello\"}";

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
