//! `presign`: a time-limited URL for the sealed object on the store's verified endpoint.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::result::structured;
use crate::mcp::time;
use crate::service::{
    Caller, Limits, PresignMethod, PresignRequest, Presigned, Progress, Service, ServiceError,
};

/// HTTP method of a URL: `GET` downloads, `PUT` uploads. (No per-variant docs: the schema
/// stays a plain `enum`, which every client reads and which costs the model least.)
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
pub enum UrlMethod {
    #[serde(rename = "GET")]
    #[allow(missing_docs)]
    Get,
    #[serde(rename = "PUT")]
    #[allow(missing_docs)]
    Put,
}

impl From<UrlMethod> for PresignMethod {
    fn from(m: UrlMethod) -> Self {
        match m {
            UrlMethod::Get => PresignMethod::Get,
            UrlMethod::Put => PresignMethod::Put,
        }
    }
}

impl From<PresignMethod> for UrlMethod {
    fn from(m: PresignMethod) -> Self {
        match m {
            PresignMethod::Get => UrlMethod::Get,
            PresignMethod::Put => UrlMethod::Put,
        }
    }
}

/// `presign` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignArgs {
    /// Object key.
    pub key: String,
    /// `GET` or `PUT`.
    pub method: UrlMethod,
    /// Lifetime in seconds, 1-3600 (default 900).
    pub expires_in: Option<u64>,
}

impl Args for PresignArgs {
    type Request = PresignRequest;
    type Output = PresignResult;
    fn into_request(self, _: &Limits) -> Result<PresignRequest, ServiceError> {
        Ok(PresignRequest {
            key: self.key,
            method: self.method.into(),
            expires_in: self.expires_in,
        })
    }

    async fn call(s: &Service, c: &Caller, r: PresignRequest, _: Option<&dyn Progress>) -> Outcome {
        Ok(structured(&PresignResult::from(s.presign(c, r).await?)))
    }
}

/// What a model reads about `presign`.
pub const ABOUT: &str = "Bucket URL for the sealed object (ciphertext): GET for `bitatlas \
open`; PUT a `bitatlas seal` file, applied at the next read if valid. Plain bytes: \
`transfer`. Example: {\"key\":\"a.mp4\",\"method\":\"GET\"}";

/// `presign` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PresignResult {
    url: String,
    method: UrlMethod,
    expires_at: String,
    host: String,
    region: String,
    country: String,
}

impl From<Presigned> for PresignResult {
    fn from(p: Presigned) -> Self {
        Self {
            url: p.url,
            method: p.method.into(),
            expires_at: time::format(p.expires_at),
            host: p.host,
            region: p.placement.region,
            country: p.placement.country,
        }
    }
}
