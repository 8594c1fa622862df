//! One audit record: what was done, by whom (pseudonymised), where, and with what result.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a record announces an operation or reports its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Written before a write, delete or presign; the operation does not start without it.
    Intent,
    /// Written when a call ends, allowed or denied.
    Outcome,
}

/// A record as stored: one JSON object per line, hash-chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    /// Position in this instance's chain, from 1.
    pub seq: u64,
    /// Name of the chain (one per server instance).
    pub chain: String,
    /// RFC 3339 UTC time.
    pub time: String,
    /// Request id shared by the intent and outcome records of one call.
    pub request_id: String,
    /// `intent` or `outcome`.
    pub phase: Phase,
    /// Tool or event name (`put`, `get`, ..., `startup`).
    pub tool: String,
    /// Keyed pseudonym of the tenant (HMAC-SHA256, truncated), never the tenant id itself.
    pub tenant: String,
    /// Keyed pseudonym of the object key, so records about one object can be linked without
    /// revealing its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Keyed pseudonym of the caller within the tenant (an OAuth token's issuer and subject),
    /// so one person's calls can be linked without naming them; absent for static tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Plaintext size involved, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Store name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Region id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO country of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// `allow` or `deny`.
    pub decision: String,
    /// Stable result code (`OK` or an error code).
    pub code: String,
    /// Duration of the call in microseconds (outcome records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// The break-glass override grant(s) the call ran under (`gr_...` ids, comma-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// Hex SHA-256 of the previous record's line (zeros for the first).
    pub prev: String,
    /// On checkpoint records (`tool` = `checkpoint`): HMAC-SHA256 with the audit checkpoint key
    /// over chain, `seq` and `prev`, so that the head of the chain can be authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}
