//! MCP over stdio: stdout carries only MCP messages; logs go to stderr.

use rmcp::ServiceExt;

use crate::mcp::{BitAtlasMcp, Identity};
use crate::service::Service;

/// Serves one MCP session on stdin/stdout until the client closes it or a signal arrives.
///
/// When stdin and stdout are pipes (how MCP clients start servers), they are read and written
/// through the runtime's I/O driver on private non-blocking descriptors instead of a blocking
/// thread per operation: one thread hand-off less on each side of every call.
pub async fn serve_stdio(service: Service, tenant: String) -> anyhow::Result<()> {
    // Installed before the handshake, so that a signal from here on stops gracefully.
    let stop = super::shutdown_signal();
    let server = BitAtlasMcp::new(service, Identity::Fixed(tenant));
    let running = server.serve(rmcp::transport::stdio_pipes()).await?;
    let cancel = running.cancellation_token();
    tokio::select! {
        result = running.waiting() => { result?; }
        _ = stop => { cancel.cancel(); }
    }
    Ok(())
}
