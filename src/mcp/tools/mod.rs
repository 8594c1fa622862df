//! One file per tool: its arguments and result as they look on the wire, how they convert
//! to and from the service's plain values, and its handler (description, annotations).
//! Adding a tool: a service method, a file here, a line in `server.rs`'s router.

mod delete;
mod get;
mod list;
mod presign;
mod put;
mod search;

use serde::de::DeserializeOwned;

use crate::service::{Limits, ServiceError, Tool};

/// A tool's wire arguments.
pub trait Args: DeserializeOwned {
    /// The tool they are for.
    const TOOL: Tool;
    /// The service request they become.
    type Request;
    /// Converts to the service request; a failure here is an argument error.
    fn into_request(self, limits: &Limits) -> Result<Self::Request, ServiceError>;
}

/// Every tool's router, in `tools/list` order.
pub fn routers() -> rmcp::handler::server::router::tool::ToolRouter<super::BitAtlasMcp> {
    use super::BitAtlasMcp as S;
    S::put_router()
        + S::get_router()
        + S::delete_router()
        + S::list_router()
        + S::search_router()
        + S::presign_router()
}
