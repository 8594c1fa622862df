//! The MCP face of the service: tool schemas, descriptions, annotations, wire encodings and
//! results. This is the only module that imports rmcp's model types.

mod complete;
mod confirm;
mod payload;
mod progress;
mod prompts;
mod resources;
mod result;
mod schemas;
mod server;
mod time;
mod tools;

pub use schemas::tool_schemas;
pub use server::{BitAtlasMcp, Identity};
