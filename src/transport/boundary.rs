//! The HTTP boundary of `/mcp`: what a request must look like before anything else reads it.
//!
//! Checked here, strictly, in front of rmcp (whose own Host and Origin checks stay on and are
//! given the same lists), each refusal a JSON body `{code, message}` like the 401s:
//! - the request target is origin-form (`/mcp`); an absolute-form target
//!   (`POST http://evil/mcp`), whose authority would override `Host`, is `400
//!   INVALID_REQUEST_TARGET`;
//! - the path is exactly `/mcp`: anything else (`/mcp/x`) is `404 NOT_FOUND`;
//! - exactly one `Host` header, `host[:port]` by the grammar of [`parse_authority`], on the
//!   allowed list: otherwise `403 FORBIDDEN_HOST`;
//! - at most one `Origin` header and, when present, a serialized origin on the allowed list:
//!   otherwise `403 FORBIDDEN_ORIGIN`. An allowed origin without a port matches only its
//!   scheme's default port (`https://app.example` is `https://app.example:443`); `:*` matches
//!   any port.
//!
//! [`check_body`] runs after authentication and reads a POST body once, up to the cap: a body
//! that is not JSON gets the JSON-RPC error `-32700` (parse error), a batch, a non-object or a
//! message rmcp cannot read gets `-32600` (invalid request), both with HTTP 400 and `"id": null`
//! (or the request's id when it has a valid one); a wrong media type is
//! `415 UNSUPPORTED_MEDIA_TYPE`. An oversized body is `413` with a JSON-RPC error body (as
//! over stdio, see [`TooLarge`]): `-32600`, a message starting `TOO_LARGE:` that says what to
//! use instead, and `data: {code: "TOO_LARGE", limit, max_inline_bytes, alternatives}`; its id
//! is the request's when the part read holds one, else `null`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use http::{HeaderMap, StatusCode, Version, header};

use super::id_scan::IdScan;
use super::too_large::{TooLarge, Wire};

/// The one path MCP is served at.
pub const MCP_PATH: &str = "/mcp";

/// Most bytes of a refused oversized body read (and dropped) after the answer.
const DRAIN_MAX_BYTES: usize = 256 * 1024 * 1024;
/// Longest time spent reading them.
const DRAIN_MAX_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// A configured `Host` or origin value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {what} `{value}`: {why}")]
pub struct BoundaryError {
    what: &'static str,
    value: String,
    why: &'static str,
}

/// `host[:port]`, host lower-case (IPv6 with brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

/// Parses `host[:port]` strictly: a DNS name (letters, digits, `-`, dot-separated labels of
/// 1-63, at most 253 in all, no label starting or ending with `-`, no trailing dot), a
/// canonical dotted-quad IPv4 address, or a bracketed IPv6 address in canonical form; the port
/// 1-65535 in decimal without a leading zero. Nothing else: no user info, no empty port.
fn parse_authority(s: &str) -> Result<Authority, &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if !s.is_ascii() {
        return Err("non-ASCII characters");
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']').ok_or("unclosed `[`")?;
        let inner = rest[..close].to_ascii_lowercase();
        let ip: Ipv6Addr = inner.parse().map_err(|_| "not an IPv6 address")?;
        if ip.to_string() != inner {
            return Err("IPv6 address not in canonical form");
        }
        let port = match &rest[close + 1..] {
            "" => None,
            tail => Some(tail.strip_prefix(':').ok_or("characters after `]`")?),
        };
        (format!("[{ip}]"), port)
    } else {
        let (name, port) = match s.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (s, None),
        };
        check_name(name)?;
        (name.to_ascii_lowercase(), port)
    };
    let port = port.map(parse_port).transpose()?;
    Ok(Authority { host, port })
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("no host");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("host has characters other than letters, digits, `-` and `.`");
    }
    if name.len() > 253 {
        return Err("host longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label in host (leading, trailing or doubled `.`)");
        }
        if label.len() > 63 {
            return Err("host label longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("host label starts or ends with `-`");
        }
    }
    // A numeric last label makes the name an IPv4 address to most parsers, in any notation.
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) || last.to_ascii_lowercase().starts_with("0x") {
        match name.parse::<Ipv4Addr>() {
            Ok(ip) if ip.to_string() == name => {}
            _ => return Err("IPv4 address not in canonical dotted-quad form"),
        }
    }
    Ok(())
}

fn parse_port(p: &str) -> Result<u16, &'static str> {
    if p.is_empty() {
        return Err("empty port");
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err("port is not a decimal number");
    }
    if p.starts_with('0') {
        return Err("port 0 or a port with a leading zero");
    }
    p.parse().map_err(|_| "port above 65535")
}

/// A serialized origin (RFC 6454): `null`, or `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple { scheme: String, at: Authority },
}

fn parse_origin(s: &str) -> Result<Origin, &'static str> {
    if s == "null" {
        return Ok(Origin::Null);
    }
    let (scheme, rest) = s.split_once("://").ok_or("not scheme://host[:port]")?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err("invalid scheme");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or fragment");
    }
    Ok(Origin::Tuple {
        scheme: scheme.to_ascii_lowercase(),
        at: parse_authority(rest)?,
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Which ports an allowed origin admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ports {
    /// No port written: the scheme's default port only.
    Default,
    /// `:*`.
    Any,
    Exact(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedOrigin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        ports: Ports,
    },
}

impl AllowedOrigin {
    fn parse(raw: &str) -> Result<Self, BoundaryError> {
        let err = |why| BoundaryError {
            what: "allowed origin",
            value: raw.to_owned(),
            why,
        };
        // A trailing `/` is a common paste from the address bar: the same origin.
        let value = raw.trim().strip_suffix('/').unwrap_or(raw.trim());
        let (value, any) = match value.strip_suffix(":*") {
            Some(v) => (v, true),
            None => (value, false),
        };
        match parse_origin(value).map_err(err)? {
            Origin::Null if any => Err(err("`null` has no port")),
            Origin::Null => Ok(AllowedOrigin::Null),
            Origin::Tuple { at, .. } if any && at.port.is_some() => {
                Err(err("a port and `:*` together"))
            }
            Origin::Tuple { scheme, at } => Ok(AllowedOrigin::Tuple {
                scheme,
                host: at.host,
                ports: match (any, at.port) {
                    (true, _) => Ports::Any,
                    (false, Some(p)) => Ports::Exact(p),
                    (false, None) => Ports::Default,
                },
            }),
        }
    }

    fn admits(&self, origin: &Origin) -> bool {
        match (self, origin) {
            (AllowedOrigin::Null, Origin::Null) => true,
            (
                AllowedOrigin::Tuple {
                    scheme,
                    host,
                    ports,
                },
                Origin::Tuple { scheme: s, at },
            ) => {
                let effective = at.port.or_else(|| default_port(s));
                scheme == s
                    && *host == at.host
                    && match ports {
                        Ports::Any => true,
                        Ports::Exact(p) => effective == Some(*p),
                        Ports::Default => effective == default_port(scheme),
                    }
            }
            _ => false,
        }
    }

    /// The same entry in rmcp's syntax, where a portless entry would match any port.
    fn rmcp_form(&self) -> String {
        match self {
            AllowedOrigin::Null => "null".into(),
            AllowedOrigin::Tuple {
                scheme,
                host,
                ports,
            } => match (*ports, default_port(scheme)) {
                (Ports::Any, _) => format!("{scheme}://{host}:*"),
                (Ports::Exact(p), _) | (Ports::Default, Some(p)) => {
                    format!("{scheme}://{host}:{p}")
                }
                (Ports::Default, None) => format!("{scheme}://{host}"),
            },
        }
    }
}

/// The allowed `Host` and `Origin` values of one HTTP server.
#[derive(Debug, Clone)]
pub struct Boundary {
    hosts: Vec<Authority>,
    origins: Vec<AllowedOrigin>,
}

impl Boundary {
    /// Parses the allowed lists. `hosts`: `name` (any port) or `name:port`; `origins`:
    /// `scheme://host` (default port only), `scheme://host:port`, `scheme://host:*`, `null`.
    /// Blank entries are skipped; a malformed entry is an error, so a typo cannot silently
    /// lock clients out or let them in.
    pub fn new(hosts: &[String], origins: &[String]) -> Result<Self, BoundaryError> {
        let hosts = hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .map(|h| {
                // Bare IPv6 (`::1`) is accepted in the configuration for convenience.
                let bracketed;
                let h = if h.parse::<Ipv6Addr>().is_ok() {
                    bracketed = format!("[{h}]");
                    bracketed.as_str()
                } else {
                    h
                };
                parse_authority(h).map_err(|why| BoundaryError {
                    what: "allowed host",
                    value: h.to_owned(),
                    why,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let origins = origins
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| AllowedOrigin::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Boundary { hosts, origins })
    }

    /// The allowed origins for rmcp's own check, with the ports made explicit so it admits
    /// exactly what [`Boundary`] admits.
    pub fn rmcp_origins(&self) -> Vec<String> {
        self.origins.iter().map(AllowedOrigin::rmcp_form).collect()
    }

    fn check_host(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let mut values = headers.get_all(header::HOST).iter();
        let value = values.next().ok_or("missing Host header")?;
        if values.next().is_some() {
            return Err("more than one Host header");
        }
        let value = value.to_str().map_err(|_| "Host header is not ASCII")?;
        let at = parse_authority(value).map_err(|_| "malformed Host header")?;
        let allowed = self
            .hosts
            .iter()
            .any(|a| a.host == at.host && a.port.is_none_or(|p| at.port == Some(p)));
        if allowed {
            Ok(())
        } else {
            Err("Host header is not allowed")
        }
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        if values.next().is_some() {
            return Err("more than one Origin header");
        }
        let value = value.to_str().map_err(|_| "Origin header is not ASCII")?;
        let origin = parse_origin(value).map_err(|_| "malformed Origin header")?;
        if self.origins.iter().any(|a| a.admits(&origin)) {
            Ok(())
        } else {
            Err("Origin is not allowed")
        }
    }
}

/// `{code, message}` with `status`, as every HTTP-level refusal of this server.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Request target, path, `Host` and `Origin` of an `/mcp` request (outermost, before
/// authentication).
pub async fn check_request(boundary: Arc<Boundary>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    // HTTP/2 carries the authority in the request itself; in HTTP/1 only an absolute-form
    // (proxy) target does, and RFC 9112 would then let it override `Host`.
    if req.version() <= Version::HTTP_11 && (uri.scheme().is_some() || uri.authority().is_some()) {
        tracing::info!("refused an absolute-form request target");
        return json_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_TARGET",
            "the request target must be a path (origin-form), e.g. /mcp",
        );
    }
    if uri.path() != MCP_PATH {
        return json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such endpoint; MCP is served at /mcp",
        );
    }
    let host = if req.version() >= Version::HTTP_2 && !req.headers().contains_key(header::HOST) {
        // HTTP/2 without `Host`: check the `:authority` the same way.
        let mut headers = HeaderMap::new();
        if let Some(v) = uri
            .authority()
            .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
        {
            headers.insert(header::HOST, v);
        }
        boundary.check_host(&headers)
    } else {
        boundary.check_host(req.headers())
    };
    if let Err(why) = host {
        tracing::info!(reason = why, "refused a request by its Host header");
        return json_error(StatusCode::FORBIDDEN, "FORBIDDEN_HOST", why);
    }
    if let Err(why) = boundary.check_origin(req.headers()) {
        tracing::info!(reason = why, "refused a request by its Origin header");
        return json_error(StatusCode::FORBIDDEN, "FORBIDDEN_ORIGIN", why);
    }
    next.run(req).await
}

/// A JSON-RPC error response with HTTP 400.
fn jsonrpc_error(code: i64, message: &str, id: serde_json::Value) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    })
    .to_string();
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
}

/// Just the `id` of a JSON-RPC object; every other member is skipped (but its syntax checked).
#[derive(serde::Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: serde_json::Value,
}

/// `413` with the JSON-RPC `TOO_LARGE` error for a body that crossed `cap` after `head` (the
/// part read, where the id is looked for) and `seen` bytes in all.
fn too_large(cap: usize, max_inline_bytes: u64, head: &[&[u8]], seen: usize) -> Response {
    let mut scan = IdScan::new();
    for part in head {
        scan.feed(part);
    }
    let id = scan.id().cloned().unwrap_or(serde_json::Value::Null);
    let answer = TooLarge {
        wire: Wire::Http,
        seen,
        complete: false,
        limit: cap,
        max_inline_bytes,
    };
    tracing::info!(
        bytes = seen,
        limit = cap,
        "refused an oversized body: TOO_LARGE"
    );
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONTENT_TYPE, "application/json")],
        answer.response(id).to_string(),
    )
        .into_response()
}

/// Reads and drops what is left of a refused body, for at most [`DRAIN_MAX_BYTES`] and
/// [`DRAIN_MAX_TIME`]; after that the connection is closed.
async fn drain(mut stream: axum::body::BodyDataStream) {
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        let mut left = DRAIN_MAX_BYTES;
        while let Some(Ok(chunk)) = stream.next().await {
            let Some(rest) = left.checked_sub(chunk.len()) else {
                break;
            };
            left = rest;
        }
    })
    .await;
}

/// Reads and checks a POST body (after authentication, so only callers with a credential can
/// make the server buffer up to `cap` bytes), then hands it on unchanged. `max_inline_bytes`
/// is named in the answer to a body above `cap`.
pub async fn check_body(cap: usize, max_inline_bytes: u64, req: Request, next: Next) -> Response {
    if req.method() != http::Method::POST {
        return next.run(req).await;
    }
    if !is_json(req.headers()) {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type must be application/json",
        );
    }
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            );
        };
        if chunk.len() > cap.saturating_sub(buf.len()) {
            let seen = buf.len().saturating_add(chunk.len());
            let answer = too_large(cap, max_inline_bytes, &[&buf, &chunk], seen);
            drop(buf);
            // The rest is read and dropped while the answer goes out: closing a connection
            // with unread bytes resets it, and the client would often lose the answer too.
            tokio::spawn(drain(stream));
            return answer;
        }
        buf.extend_from_slice(&chunk);
    }
    // One pass checks the syntax (of the whole body: `from_slice` refuses trailing bytes) and,
    // for an object, picks up its id; serde's messages name a line and column, never content.
    let parse_error = |e: serde_json::Error| {
        let message = format!("Parse error: the body is not valid JSON ({e})");
        jsonrpc_error(-32700, &message, serde_json::Value::Null)
    };
    let id = match buf.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => match serde_json::from_slice::<IdOnly>(&buf) {
            Ok(IdOnly { id }) if id.is_string() || id.is_number() => id,
            Ok(_) => serde_json::Value::Null,
            Err(e) if e.is_data() => {
                return jsonrpc_error(
                    -32600,
                    "Invalid Request: not a valid JSON-RPC 2.0 message",
                    serde_json::Value::Null,
                );
            }
            Err(e) => return parse_error(e),
        },
        first => {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&buf) {
                return parse_error(e);
            }
            let message = if first == Some(&b'[') {
                "Invalid Request: batch requests are not supported; send one JSON-RPC message \
                 per request"
            } else {
                "Invalid Request: a JSON-RPC message is a JSON object"
            };
            return jsonrpc_error(-32600, message, serde_json::Value::Null);
        }
    };
    // The buffer moves on: rmcp reads it as it would have read the connection.
    let req = Request::from_parts(parts, Body::from(Bytes::from(buf)));
    let resp = next.run(req).await;
    // rmcp answers a well-formed JSON object it cannot read as a JSON-RPC message with a
    // plain-text 415 (the media type was checked above, so that is what a 415 means here).
    if resp.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return jsonrpc_error(
            -32600,
            "Invalid Request: not a valid JSON-RPC 2.0 message",
            id,
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundary() -> Boundary {
        Boundary::new(
            &[
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "mcp.example.com:8443".into(),
            ],
            &[
                "https://app.example.com".into(),
                "http://localhost:*".into(),
                "https://tool.example.com:8443/".into(),
            ],
        )
        .unwrap()
    }

    fn host(v: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in v {
            h.append(header::HOST, http::HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn origin(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(header::ORIGIN, http::HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn host_values() {
        let b = boundary();
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[::1]",
            "mcp.example.com:8443",
        ] {
            assert!(b.check_host(&host(&[ok])).is_ok(), "{ok}");
        }
        for bad in [
            "evil.com:80@localhost",
            "localhost@evil.com",
            "user@localhost",
            "localhost:abc",
            "localhost:",
            "localhost:0",
            "localhost:08080",
            "localhost:65536",
            "localhost:8080:8080",
            "localhost.",
            ".localhost",
            "127.1",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "2130706433",
            "[0:0:0:0:0:0:0:1]",
            "[::1]x",
            "[::1",
            "::1",
            "local_host",
            "localhost%00",
            "evil.com",
            "mcp.example.com",
            "mcp.example.com:443",
            "",
        ] {
            assert!(b.check_host(&host(&[bad])).is_err(), "{bad:?}");
        }
        assert!(b.check_host(&host(&["localhost", "localhost"])).is_err());
        assert!(b.check_host(&host(&["localhost", "evil.com"])).is_err());
        assert!(b.check_host(&HeaderMap::new()).is_err());
    }

    #[test]
    fn origin_values() {
        let b = boundary();
        assert!(b.check_origin(&HeaderMap::new()).is_ok());
        for ok in [
            "https://app.example.com",
            "https://app.example.com:443",
            "http://localhost:5173",
            "http://localhost",
            "https://tool.example.com:8443",
        ] {
            assert!(b.check_origin(&origin(ok)).is_ok(), "{ok}");
        }
        for bad in [
            // A portless allowed origin matches the default port only.
            "https://app.example.com:8443",
            "https://app.example.com:444",
            "http://app.example.com",
            "https://tool.example.com",
            "https://evil.example",
            "https://app.example.com/",
            "https://app.example.com.evil.example",
            "https://user@app.example.com",
            "null",
            "app.example.com",
            "https://localhost:5173",
            "",
        ] {
            assert!(b.check_origin(&origin(bad)).is_err(), "{bad:?}");
        }
        let mut two = origin("https://app.example.com");
        two.append(
            header::ORIGIN,
            http::HeaderValue::from_static("https://app.example.com"),
        );
        assert!(b.check_origin(&two).is_err());
    }

    #[test]
    fn rmcp_gets_the_same_origins_with_explicit_ports() {
        assert_eq!(
            boundary().rmcp_origins(),
            [
                "https://app.example.com:443",
                "http://localhost:*",
                "https://tool.example.com:8443"
            ]
        );
    }

    #[test]
    fn malformed_configuration_is_refused() {
        for bad in ["localhost:abc", "evil.com:80@localhost", "a..b", "host:0"] {
            assert!(Boundary::new(&[bad.into()], &[]).is_err(), "{bad}");
        }
        for bad in [
            "app.example.com",
            "https://app.example.com/path",
            "https://app.example.com:443:*",
            "null:*",
            "https://",
        ] {
            assert!(Boundary::new(&[], &[bad.into()]).is_err(), "{bad}");
        }
        assert!(Boundary::new(&["".into(), " ".into()], &["".into()]).is_ok());
    }
}
