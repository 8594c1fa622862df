//! `put`: store text or base64.

use std::collections::BTreeMap;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Args;
use crate::mcp::result::structured;
use crate::mcp::{BitAtlasMcp, payload, schemas};
use crate::residency::Placement;
use crate::service::{Limits, PutRequest, ServiceError, Stored, Tool};

/// `put` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutArgs {
    /// Object key, e.g. `docs/a.txt`: 1-1024 bytes of NFC text, no empty, `.` or `..` segment.
    pub key: String,
    /// UTF-8 text. Give exactly one of `text` or `base64`.
    #[serde(default)]
    pub text: Option<String>,
    /// Binary, standard base64.
    #[serde(default)]
    pub base64: Option<String>,
    /// MIME type (default: text/plain or application/octet-stream).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Searchable string map: up to 32 names of A-Za-z0-9-_., values up to 1 KiB, 12 KiB in all.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl Args for PutArgs {
    const TOOL: Tool = Tool::Put;
    type Request = PutRequest;
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
}

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

#[tool_router(router = put_router, vis = "pub(super)")]
impl BitAtlasMcp {
    #[tool(
        name = "put",
        description = "Store an object (encrypted, in EEA storage), replacing any under the \
same key. Returns its size and where it is stored. Example: \
{\"key\":\"notes/a.txt\",\"text\":\"hello\"}",
        annotations(
            title = "Store object",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = schemas::input::<PutArgs>(),
        output_schema = schemas::output::<PutResult>()
    )]
    async fn put(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.handle::<PutArgs>(&ctx, args, async |service, caller, request| {
            let stored = service.put(caller, request).await?;
            Ok(structured(&PutResult::from(stored)))
        })
        .await
    }
}
