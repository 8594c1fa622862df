//! The MCP face of the service: tool schemas, descriptions, annotations and results.
//! This is the only module that imports rmcp's model types.

mod result;
mod schemas;
mod server;

pub use schemas::tool_schemas;
pub use server::{BitAtlasMcp, Identity};
