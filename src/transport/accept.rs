//! The HTTP accept loop: bounded connections, a header-read deadline, graceful drain.
//!
//! Every connection holds one of [`ConnectionLimits::max_connections`] permits from accept to
//! close; at the cap the loop stops accepting, so further clients wait in the kernel's accept
//! queue instead of costing descriptors. A connection must deliver each request's complete
//! header within [`ConnectionLimits::header_read_timeout`], counted from when the server
//! starts waiting for it: at connection start and again after every response, so the same
//! deadline closes an idle keep-alive connection. Clients that trickle headers, or connect
//! and send nothing, are closed at the deadline and cannot pile up.
//!
//! Only HTTP/1.1 is served: hyper's HTTP/2 server has neither deadline (neither while it
//! reads the preface nor for an idle connection), and MCP clients and reverse proxies speak
//! HTTP/1.1 to an upstream.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Descriptors kept free for everything but client connections: store and audit files, the
/// keyrings, connections to S3 stores.
#[cfg_attr(not(unix), allow(dead_code))]
const RESERVED_DESCRIPTORS: u64 = 256;

/// How long the loop pauses after an accept error that is not about one connection (e.g. no
/// descriptor left), instead of spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);

/// Bounds on client connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Client connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request's header; also how long an idle keep-alive
    /// connection stays open.
    pub header_read_timeout: Duration,
    /// How long a shutdown waits for in-flight requests before closing their connections.
    pub drain_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// in-flight requests finish (idle connections close at once) for up to the drain timeout,
/// and closes what is left.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(connection_budget(limits.max_connections)));
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Finished connections are reaped as we go, so the set only holds open ones.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(e) => {
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "accepting an HTTP connection failed");
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY the last segment of a streamed response waits for the client's
        // delayed ACK: about 40 ms per call.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let conn = builder
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(router.clone()))
            .into_owned();
        let conn = graceful.watch(conn);
        connections.spawn(async move {
            if let Err(e) = conn.await {
                // Header deadlines, resets and malformed requests end up here.
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    if open > 0 {
        tracing::info!(connections = open, "draining HTTP connections");
    }
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "requests still running at the end of the drain; closing their connections"
        );
    }
    connections.shutdown().await;
}

/// Errors about one connection (it was reset before it was accepted): the next accept is fine.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}

/// `requested`, or fewer when the process's open-file limit could not hold that many
/// connections besides [`RESERVED_DESCRIPTORS`]; the soft limit is raised towards the hard
/// one first. Without this a flood of connections could still take the last descriptors,
/// and with them the audit trail's and the stores' files.
fn connection_budget(requested: usize) -> usize {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let needed = requested as u64 + RESERVED_DESCRIPTORS;
        let mut limit = getrlimit(Resource::Nofile);
        let Some(soft) = limit.current else {
            return requested; // unlimited
        };
        if soft < needed {
            let raised = limit.maximum.map_or(needed, |hard| hard.min(needed));
            limit.current = Some(raised);
            match setrlimit(Resource::Nofile, limit) {
                Ok(()) => {
                    tracing::info!(from = soft, to = raised, "raised the open-file limit");
                    if raised >= needed {
                        return requested;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
            }
            let have = getrlimit(Resource::Nofile).current.unwrap_or(soft);
            let budget = have.saturating_sub(RESERVED_DESCRIPTORS).max(1) as usize;
            if budget < requested {
                tracing::warn!(
                    max_connections = requested,
                    open_file_limit = have,
                    serving = budget,
                    "the open-file limit cannot hold max_connections; serving fewer"
                );
                return budget;
            }
        }
        requested
    }
    #[cfg(not(unix))]
    {
        requested
    }
}
