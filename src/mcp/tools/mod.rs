//! One file per tool: its arguments and result as they look on the wire, how they convert to
//! and from the service's plain values, and what a model reads about it. [`router`] lists them.
//! Adding a tool: a service method (and its [`Tool`] variant), a file here, a line in
//! [`router`].

mod delete;
mod get;
mod list;
mod locate;
mod presign;
mod put;
mod restore;
mod search;
mod transfer;
mod versions;

use std::future::Future;

use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResult, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::{BitAtlasMcp, schemas};
use crate::service::{Caller, Limits, Progress, Service, ServiceError, Tool};

/// What a tool call ends in: a tool result, or an error to report as one.
pub type Outcome = Result<CallToolResult, ServiceError>;

/// A tool's wire arguments: what they become, and the call they make.
pub trait Args: DeserializeOwned + JsonSchema + Send + 'static {
    /// The service request they become.
    type Request: Send;
    /// The result as it is written (for the output schema).
    type Output: JsonSchema + 'static;
    /// Converts to the service request; a failure here is an argument error.
    fn into_request(self, limits: &Limits) -> Result<Self::Request, ServiceError>;
    /// Runs the request and turns the result into a tool result; long calls report to
    /// `progress` when the client asked for it.
    fn call(
        service: &Service,
        caller: &Caller,
        request: Self::Request,
        progress: Option<&dyn Progress>,
    ) -> impl Future<Output = Outcome> + Send;
}

/// What a call may do, as annotations tell clients (true for every argument combination).
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Reads only.
    Reads,
    /// Replaces or removes stored objects; repeating the call changes nothing more.
    Writes,
    /// Hands out a credential that may write, reaching outside the server.
    HandsOutUrls,
}

impl Effect {
    fn annotations(self, title: &str) -> ToolAnnotations {
        let (read_only, idempotent, open_world) = match self {
            Effect::Reads => (true, true, false),
            Effect::Writes => (false, true, false),
            Effect::HandsOutUrls => (false, false, true),
        };
        // Hints equal to the protocol's defaults (destructive, not idempotent, open world) are
        // left out where they add nothing, except `readOnlyHint`, which is always said.
        let mut a = ToolAnnotations::with_title(title).read_only(read_only);
        if !read_only {
            a = a.destructive(true);
        }
        if idempotent {
            a = a.idempotent(true);
        }
        if !open_world {
            a = a.open_world(false);
        }
        a
    }
}

/// One tool: how `tools/list` shows it, and its call through [`BitAtlasMcp::handle`].
fn route<A: Args>(
    tool: Tool,
    title: &str,
    effect: Effect,
    about: &'static str,
) -> ToolRoute<BitAtlasMcp> {
    let listed = rmcp::model::Tool::new(tool.name(), about, schemas::input::<A>())
        .with_raw_output_schema(schemas::output::<A::Output>())
        .with_annotations(effect.annotations(title));
    ToolRoute::new_dyn(listed, move |ctx: ToolCallContext<'_, BitAtlasMcp>| {
        Box::pin(async move {
            let args = ctx.arguments.unwrap_or_default();
            let result = ctx
                .service
                .handle::<A>(tool, &ctx.request_context, args)
                .await;
            Ok(result.into())
        })
    })
}

/// Every tool.
pub fn router() -> ToolRouter<BitAtlasMcp> {
    use Effect::*;
    let mut router = ToolRouter::new();
    for route in [
        route::<put::PutArgs>(Tool::Put, "Store object", Writes, put::ABOUT),
        route::<get::GetArgs>(Tool::Get, "Read object", Reads, get::ABOUT),
        route::<delete::DeleteArgs>(Tool::Delete, "Delete object", Writes, delete::ABOUT),
        route::<list::ListArgs>(Tool::List, "List objects", Reads, list::ABOUT),
        route::<search::SearchArgs>(Tool::Search, "Search objects", Reads, search::ABOUT),
        route::<presign::PresignArgs>(Tool::Presign, "Presign URL", HandsOutUrls, presign::ABOUT),
        route::<transfer::TransferArgs>(
            Tool::Transfer,
            "Transfer link",
            HandsOutUrls,
            transfer::ABOUT,
        ),
        route::<locate::LocateArgs>(Tool::Locate, "Locate object", Reads, locate::ABOUT),
        route::<versions::VersionsArgs>(Tool::Versions, "Kept versions", Reads, versions::ABOUT),
        route::<restore::RestoreArgs>(Tool::Restore, "Restore version", Writes, restore::ABOUT),
    ] {
        router.add_route(route);
    }
    router
}
