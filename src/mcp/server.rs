//! The MCP server type over one [`Service`]. It knows nothing about transports; the
//! transport tells it how to find the caller's tenant.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, Implementation, JsonObject, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool_handler};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::result::failure;
use super::tools::{self, Args};
use super::{complete, prompts, resources};
use crate::service::{Caller, ErrorCode, Limits, Service, ServiceError, Tool};

/// The tools, built once: over stateless HTTP a server value is made per request, and the
/// schemas are worth computing only once.
static ROUTER: std::sync::LazyLock<ToolRouter<BitAtlasMcp>> =
    std::sync::LazyLock::new(tools::router);

/// How the server learns who is calling.
#[derive(Debug, Clone)]
pub enum Identity {
    /// One tenant for the whole connection (stdio).
    Fixed(String),
    /// The HTTP transport authenticated the request and put a [`Caller`] into its extensions.
    FromHttpRequest,
}

/// The MCP server.
#[derive(Clone)]
pub struct BitAtlasMcp {
    pub(super) service: Service,
    identity: Identity,
    tool_router: ToolRouter<Self>,
    /// The level set by `logging/setLevel` on this session; no log messages before one.
    log_level: Arc<Mutex<Option<Level>>>,
}

// Logging is deprecated from the 2026-07-28 revision on; clients of 2025-11-25 still use it.
#[allow(deprecated)]
type Level = rmcp::model::LoggingLevel;

/// The rank of a level, `debug` lowest (the protocol's order; the type has none).
#[allow(deprecated)]
fn severity(level: Level) -> u8 {
    match level {
        Level::Debug => 0,
        Level::Info => 1,
        Level::Notice => 2,
        Level::Warning => 3,
        Level::Error => 4,
        Level::Critical => 5,
        Level::Alert => 6,
        Level::Emergency => 7,
    }
}

/// A service error as a JSON-RPC error (for the methods that are not tool calls): the code in
/// the message and in `data`, a missing object as resource-not-found (rmcp maps it to the
/// negotiated revision's code).
fn rpc_error(e: ServiceError) -> rmcp::ErrorData {
    let message = format!("{}: {}", e.code.as_str(), e.message);
    let data = Some(serde_json::json!({"code": e.code.as_str()}));
    match e.code {
        ErrorCode::NotFound => rmcp::ErrorData::resource_not_found(message, data),
        ErrorCode::InvalidArgument | ErrorCode::InvalidKey | ErrorCode::TooLarge => {
            rmcp::ErrorData::invalid_params(message, data)
        }
        ErrorCode::Unauthorized | ErrorCode::ToolDisabled => {
            rmcp::ErrorData::invalid_request(message, data)
        }
        _ => rmcp::ErrorData::internal_error(message, data),
    }
}

/// The server's icon (assets/icon.svg) as a data URI, so that no client fetches anything.
fn icon() -> rmcp::model::Icon {
    use base64::Engine;
    static URI: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let svg = include_str!("../../assets/icon.svg");
        format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        )
    });
    rmcp::model::Icon::new(URI.as_str())
        .with_mime_type("image/svg+xml")
        .with_sizes(vec!["any".into()])
}

/// Tools, resources, prompts, completions and logging.
// `enable_logging` is deprecated with logging itself (see `Level`).
#[allow(deprecated)]
fn capabilities() -> ServerCapabilities {
    ServerCapabilities::builder()
        .enable_tools()
        .enable_resources()
        .enable_prompts()
        .enable_completions()
        .enable_logging()
        .build()
}

/// Said once here rather than in every tool description: what the server is, its limits
/// and how its errors read.
fn instructions(limits: &Limits) -> String {
    format!(
        "BitAtlas stores objects in EU/EEA object storage, encrypted before they leave this \
server; every call is audited. Keys look like `folder/name.ext`. `put` stores text or base64, \
`get` reads, `list` browses folders, `search` finds by key glob, metadata, content type or \
time, `delete` removes, `presign` makes a time-limited URL for the sealed object. Payloads \
travel inline up to {} bytes per call (TOO_LARGE beyond: read a `range`). A failed call has \
isError and text `CODE: message` with a stable code: INVALID_KEY, INVALID_ARGUMENT, \
INVALID_RANGE, NOT_FOUND, TOO_LARGE, UNSUPPORTED, INTEGRITY_FAILURE (stored object altered; \
nothing returned), AUDIT_UNAVAILABLE, STORAGE_UNAVAILABLE, STORAGE_FULL (no room; nothing written), \
UNAUTHORIZED, TOOL_DISABLED (not in this server's tool profile; nothing done), \
INSUFFICIENT_SCOPE (the access token's scopes do not allow the tool; nothing done), \
CONFIRMATION_DECLINED / CONFIRMATION_REQUIRED (a delete or overwrite the person did not confirm, \
or this client cannot ask; nothing done), INTERNAL, or POLICY_* \
(refused by the residency policy).",
        limits.max_inline_bytes
    )
}

impl BitAtlasMcp {
    /// A server over `service`.
    pub fn new(service: Service, identity: Identity) -> Self {
        Self {
            service,
            identity,
            tool_router: ROUTER.clone(),
            log_level: Arc::default(),
        }
    }

    /// Tells the client, at `warning` and only if it asked for that level or a lower one
    /// (`logging/setLevel`, or the request's `_meta` log level),
    /// that a call failed: the tool and its code, never a key, a payload or a token.
    #[allow(deprecated)]
    async fn log_failure(&self, ctx: &RequestContext<RoleServer>, tool: Tool, code: &str) {
        // 2026-07-28 clients opt in per request in `_meta`; earlier ones by `setLevel`.
        let wanted = ctx
            .meta
            .log_level()
            .or_else(|| self.log_level.lock().ok().and_then(|l| *l));
        if wanted.is_some_and(|w| severity(w) <= severity(Level::Warning)) {
            let mut message = rmcp::model::LoggingMessageNotificationParam::new(
                Level::Warning,
                serde_json::json!({"tool": tool.name(), "code": code}),
            );
            message.logger = Some("bitatlas".into());
            let _ = ctx.peer.notify_logging_message(message).await;
        }
    }

    /// Every tool as advertised by `tools/list`.
    pub fn tools() -> Vec<rmcp::model::Tool> {
        ROUTER.list_all()
    }

    pub(super) fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, ServiceError> {
        match &self.identity {
            Identity::Fixed(tenant) => Ok(Caller::new(tenant.clone())),
            Identity::FromHttpRequest => ctx
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Caller>())
                .cloned()
                .ok_or_else(|| ServiceError::new(ErrorCode::Unauthorized, "not authenticated")),
        }
    }

    /// The whole life of a tool call on the MCP side: who is calling, arguments parsed and
    /// converted (a failure there is audited as a refused call, like every other), the
    /// service call, and any error as a tool result.
    pub(super) async fn handle<A: Args>(
        &self,
        tool: Tool,
        ctx: &RequestContext<RoleServer>,
        raw: JsonObject,
    ) -> CallToolResult {
        let outcome = self.run_tool::<A>(tool, ctx, raw).await;
        match outcome {
            Ok(result) => result,
            Err(e) => {
                self.log_failure(ctx, tool, e.code.as_str()).await;
                failure(&e)
            }
        }
    }

    async fn run_tool<A: Args>(
        &self,
        tool: Tool,
        ctx: &RequestContext<RoleServer>,
        raw: JsonObject,
    ) -> Result<CallToolResult, ServiceError> {
        let caller = self.caller(ctx)?;
        let key = raw.get("key").and_then(Value::as_str).map(str::to_owned);
        // A disabled tool is refused whatever its arguments.
        if let Some(e) = self.service.refuse_disabled(&caller, tool, key.as_deref()) {
            return Err(e);
        }
        let request = serde_json::from_value::<A>(Value::Object(raw))
            .map_err(argument_error)
            .and_then(|args| args.into_request(&self.service.limits()))
            .map_err(|e| self.service.reject(&caller, tool, key.as_deref(), e))?;
        let progress = super::progress::McpProgress::for_request(ctx);
        A::call(&self.service, &caller, request, Some(&progress)).await
    }
}

/// An argument error in the words serde found, minus any value the caller sent (which may be
/// their data): `invalid type: string "…", expected u64` becomes `invalid type: a string,
/// expected an integer`.
fn argument_error(e: serde_json::Error) -> ServiceError {
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    let message = match text.find(": string \"") {
        Some(at) => {
            let rest = &text[at + 9..];
            let tail = rest.rfind("\", ").map(|i| &rest[i + 1..]).unwrap_or("");
            format!("{}: a string{tail}", &text[..at])
        }
        None => text.to_owned(),
    };
    let message = message
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected u32", "expected a non-negative integer")
        .replace("`", "'");
    ServiceError::new(ErrorCode::InvalidArgument, message)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for BitAtlasMcp {
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        if let super::confirm::Gate::Answer(answer) = self.confirm_gate(&request, &context).await {
            return Ok(answer);
        }
        let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }

    async fn list_resources(
        &self,
        request: Option<rmcp::model::PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, rmcp::ErrorData> {
        let caller = self.caller(&context).map_err(rpc_error)?;
        let cursor = request.and_then(|r| r.cursor);
        resources::list(&self.service, &caller, cursor)
            .await
            .map_err(rpc_error)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, rmcp::ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, rmcp::ErrorData> {
        let caller = self.caller(&context).map_err(rpc_error)?;
        resources::read(&self.service, &caller, &request.uri)
            .await
            .map(Into::into)
            .map_err(rpc_error)
    }

    async fn list_prompts(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, rmcp::ErrorData> {
        Ok(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, rmcp::ErrorData> {
        let folder = request
            .arguments
            .as_ref()
            .and_then(|a| a.get(prompts::FOLDER_ARG))
            .and_then(Value::as_str);
        self.caller(&context)
            .and_then(|caller| prompts::get(&self.service, &caller, &request.name, folder))
            .map(Into::into)
            .map_err(|e| {
                rmcp::ErrorData::invalid_params(format!("{}: {}", e.code.as_str(), e.message), None)
            })
    }

    async fn complete(
        &self,
        request: rmcp::model::CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, rmcp::ErrorData> {
        match self.caller(&context) {
            Ok(caller) => Ok(complete::complete(&self.service, &caller, &request).await),
            Err(e) => Err(rpc_error(e)),
        }
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        if let Ok(mut level) = self.log_level.lock() {
            *level = Some(request.level);
        }
        Ok(())
    }

    /// The tools of the caller's profile (`--read-only`, `--tools`, the tenant's `tools`).
    async fn list_tools(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        let caller = self.caller(&context).ok();
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|t| {
                let tool = Tool::ALL.into_iter().find(|x| x.name() == t.name.as_ref());
                match (&caller, tool) {
                    (Some(caller), Some(tool)) => self.service.lists_tool(caller, tool),
                    _ => false,
                }
            })
            .collect();
        let hints = context
            .protocol_version()
            .is_some_and(|v| v >= rmcp::model::ProtocolVersion::V_2026_07_28);
        Ok(rmcp::model::ListToolsResult {
            result_type: Some(rmcp::model::ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            ttl_ms: hints.then_some(0),
            // The list depends on who asks.
            cache_scope: hints.then_some(rmcp::model::CacheScope::Private),
        })
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(capabilities())
            .with_server_info(
                Implementation::new("bitatlas", env!("CARGO_PKG_VERSION")).with_icons(vec![icon()]),
            )
            .with_instructions(instructions(&self.service.limits()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        key: String,
        limit: Option<u32>,
    }

    fn message(json: &str) -> String {
        argument_error(serde_json::from_str::<Probe>(json).unwrap_err()).message
    }

    #[test]
    fn argument_errors_name_the_problem_not_the_value() {
        assert!(message(r#"{"key":"a","path":"x"}"#).contains("unknown field 'path'"));
        assert!(message(r#"{}"#).contains("missing field 'key'"));
        let wrong = message(r#"{"key":"a","limit":"my secret"}"#);
        assert!(!wrong.contains("secret"), "{wrong}");
        assert!(wrong.contains("a string"), "{wrong}");
    }
}
