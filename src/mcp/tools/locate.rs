//! `locate`: where an object's copies are, and under which key (the right to know).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::result::structured;
use crate::mcp::time;
use crate::service::{
    Caller, CopyReceipt, Limits, LocateRequest, Located, Progress, Receipt, Service, ServiceError,
};

/// `locate` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocateArgs {
    /// One object.
    pub key: Option<String>,
    /// Or every object under this folder.
    pub prefix: Option<String>,
    /// Receipts per page 1-1000 (default 100).
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Args for LocateArgs {
    type Request = LocateRequest;
    type Output = LocateResult;
    fn into_request(self, _: &Limits) -> Result<LocateRequest, ServiceError> {
        Ok(LocateRequest {
            key: self.key,
            prefix: self.prefix,
            limit: self.limit,
            cursor: self.cursor,
        })
    }

    async fn call(s: &Service, c: &Caller, r: LocateRequest, _: Option<&dyn Progress>) -> Outcome {
        Ok(structured(&LocateResult::from(s.locate(c, r).await?)))
    }
}

/// What a model reads about `locate`.
pub const ABOUT: &str = "Where `key` (or each object under `prefix`) is stored: per copy \
the store, region, country (verified or attested) and wrapping key. Example: \
{\"key\":\"a.txt\"}";

/// `locate` result: one residency receipt per object.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LocateResult {
    receipts: Vec<ReceiptItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Where one object is.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReceiptItem {
    key: String,
    size: u64,
    written: String,
    copies: Vec<CopyItem>,
}

/// One copy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CopyItem {
    store: String,
    provider: String,
    region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<String>,
    country: String,
    attested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_jurisdiction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_host: Option<String>,
    key_provider: String,
    kek_id: String,
    algorithm: String,
    stored_size: u64,
}

impl From<Located> for LocateResult {
    fn from(l: Located) -> Self {
        Self {
            receipts: l.receipts.into_iter().map(ReceiptItem::from).collect(),
            next_cursor: l.next_cursor,
        }
    }
}

impl From<Receipt> for ReceiptItem {
    fn from(r: Receipt) -> Self {
        Self {
            key: r.key,
            size: r.size,
            written: time::format(r.written),
            copies: r.copies.into_iter().map(CopyItem::from).collect(),
        }
    }
}

impl From<CopyReceipt> for CopyItem {
    fn from(c: CopyReceipt) -> Self {
        Self {
            store: c.store,
            provider: c.provider,
            region: c.region,
            city: c.city,
            country: c.country,
            attested: c.attested,
            owner_jurisdiction: c.owner_jurisdiction,
            endpoint_host: c.endpoint_host,
            key_provider: c.key_provider,
            kek_id: c.kek_id,
            algorithm: c.algorithm,
            stored_size: c.stored_size,
        }
    }
}
