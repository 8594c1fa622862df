//! `transfer`: a link on this server through which a client uploads or downloads an object's
//! plaintext directly (e.g. with curl), sealed and opened here, without passing the bytes
//! through the model.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::presign::UrlMethod;
use super::{Args, Outcome};
use crate::mcp::result::structured;
use crate::mcp::time;
use crate::service::{
    Caller, Limits, Progress, Service, ServiceError, TransferLink, TransferRequest,
};

/// `transfer` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferArgs {
    /// Object key.
    pub key: String,
    /// `PUT` uploads, `GET` downloads.
    pub method: UrlMethod,
    /// Lifetime in seconds, 1-3600 (default 900).
    pub expires_in: Option<u64>,
    /// Size limit in bytes.
    pub max_bytes: Option<u64>,
    /// PUT only: MIME type.
    pub content_type: Option<String>,
}

impl Args for TransferArgs {
    type Request = TransferRequest;
    type Output = TransferResult;
    fn into_request(self, _: &Limits) -> Result<TransferRequest, ServiceError> {
        Ok(TransferRequest {
            key: self.key,
            method: self.method.into(),
            expires_in: self.expires_in,
            max_bytes: self.max_bytes,
            content_type: self.content_type,
        })
    }

    async fn call(
        s: &Service,
        c: &Caller,
        r: TransferRequest,
        _: Option<&dyn Progress>,
    ) -> Outcome {
        Ok(structured(&TransferResult::from(s.transfer(c, r).await?)))
    }
}

/// What a model reads about `transfer`.
pub const ABOUT: &str = "Server URL moving one object of any size as plain bytes (encrypted \
here), for files too big to inline: `curl -T FILE URL` uploads once, `curl -o FILE \
URL` downloads (Range works), `curl -X DELETE URL` revokes. Example: \
{\"key\":\"a.mp4\",\"method\":\"PUT\"}";

/// `transfer` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TransferResult {
    url: String,
    method: UrlMethod,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_bytes: Option<u64>,
}

impl From<TransferLink> for TransferResult {
    fn from(l: TransferLink) -> Self {
        Self {
            url: l.url,
            method: l.method.into(),
            expires_at: time::format(l.expires_at),
            max_bytes: l.max_bytes,
        }
    }
}
