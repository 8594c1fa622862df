//! `delete`: idempotent removal.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Args;
use crate::mcp::result::structured;
use crate::mcp::{BitAtlasMcp, schemas};
use crate::service::{Deleted, Limits, ServiceError, Tool};

/// `delete` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// Object key.
    pub key: String,
}

impl Args for DeleteArgs {
    const TOOL: Tool = Tool::Delete;
    type Request = String;
    fn into_request(self, _: &Limits) -> Result<String, ServiceError> {
        Ok(self.key)
    }
}

/// `delete` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteResult {
    key: String,
    deleted: bool,
}

impl From<Deleted> for DeleteResult {
    fn from(d: Deleted) -> Self {
        Self {
            key: d.key,
            deleted: d.deleted,
        }
    }
}

#[tool_router(router = delete_router, vis = "pub(super)")]
impl BitAtlasMcp {
    #[tool(
        name = "delete",
        description = "Delete the object at `key`. Idempotent: a missing key gives \
`deleted: false`. Example: {\"key\":\"notes/a.txt\"}",
        annotations(
            title = "Delete object",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = schemas::input::<DeleteArgs>(),
        output_schema = schemas::output::<DeleteResult>()
    )]
    async fn delete(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.handle::<DeleteArgs>(&ctx, args, async |service, caller, key| {
            let deleted = service.delete(caller, &key).await?;
            Ok(structured(&DeleteResult::from(deleted)))
        })
        .await
    }
}
