//! OAuth at the `/mcp` gate: a bearer that is not one of the tenants' static tokens is an
//! access token; the answers that tell a client what to do (401 with the metadata URL, 403
//! for a tenant the server does not have, 403 `insufficient_scope` naming the scope a tool
//! needs, so the client can step up).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use super::OAuth;
use crate::service::{Caller, Service, Tool};
use crate::transport::auth::{AuthError, Authenticator, TOKEN_PREFIX};
use crate::transport::boundary::json_error;

/// Who is calling: the static tokens first; a bearer that is not one of them (and does not
/// look like one) goes to OAuth when it is configured.
pub async fn authenticate(
    tokens: &dyn Authenticator,
    oauth: Option<&OAuth>,
    service: &Service,
    headers: &HeaderMap,
) -> Result<Caller, AuthError> {
    let from_tokens = tokens.authenticate(headers);
    let Some(oauth) = oauth else {
        return from_tokens;
    };
    match from_tokens {
        Err(AuthError::Invalid) => match bearer(headers) {
            Some(token) if !token.starts_with(TOKEN_PREFIX) => {
                oauth.authenticate(token, |t| service.has_tenant(t)).await
            }
            _ => Err(AuthError::Invalid),
        },
        other => other,
    }
}

/// The one `Authorization: Bearer` value, if that is what the request carries.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The refusal of an unauthenticated request.
pub fn refusal(e: AuthError, oauth: Option<&OAuth>) -> Response {
    let (status, code, message, error) = match e {
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "an Authorization: Bearer token is required",
            None,
        ),
        AuthError::Invalid => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the bearer token is not valid",
            Some("invalid_token"),
        ),
        AuthError::Forbidden => (
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the access token names no tenant of this server",
            Some("insufficient_scope"),
        ),
    };
    let challenge = match oauth {
        Some(o) => o.challenge(error, None),
        None => match error {
            None => r#"Bearer realm="bitatlas""#.to_owned(),
            Some(e) => format!(r#"Bearer realm="bitatlas", error="{e}""#),
        },
    };
    with_challenge(json_error(status, code, message), &challenge)
}

/// For a caller whose token limits the tools: a `tools/call` of a tool its scopes do not
/// allow is answered 403 `insufficient_scope` with the scope that would (step-up
/// authorization); anything else goes on, its body intact. The body is read at most
/// `body_cap` bytes (the `/mcp` limit): a larger one goes on to be refused there.
pub async fn check_scope(
    oauth: &OAuth,
    caller: &Caller,
    req: Request,
    body_cap: usize,
) -> Result<Request, Response> {
    if caller.granted.is_none() || req.method() != http::Method::POST {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, body_cap).await {
        Ok(b) => b,
        Err(_) => {
            return Err(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                "the request body is too large",
            ));
        }
    };
    if let Some(tool) = called_tool(&bytes)
        && !caller.grants(tool)
    {
        let scope = oauth.scope_for(tool);
        let message = format!(
            "the access token's scopes do not allow the tool {:?}{}",
            tool.name(),
            scope
                .map(|s| format!("; it needs the scope {s:?}"))
                .unwrap_or_default()
        );
        let resp = json_error(StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE", &message);
        return Err(with_challenge(
            resp,
            &oauth.challenge(Some("insufficient_scope"), scope),
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The tool a single JSON-RPC `tools/call` message calls.
fn called_tool(body: &[u8]) -> Option<Tool> {
    let msg: Value = serde_json::from_slice(body).ok()?;
    if msg.get("method")?.as_str()? != "tools/call" {
        return None;
    }
    let name = msg.get("params")?.get("name")?.as_str()?;
    Tool::ALL.into_iter().find(|t| t.name() == name)
}

fn with_challenge(mut resp: Response, challenge: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The Protected Resource Metadata routes: the bare well-known path and the one suffixed
/// with the resource's path (`/.well-known/oauth-protected-resource/mcp`).
pub fn metadata_routes(oauth: Arc<OAuth>) -> axum::Router {
    let doc = Arc::new(oauth.metadata());
    let suffixed = format!(
        "{}{}",
        super::metadata::WELL_KNOWN,
        oauth.resource().path().trim_end_matches('/')
    );
    let serve = move || {
        let doc = Arc::clone(&doc);
        async move {
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "max-age=300"),
                ],
                doc.to_string(),
            )
        }
    };
    let mut router = axum::Router::new().route(
        super::metadata::WELL_KNOWN,
        axum::routing::get(serve.clone()),
    );
    if suffixed != super::metadata::WELL_KNOWN {
        router = router.route(&suffixed, axum::routing::get(serve));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_single_tools_call_names_a_tool() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"put","arguments":{}}}"#;
        assert_eq!(called_tool(call), Some(Tool::Put));
        assert_eq!(called_tool(br#"{"method":"tools/list"}"#), None);
        assert_eq!(
            called_tool(br#"{"method":"tools/call","params":{"name":"nope"}}"#),
            None
        );
        assert_eq!(called_tool(b"not json"), None);
    }
}
