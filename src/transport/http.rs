//! MCP over streamable HTTP at `/mcp`, plus `/healthz`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio_util::sync::CancellationToken;

use crate::mcp::{BitAtlasMcp, Identity};
use crate::service::{Caller, Service};

/// HTTP transport settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Tenant served to unauthenticated loopback clients.
    pub default_tenant: String,
    /// Browser origins allowed to call the endpoint (requests without Origin always pass).
    pub allowed_origins: Vec<String>,
}

/// Serves until a shutdown signal, draining in-flight requests.
pub async fn serve_http(service: Service, opts: HttpOptions) -> anyhow::Result<()> {
    if !opts.addr.ip().is_loopback() {
        anyhow::bail!(
            "refusing to bind {} without authentication: bind a loopback address",
            opts.addr
        );
    }
    let ct = CancellationToken::new();
    // Base64 inflates by 4/3; leave room for the JSON-RPC envelope.
    let body_cap = (service.limits().max_inline_bytes as usize / 3 + 1) * 4 + 256 * 1024;
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"])
        .with_allowed_origins(opts.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(body_cap)
        .with_cancellation_token(ct.child_token());
    let mcp_service = {
        let service = service.clone();
        StreamableHttpService::new(
            move || Ok(BitAtlasMcp::new(service.clone(), Identity::FromHttpRequest)),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    };
    let tenant = Arc::new(opts.default_tenant.clone());
    let router = Router::new()
        .nest_service("/mcp", mcp_service)
        .layer(middleware::from_fn(move |req, next| {
            let tenant = Arc::clone(&tenant);
            identify(tenant, req, next)
        }))
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(opts.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving MCP over HTTP at /mcp");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            super::shutdown_signal().await;
            ct.cancel();
        })
        .await?;
    Ok(())
}

/// Without configured tokens every loopback request is the default tenant.
async fn identify(tenant: Arc<String>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Caller {
        tenant: tenant.as_ref().clone(),
    });
    next.run(req).await.into_response()
}
