//! The MCP server type: six tools over one [`Service`]. It knows nothing about transports;
//! the transport tells it how to find the caller's tenant.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};

use super::result::{failure, output_schema, success, success_with_text};
use crate::service::{
    Caller, DeleteInput, DeleteOutput, Encoding, ErrorCode, GetInput, GetOutput, ListInput,
    ListOutput, PresignInput, PresignOutput, PutInput, PutOutput, SearchInput, SearchOutput,
    Service, ServiceError,
};

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
    service: Service,
    identity: Identity,
    tool_router: ToolRouter<Self>,
}

const INSTRUCTIONS: &str = "BitAtlas stores objects for you in EU/EEA object storage. Every \
object is encrypted before it leaves this server and every call is audited. Use `put` to \
store text or base64 bytes under a key like `folder/name.ext`, `get` to read it back (use \
`range` for parts of large objects), `list` to browse folders, `search` to find objects by \
key glob or metadata, `delete` to remove, and `presign` for time-limited download URLs. \
Results of `put` say which country holds the data.";

impl BitAtlasMcp {
    /// A server over `service`.
    pub fn new(service: Service, identity: Identity) -> Self {
        Self {
            service,
            identity,
            tool_router: Self::tool_router(),
        }
    }

    /// Every tool as advertised by `tools/list`.
    pub fn tools() -> Vec<rmcp::model::Tool> {
        Self::tool_router().list_all()
    }

    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, ServiceError> {
        match &self.identity {
            Identity::Fixed(tenant) => Ok(Caller {
                tenant: tenant.clone(),
            }),
            Identity::FromHttpRequest => ctx
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Caller>())
                .cloned()
                .ok_or_else(|| ServiceError::new(ErrorCode::Unauthorized, "not authenticated")),
        }
    }
}

#[tool_router]
impl BitAtlasMcp {
    /// Store an object.
    #[tool(
        name = "put",
        description = "Store an object, encrypted, in EEA storage. Give `key` (e.g. \
`notes/2026/plan.md`; 1-1024 bytes, `/`-separated, no empty/`.`/`..` segments, no control \
characters) and exactly one of `text` (UTF-8) or `base64` (binary). Optional `content_type` \
and `metadata` (string map, up to 32 entries; searchable). Inline payloads are limited to 8 MiB \
by default (error TOO_LARGE). Overwrites an existing object with the same key. Returns the \
plaintext size and `stored` = {store, provider, region, country}. Example: \
{\"key\":\"notes/a.txt\",\"text\":\"hello\",\"metadata\":{\"project\":\"apollo\"}}",
        annotations(
            title = "Store object",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<PutOutput>()
    )]
    async fn put(
        &self,
        Parameters(input): Parameters<PutInput>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let result = match self.caller(&ctx) {
            Ok(caller) => self.service.put(&caller, input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => success(&out),
            Err(e) => failure(&e),
        }
    }

    /// Read an object.
    #[tool(
        name = "get",
        description = "Read an object by `key`. Returns `data` with `encoding` `utf8` for \
textual content types, else `base64`, plus `size`, `content_type` and `metadata`. For large \
objects pass `range` {start, end?} (end exclusive, byte offsets) to read a part; only that \
part is fetched and decrypted. Errors: NOT_FOUND, TOO_LARGE (use a range), \
INTEGRITY_FAILURE (the stored object was altered; nothing is returned). Example: \
{\"key\":\"notes/a.txt\"} or {\"key\":\"big.bin\",\"range\":{\"start\":0,\"end\":65536}}",
        annotations(
            title = "Read object",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<GetOutput>()
    )]
    async fn get(
        &self,
        Parameters(input): Parameters<GetInput>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let result = match self.caller(&ctx) {
            Ok(caller) => self.service.get(&caller, input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(out) if out.encoding == Encoding::Utf8 => {
                let text = out.data.clone();
                success_with_text(&out, text)
            }
            Ok(out) => success(&out),
            Err(e) => failure(&e),
        }
    }

    /// Delete an object.
    #[tool(
        name = "delete",
        description = "Delete the object at `key`. Idempotent: deleting a missing key \
succeeds with `deleted: false`. Example: {\"key\":\"notes/a.txt\"}",
        annotations(
            title = "Delete object",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<DeleteOutput>()
    )]
    async fn delete(
        &self,
        Parameters(input): Parameters<DeleteInput>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let result = match self.caller(&ctx) {
            Ok(caller) => self.service.delete(&caller, input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => success(&out),
            Err(e) => failure(&e),
        }
    }

    /// List objects.
    #[tool(
        name = "list",
        description = "List objects in a folder, sorted by key. `prefix` is a folder: `a` \
and `a/` both list keys under `a/` (never `a-b/...`); omit it for everything. With \
`delimiter: true` only direct children are listed and sub-folders come back in `prefixes`. \
`limit` 1-1000 (default 100); pass `next_cursor` back as `cursor` for the next page. \
Example: {\"prefix\":\"notes\",\"delimiter\":true}",
        annotations(
            title = "List objects",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<ListOutput>()
    )]
    async fn list(
        &self,
        Parameters(input): Parameters<ListInput>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let result = match self.caller(&ctx) {
            Ok(caller) => self.service.list(&caller, input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => success(&out),
            Err(e) => failure(&e),
        }
    }

    /// Search objects.
    #[tool(
        name = "search",
        description = "Find objects. All given filters must match: `prefix` (folder), \
`pattern` (glob on the whole key: `*` within a segment, `**` across segments, `?`, `[ab]`, \
`{x,y}`), `metadata` (exact values), `content_type` (exact), `modified_after` / \
`modified_before` (RFC 3339). Paginated like `list`. Returns keys with size, content type \
and metadata. Example: {\"pattern\":\"reports/**/*.pdf\",\"metadata\":{\"year\":\"2026\"}}",
        annotations(
            title = "Search objects",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<SearchOutput>()
    )]
    async fn search(
        &self,
        Parameters(input): Parameters<SearchInput>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let result = match self.caller(&ctx) {
            Ok(caller) => self.service.search(&caller, input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => success(&out),
            Err(e) => failure(&e),
        }
    }

    /// Presign a URL.
    #[tool(
        name = "presign",
        description = "Create a time-limited URL for the sealed (encrypted) object at `key` \
on the store's verified EEA endpoint. `method` GET downloads ciphertext that `bitatlas open \
--key KEY` decrypts; PUT (only when the tenant's policy allows it) uploads a file sealed with \
`bitatlas seal --key KEY`. `expires_in` seconds, default 900, max 3600. Local stores answer \
UNSUPPORTED. Example: {\"key\":\"videos/big.mp4\",\"method\":\"GET\"}",
        annotations(
            title = "Presign URL",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        ),
        output_schema = output_schema::<PresignOutput>()
    )]
    async fn presign(
        &self,
        Parameters(input): Parameters<PresignInput>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let result = match self.caller(&ctx) {
            Ok(caller) => self.service.presign(&caller, input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => success(&out),
            Err(e) => failure(&e),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for BitAtlasMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bitatlas", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}
