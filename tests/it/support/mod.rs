//! Helpers shared by the integration tests: the `bitatlas` binary as a process ([`bin`],
//! [`server`]), `bitatlas.toml` text ([`config`]), MCP clients over HTTP ([`http`]) and stdio
//! ([`stdio`]), envelope fixtures ([`envelope`]) and real Garage nodes ([`garage`]). Every
//! child process starts through [`spawn`].

// Not every test uses every helper.
#![allow(dead_code)]

pub mod bin;
pub mod config;
pub mod envelope;
pub mod garage;
pub mod http;
pub mod server;
pub mod spawn;
pub mod stdio;

/// A loopback TCP port nothing listens on right now (the listener that found it is closed).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
