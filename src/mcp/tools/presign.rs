//! `presign`: a time-limited URL for the sealed object on the store's verified endpoint.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Args;
use crate::mcp::result::structured;
use crate::mcp::{BitAtlasMcp, schemas, time};
use crate::service::{Limits, PresignMethod, PresignRequest, Presigned, ServiceError, Tool};

/// HTTP method of a presigned URL.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
pub enum UrlMethod {
    /// Download.
    #[serde(rename = "GET")]
    Get,
    /// Upload (when the policy allows it).
    #[serde(rename = "PUT")]
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
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl Args for PresignArgs {
    const TOOL: Tool = Tool::Presign;
    type Request = PresignRequest;
    fn into_request(self, _: &Limits) -> Result<PresignRequest, ServiceError> {
        Ok(PresignRequest {
            key: self.key,
            method: self.method.into(),
            expires_in: self.expires_in,
        })
    }
}

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

#[tool_router(router = presign_router, vis = "pub(super)")]
impl BitAtlasMcp {
    // Not read-only: a PUT URL lets its holder replace the object.
    #[tool(
        name = "presign",
        description = "Time-limited URL on the S3 store's verified endpoint for the sealed \
object: GET downloads it for `bitatlas open`, PUT uploads a `bitatlas seal` file. Example: \
{\"key\":\"a.mp4\",\"method\":\"GET\"}",
        annotations(
            title = "Presign URL",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        ),
        input_schema = schemas::input::<PresignArgs>(),
        output_schema = schemas::output::<PresignResult>()
    )]
    async fn presign(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.handle::<PresignArgs>(&ctx, args, async |service, caller, request| {
            let url = service.presign(caller, request).await?;
            Ok(structured(&PresignResult::from(url)))
        })
        .await
    }
}
