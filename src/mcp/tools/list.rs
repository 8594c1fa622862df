//! `list`: page through a folder.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Args;
use crate::mcp::result::structured;
use crate::mcp::{BitAtlasMcp, schemas, time};
use crate::service::{IndexedObject, Limits, ListRequest, Page, ServiceError, Tool};

/// `list` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Folder: `a` and `a/` both list keys under `a/`, never `a-b/...`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only direct children; sub-folders come back in `prefixes`.
    #[serde(default)]
    pub delimiter: Option<bool>,
    /// Page size 1-1000 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl Args for ListArgs {
    const TOOL: Tool = Tool::List;
    type Request = ListRequest;
    fn into_request(self, _: &Limits) -> Result<ListRequest, ServiceError> {
        Ok(ListRequest {
            prefix: self.prefix,
            delimiter: self.delimiter.unwrap_or(false),
            limit: self.limit,
            cursor: self.cursor,
        })
    }
}

/// One object in a listing.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Listed {
    key: String,
    size: u64,
    last_modified: String,
}

impl From<IndexedObject> for Listed {
    fn from(o: IndexedObject) -> Self {
        Self {
            key: o.key,
            size: o.size,
            last_modified: time::format(o.last_modified),
        }
    }
}

/// `list` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListResult {
    objects: Vec<Listed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefixes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl From<Page> for ListResult {
    fn from(p: Page) -> Self {
        Self {
            objects: p.objects.into_iter().map(Listed::from).collect(),
            prefixes: p.prefixes,
            next_cursor: p.next_cursor,
        }
    }
}

#[tool_router(router = list_router, vis = "pub(super)")]
impl BitAtlasMcp {
    #[tool(
        name = "list",
        description = "List a folder, sorted by key. Pass `next_cursor` back as `cursor` for \
the next page. Example: {\"prefix\":\"notes\",\"delimiter\":true}",
        annotations(
            title = "List objects",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = schemas::input::<ListArgs>(),
        output_schema = schemas::output::<ListResult>()
    )]
    async fn list(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.handle::<ListArgs>(&ctx, args, async |service, caller, request| {
            let page = service.list(caller, request).await?;
            Ok(structured(&ListResult::from(page)))
        })
        .await
    }
}
