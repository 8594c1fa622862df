//! BitAtlas: an MCP server that stores objects sealed client-side, only inside the EEA.
//!
//! Layers (outermost first): [`transport`] -> [`mcp`] -> [`service`] ->
//! [`residency`] / [`crypto`] / [`audit`] / [`files`] -> adapters (`bitatlas-adapters`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod files;
pub mod mcp;
pub mod residency;
pub mod runtime;
pub mod service;
pub mod transport;
