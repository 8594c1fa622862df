//! The MCP face of the service: tool schemas, descriptions, annotations and results.
//! This is the only module that imports rmcp's model types.

mod result;
mod server;

pub use server::{BitAtlasMcp, Identity};
