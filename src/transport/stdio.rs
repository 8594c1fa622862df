//! MCP over stdio: stdout carries only MCP messages; logs go to stderr.

use rmcp::ServiceExt;

use super::stdio_lines::{LineLimits, LineTransport};
use crate::mcp::{BitAtlasMcp, Identity};
use crate::service::Service;

/// Serves one MCP session on stdin/stdout until the client closes it or a signal arrives.
///
/// A request line longer than `max_line_bytes` is read past, not buffered, and answered with
/// a `TOO_LARGE` error (see [`LineTransport`]).
///
/// When stdin and stdout are pipes (how MCP clients start servers), they are read and written
/// through the runtime's I/O driver on private non-blocking descriptors instead of a blocking
/// thread per operation: one thread hand-off less on each side of every call.
pub async fn serve_stdio(
    service: Service,
    tenant: String,
    max_line_bytes: usize,
) -> anyhow::Result<()> {
    // Installed before the handshake, so that a signal from here on stops gracefully.
    let stop = super::shutdown_signal();
    let limits = LineLimits {
        max_line_bytes,
        max_inline_bytes: service.limits().max_inline_bytes,
    };
    let server = BitAtlasMcp::new(service, Identity::Fixed(tenant));
    let (read, write) = rmcp::transport::stdio_pipes();
    let running = server
        .serve(LineTransport::new(read, write, limits))
        .await?;
    let cancel = running.cancellation_token();
    tokio::select! {
        result = running.waiting() => { result?; }
        _ = stop => { cancel.cancel(); }
    }
    Ok(())
}
