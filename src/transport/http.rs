//! MCP over streamable HTTP at `/mcp`, plus `/healthz`, `/readyz` and `/metrics`.
//!
//! Every `/mcp` request passes, in order: the boundary checks of `super::boundary` (request
//! target, path, Host and Origin: 400/404/403), authentication ([`Authenticator`], 401), the
//! tenant's rate limit and in-flight cap (429), the body checks (size 413, JSON-RPC shape 400),
//! then rmcp's own checks and the request timeout (504).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use http::{HeaderValue, StatusCode, header};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::accept::{self, ConnectionLimits};
use super::auth::Authenticator;
use super::boundary::json_error;
use super::boundary::{self, Boundary};
use super::json_reply;
use super::limits::{Admission, Refusal, TenantLimits};
use super::oauth::{self, OAuth};
use super::sessions::{Bound, SESSION_HEADER, SessionLimits, Sessions};
use super::transfer::{self, TransferState};
use crate::mcp::{BitAtlasMcp, Identity};
use crate::service::Service;

/// Host names always accepted on a loopback bind.
const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "127.0.0.1", "::1", "[::1]"];

/// Says why the server cannot serve right now (e.g. a tenant's home store stopped
/// answering), or `None` when it can. `/readyz` answers 503 with that reason.
pub type ReadinessCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// HTTP transport settings.
#[derive(Clone)]
pub struct HttpOptions {
    /// Who is calling.
    pub authenticator: Arc<dyn Authenticator>,
    /// Browser origins allowed to call the endpoint (requests without Origin always pass).
    pub allowed_origins: Vec<String>,
    /// `Host` header values accepted besides the loopback names (on a loopback bind).
    pub allowed_hosts: Vec<String>,
    /// Per-tenant rate and concurrency limits.
    pub limits: TenantLimits,
    /// Longest time to produce a response.
    pub request_timeout: Duration,
    /// Readiness beyond the audit sink (`/readyz`).
    pub readiness: Option<ReadinessCheck>,
    /// The address clients reach this server at (`https://mcp.example.eu`), for transfer
    /// links; on a loopback bind the bound address serves when it is absent.
    pub public_url: Option<String>,
    /// Client connections: how many, how long a header may take, how long a shutdown drains.
    pub connections: ConnectionLimits,
    /// Sessions (protocol 2025-11-25): how many per tenant, and their idle expiry.
    pub sessions: SessionLimits,
    /// OAuth access tokens besides the static ones, when `[oauth]` names issuers.
    pub oauth: Option<Arc<OAuth>>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("authenticated", &self.authenticator.requires_credentials())
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("limits", &self.limits)
            .field("request_timeout", &self.request_timeout)
            .field("connections", &self.connections)
            .field("sessions", &self.sessions)
            .finish()
    }
}

/// A listening socket that passed [`check_bind`]: the only thing [`serve_http`] serves on.
#[derive(Debug)]
pub struct HttpListener {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl HttpListener {
    /// The address actually bound (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Checks the exposure rules ([`check_bind`]) and binds `addr`. Called before anything is
/// announced, so that a taken port fails before a "serving" line is printed.
pub async fn bind_http(
    addr: SocketAddr,
    tokens_configured: bool,
    allowed_hosts: &[String],
) -> anyhow::Result<HttpListener> {
    check_bind(addr, tokens_configured, allowed_hosts)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr()?;
    Ok(HttpListener { listener, addr })
}

/// Refuses bind set-ups that would expose the store: a non-loopback address needs
/// configured tokens and at least one allowed `Host` value.
fn check_bind(
    addr: SocketAddr,
    tokens_configured: bool,
    allowed_hosts: &[String],
) -> anyhow::Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !tokens_configured {
        anyhow::bail!(
            "refusing to bind {addr} without authentication: bind a loopback address, or give \
             tenants bearer tokens (`bitatlas tokens create --tenant NAME`)"
        );
    }
    if allowed_hosts.iter().all(|h| h.trim().is_empty()) {
        anyhow::bail!(
            "refusing to bind {addr} without Host checking: pass --allowed-host NAME (the name \
             clients use, e.g. mcp.example.com) or set [http] allowed_hosts"
        );
    }
    Ok(())
}

/// State shared by the `/mcp` gate.
struct Gate {
    service: Service,
    auth: Arc<dyn Authenticator>,
    oauth: Option<Arc<OAuth>>,
    body_cap: usize,
    admission: Arc<Admission>,
    timeout: Duration,
    sessions: Arc<Sessions>,
}

/// Serves on `listener` (bound by [`bind_http`], which checked the exposure rules) until a
/// shutdown signal, draining in-flight requests.
pub async fn serve_http(
    service: Service,
    listener: HttpListener,
    opts: HttpOptions,
) -> anyhow::Result<()> {
    // The bind was checked against the token configuration; the authenticator must agree.
    if !listener.addr.ip().is_loopback() && !opts.authenticator.requires_credentials() {
        anyhow::bail!("refusing to serve {} without authentication", listener.addr);
    }
    // Installed now, so that a signal from here on stops the server gracefully.
    let shutdown = super::shutdown_signal();
    let ct = CancellationToken::new();
    // Base64 inflates by 4/3; leave room for the JSON-RPC envelope.
    let max_inline_bytes = service.limits().max_inline_bytes;
    let body_cap = (max_inline_bytes as usize / 3 + 1) * 4 + 256 * 1024;
    let mut hosts: Vec<String> = opts.allowed_hosts.clone();
    if listener.addr.ip().is_loopback() {
        hosts.extend(LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()));
    }
    let boundary = Arc::new(Boundary::new(&hosts, &opts.allowed_origins)?);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(boundary.rmcp_origins())
        .enforce_origin_validation()
        .with_max_request_body_bytes(body_cap)
        // Stateless (2026-07-28) answers are one JSON body where nothing else precedes them;
        // legacy sessions get the same from the gate (`json_reply`).
        .with_json_response(true)
        .with_cancellation_token(ct.child_token());
    let sessions = Sessions::new(opts.sessions);
    let sweeper = sessions.spawn_sweeper();
    let mcp_service = {
        let service = service.clone();
        StreamableHttpService::new(
            move || Ok(BitAtlasMcp::new(service.clone(), Identity::FromHttpRequest)),
            sessions.manager(),
            config,
        )
    };
    let admission = Arc::new(Admission::new(opts.limits));
    if let Some(base) = link_base(opts.public_url.as_deref(), listener.addr)? {
        service.set_link_base(base);
    }
    let transfers = transfer::router(Arc::new(TransferState {
        service: service.clone(),
        admission: Arc::clone(&admission),
    }));
    let gate = Arc::new(Gate {
        service: service.clone(),
        auth: Arc::clone(&opts.authenticator),
        oauth: opts.oauth.clone(),
        body_cap,
        admission,
        timeout: opts.request_timeout,
        sessions,
    });
    let accepting = Arc::new(AtomicBool::new(true));
    let mcp = Router::new()
        .nest_service("/mcp", mcp_service)
        .layer(middleware::from_fn(move |req, next| {
            boundary::check_body(body_cap, max_inline_bytes, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            let gate = Arc::clone(&gate);
            mcp_gate(gate, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            boundary::check_request(Arc::clone(&boundary), req, next)
        }));
    let ready_service = service.clone();
    let ready_flag = Arc::clone(&accepting);
    let readiness = opts.readiness.clone();
    let metrics_service = service.clone();
    let mut router = mcp.merge(transfers);
    if let Some(oauth) = &opts.oauth {
        router = router.merge(oauth::gate::metadata_routes(Arc::clone(oauth)));
    }
    let router = router
        // Any other path (`/mcp/x` included) is the JSON 404 the `/mcp` boundary gives.
        .fallback(|| async {
            json_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such endpoint; MCP is served at /mcp",
            )
        })
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/readyz",
            axum::routing::get(move || {
                let service = ready_service.clone();
                let flag = Arc::clone(&ready_flag);
                let readiness = readiness.clone();
                async move { readyz(&service, &flag, readiness.as_deref()) }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || {
                let service = metrics_service.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        service.metrics_text(),
                    )
                }
            }),
        );
    let HttpListener { listener, addr } = listener;
    tracing::info!(
        %addr,
        authenticated = opts.authenticator.requires_credentials(),
        "serving MCP over HTTP at /mcp"
    );
    accept::serve_connections(listener, router, opts.connections, async move {
        shutdown.await;
        accepting.store(false, Ordering::SeqCst);
        ct.cancel();
    })
    .await;
    sweeper.abort();
    Ok(())
}

/// Where transfer links point: the configured public URL, else the bound address when it is
/// loopback (reachable only from this machine, like the server); `None` when neither applies.
/// A public URL must be a plain `http`/`https` URL: no user info, query or fragment.
fn link_base(public_url: Option<&str>, addr: SocketAddr) -> anyhow::Result<Option<String>> {
    let Some(raw) = public_url else {
        return Ok(addr.ip().is_loopback().then(|| format!("http://{addr}")));
    };
    let url = url::Url::parse(raw)
        .map_err(|e| anyhow::anyhow!("[http] public_url `{raw}` is not a URL: {e}"))?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        anyhow::bail!(
            "[http] public_url `{raw}` must be an http(s) URL with a host and no user info, \
             query or fragment"
        );
    }
    Ok(Some(url.as_str().trim_end_matches('/').to_owned()))
}

fn readyz(
    service: &Service,
    accepting: &AtomicBool,
    readiness: Option<&(dyn Fn() -> Option<String> + Send + Sync)>,
) -> Response {
    // The service only exists once every store passed the residency guard at start-up.
    if !accepting.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    if !service.audit_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "audit sink unavailable\n").into_response();
    }
    if let Some(why) = readiness.and_then(|check| check()) {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

/// Authentication, admission control and the timeout for one `/mcp` request.
async fn mcp_gate(gate: Arc<Gate>, mut req: Request, next: Next) -> Response {
    let oauth = gate.oauth.as_deref();
    let caller =
        match oauth::gate::authenticate(&*gate.auth, oauth, &gate.service, req.headers()).await {
            Ok(caller) => caller,
            Err(e) => {
                gate.service.metrics().auth_failure();
                // The token never reaches the log or the audit record.
                tracing::info!(reason = ?e, "HTTP request not authenticated");
                if gate
                    .service
                    .audit_event("auth", "-", "UNAUTHORIZED")
                    .is_err()
                {
                    tracing::error!("could not audit an authentication failure");
                }
                return oauth::gate::refusal(e, oauth);
            }
        };
    if let Some(oauth) = oauth {
        req = match oauth::gate::check_scope(oauth, &caller, req, gate.body_cap).await {
            Ok(req) => req,
            Err(refused) => return refused,
        };
    }
    let permit = match gate.admission.admit(&caller.tenant) {
        Ok(permit) => permit,
        Err(Refusal::RateLimited(wait)) => {
            gate.service.metrics().rate_limited();
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return too_many(secs.max(1), "rate limit exceeded; retry later");
        }
        Err(Refusal::Busy) => {
            gate.service.metrics().concurrency_limited();
            return too_many(
                1,
                "too many requests in flight for this tenant; retry later",
            );
        }
    };
    // A session belongs to the caller that created it: any other caller presenting its id
    // (POST into it, GET its stream or resume it, DELETE it) is told it does not exist, as is
    // its owner once it expired.
    let session = match presented_session(req.headers()) {
        Ok(session) => session,
        Err(()) => return unknown_session(),
    };
    let in_use = match &session {
        Some(id) => match gate.sessions.enter(id, &caller) {
            Some(in_use) => Some(in_use),
            None => return unknown_session(),
        },
        None => None,
    };
    let is_delete = req.method() == http::Method::DELETE;
    let owner = caller.clone();
    req.extensions_mut().insert(caller);
    // The credential has done its job: nothing below (MCP library, tools, their logs) sees it.
    req.headers_mut().remove(header::AUTHORIZATION);
    // A POST's response stream carries the tool results: keep the slot taken until it ends.
    // A GET opens a long-lived notification stream, which must not hold a slot.
    let hold = req.method() == http::Method::POST;
    let accept = req.headers().get(header::ACCEPT).cloned();
    let result = tokio::time::timeout(gate.timeout, async {
        let resp = next.run(req).await;
        if hold && json_reply::applies(accept.as_ref(), &resp) {
            json_reply::prefer_json(resp).await
        } else {
            resp
        }
    })
    .await;
    if let Ok(resp) = &result
        && track_session(&gate.sessions, session.as_deref(), is_delete, resp, &owner)
            == Bound::Refused
    {
        return too_many_sessions();
    }
    match result {
        Ok(resp) if hold => {
            let (parts, body) = resp.into_parts();
            // The session counts as busy (not to be evicted) until its answer was sent.
            let body = body.into_data_stream().map(move |chunk| {
                let _slot = (&permit, &in_use);
                chunk
            });
            Response::from_parts(parts, Body::from_stream(body))
        }
        // The session is gone once rmcp answers, so a DELETE has completed: 204, not rmcp's
        // 202 "accepted for later", which clients read as a failed termination (the Python
        // SDK logs "Session termination failed: 202"; it takes 200 and 204).
        Ok(resp) if is_delete && resp.status() == StatusCode::ACCEPTED => {
            let (mut parts, _) = resp.into_parts();
            parts.status = StatusCode::NO_CONTENT;
            parts.headers.remove(header::CONTENT_TYPE);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::empty())
        }
        Ok(resp) => resp,
        Err(_) => {
            gate.service.metrics().timeout();
            json_error(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                "the request took too long",
            )
        }
    }
}

/// The session id a request presents: `Ok(None)` without one, `Err` when the header is
/// repeated or not text (which no session can match).
fn presented_session(headers: &http::HeaderMap) -> Result<Option<String>, ()> {
    let mut values = headers.get_all(SESSION_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    value.to_str().map(|v| Some(v.to_owned())).map_err(|_| ())
}

/// Keeps the session table in step with what rmcp answered: a new session id handed out
/// (to a request that presented none) is bound to its caller, within the tenant's limit
/// (`Refused`: the new session was closed again); a closed session, or one rmcp no longer
/// knows (expired), is forgotten.
fn track_session(
    sessions: &Sessions,
    presented: Option<&str>,
    is_delete: bool,
    resp: &Response,
    caller: &crate::service::Caller,
) -> Bound {
    match presented {
        None => {
            if let Some(id) = resp
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                return sessions.bind(id, caller);
            }
        }
        Some(id) => {
            if resp.status() == StatusCode::NOT_FOUND || (is_delete && resp.status().is_success()) {
                sessions.forget(id);
            }
        }
    }
    Bound::Kept
}

/// The `initialize` of a tenant whose every session has a request running.
fn too_many_sessions() -> Response {
    let mut resp = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "SESSION_LIMIT",
        "every session of this tenant is busy and it holds as many as it may; retry when one \
         finishes, or close sessions it no longer uses (DELETE)",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(1u64));
    resp
}

fn unknown_session() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such session; start a new one with initialize",
    )
}

fn too_many(retry_after_secs: u64, message: &str) -> Response {
    let mut resp = json_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", message);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MemorySink;
    use crate::config::ConfigFile;
    use crate::service::Caller;

    /// A gate over a real service (default local store in a temp dir) in front of `inner`,
    /// served on a loopback port.
    async fn gated(limits: TenantLimits, timeout: Duration, inner: Router) -> Gated {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(MemorySink::default());
        let config = crate::runtime::with_defaults(ConfigFile::default(), dir.path());
        let rt = crate::runtime::build_with_sink(&config, dir.path(), Box::new(Arc::clone(&sink)))
            .await
            .unwrap();
        let token = super::super::auth::generate_token().unwrap();
        let mut tenants = config.tenants.clone();
        if let Some(t) = tenants.get_mut("default") {
            t.tokens.push(super::super::auth::token_hash_line(&token));
        }
        let auth = super::super::auth::TokenAuthenticator::from_tenants(&tenants)
            .unwrap()
            .unwrap();
        let gate = Arc::new(Gate {
            service: rt.service.clone(),
            auth: Arc::new(auth),
            oauth: None,
            body_cap: 1 << 20,
            admission: Arc::new(Admission::new(limits)),
            timeout,
            sessions: Sessions::new(SessionLimits {
                max_per_tenant: 64,
                idle: Duration::from_secs(600),
            }),
        });
        let app = inner.layer(middleware::from_fn(move |req, next| {
            let gate = Arc::clone(&gate);
            mcp_gate(gate, req, next)
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Gated {
            url: format!("http://{addr}"),
            token,
            sink,
            service: rt.service,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    struct Gated {
        url: String,
        token: String,
        sink: Arc<MemorySink>,
        service: Service,
        client: reqwest::Client,
        /// Holds the data directory for as long as the server may use it.
        _dir: tempfile::TempDir,
    }

    impl Gated {
        /// POSTs to `path` with the tenant's bearer token.
        async fn post(&self, path: &str) -> reqwest::Response {
            self.post_as(path, &self.token).await
        }

        async fn post_as(&self, path: &str, token: &str) -> reqwest::Response {
            self.client
                .post(format!("{}{path}", self.url))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    }

    /// A router whose `/slow` answers `reply` after `delay`.
    fn slow(delay: Duration, reply: &'static str) -> Router {
        Router::new().route(
            "/slow",
            axum::routing::post(move || async move {
                tokio::time::sleep(delay).await;
                reply
            }),
        )
    }

    const LOOSE: TenantLimits = TenantLimits {
        max_in_flight: 8,
        rate_per_second: 1000.0,
        burst: 1000,
    };

    #[tokio::test]
    async fn slow_requests_time_out_with_504() {
        let inner = slow(Duration::from_secs(5), "late");
        let g = gated(LOOSE, Duration::from_millis(200), inner).await;
        assert_eq!(g.post("/slow").await.status(), 504);
        assert!(
            g.service
                .metrics()
                .render()
                .contains("bitatlas_request_timeouts_total 1")
        );
    }

    #[tokio::test]
    async fn the_in_flight_cap_refuses_with_429_and_frees_the_slot() {
        let limits = TenantLimits {
            max_in_flight: 1,
            ..LOOSE
        };
        let inner = slow(Duration::from_millis(600), "done");
        let g = gated(limits, Duration::from_secs(10), inner).await;
        // The second request goes out while the first still holds the only slot.
        let (first, second) = tokio::join!(g.post("/slow"), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            g.post("/slow").await
        });
        assert_eq!(second.status(), 429);
        assert_eq!(second.headers()[header::RETRY_AFTER], "1");
        assert_eq!(first.status(), 200);
        assert_eq!(first.text().await.unwrap(), "done");
        assert_eq!(g.post("/slow").await.status(), 200);
    }

    #[tokio::test]
    async fn the_handler_sees_the_caller_but_not_the_token() {
        let inner = Router::new().route(
            "/whoami",
            axum::routing::post(|req: Request| async move {
                let tenant = req
                    .extensions()
                    .get::<Caller>()
                    .map(|c| c.tenant.clone())
                    .unwrap_or_default();
                let has_auth = req.headers().contains_key(header::AUTHORIZATION);
                format!("{tenant} {has_auth}")
            }),
        );
        let g = gated(LOOSE, Duration::from_secs(10), inner).await;
        let resp = g.post("/whoami").await;
        assert_eq!(resp.text().await.unwrap(), "default false");
        let denied = g.post_as("/whoami", "bat_forged").await;
        assert_eq!(denied.status(), 401);
        let lines = g.sink.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"tool\":\"auth\"") && l.contains("UNAUTHORIZED"))
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.contains(&g.token) || l.contains("bat_forged"))
        );
    }

    #[tokio::test]
    async fn readyz_reports_the_readiness_check() {
        let g = gated(LOOSE, Duration::from_secs(1), Router::new()).await;
        let accepting = AtomicBool::new(true);
        let status = |r: Response| r.status();
        assert_eq!(status(readyz(&g.service, &accepting, None)), StatusCode::OK);
        let up = || None;
        assert_eq!(
            status(readyz(&g.service, &accepting, Some(&up))),
            StatusCode::OK
        );
        let down = || Some("a tenant's home store is not answering".to_owned());
        assert_eq!(
            status(readyz(&g.service, &accepting, Some(&down))),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn non_loopback_binds_need_tokens_and_hosts() {
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(check_bind(local, false, &[]).is_ok());
        assert!(check_bind(public, false, &["mcp.example.com".into()]).is_err());
        assert!(check_bind(public, true, &[]).is_err());
        assert!(check_bind(public, true, &["mcp.example.com".into()]).is_ok());
    }
}
