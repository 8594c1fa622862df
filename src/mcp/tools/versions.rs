//! `versions`: the kept versions of a key (the undo window).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::result::structured;
use crate::mcp::time;
use crate::service::{Caller, Limits, Progress, Service, ServiceError, Versions};

/// `versions` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionsArgs {
    /// Object key.
    pub key: String,
}

impl Args for VersionsArgs {
    type Request = String;
    type Output = VersionsResult;
    fn into_request(self, _: &Limits) -> Result<String, ServiceError> {
        Ok(self.key)
    }

    async fn call(s: &Service, c: &Caller, key: String, _: Option<&dyn Progress>) -> Outcome {
        Ok(structured(&VersionsResult::from(
            s.versions(c, &key).await?,
        )))
    }
}

/// What a model reads about `versions`.
pub const ABOUT: &str = "Versions of `key` kept after it was overwritten or deleted (the \
server's undo window), newest first; give one to `restore`. Example: {\"key\":\"notes/a.txt\"}";

/// `versions` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VersionsResult {
    key: String,
    /// Whether the key has a current object.
    current: bool,
    /// Days a version stays restorable.
    keep_days: u32,
    versions: Vec<VersionItem>,
}

/// One kept version.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VersionItem {
    /// Give this to `restore`.
    version: String,
    /// When it was overwritten or deleted (RFC 3339, UTC).
    kept_at: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
}

impl From<Versions> for VersionsResult {
    fn from(v: Versions) -> Self {
        Self {
            key: v.key,
            current: v.current,
            keep_days: v.keep_days,
            versions: v
                .versions
                .into_iter()
                .map(|v| VersionItem {
                    version: v.version,
                    kept_at: time::format(v.kept_at),
                    size: v.size,
                    content_type: v.content_type,
                })
                .collect(),
        }
    }
}
