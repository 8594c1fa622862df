//! `/transfer/{tenant}/{token}`: the HTTP side of transfer links (`crate::service` issues and
//! verifies them). The link is the credential, so these routes take no bearer token:
//! - `PUT` streams the request body into the object (sealed on the fly; nothing is visible
//!   before the whole body arrived); `201` with `{key, size, stored}`;
//! - `GET` / `HEAD` stream the object out (opened on the fly), honouring one `Range`
//!   (`bytes=a-b`, `bytes=a-`, `bytes=-n`) with `206`, `416` when unsatisfiable;
//! - `DELETE` revokes the link (`204`).
//!
//! Refusals are JSON `{code, message}`: a link that does not verify is `403`, one that expired,
//! was revoked or was spent `410`, an upload above its limit `413` (answered before the body
//! is read when `Content-Length` tells). The token never reaches a log.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tokio_util::io::StreamReader;

use super::boundary::json_error;
use super::limits::{Admission, Refusal};
use crate::service::{
    ByteRange, Download, ErrorCode, Link, PresignMethod, Service, ServiceError, Want,
};

/// The route links are served at.
pub const TRANSFER_PATH: &str = "/transfer/{tenant}/{token}";
/// An upload that sends nothing for this long is cut (and stores nothing).
const IDLE: Duration = Duration::from_secs(60);

/// What the transfer routes share.
pub struct TransferState {
    /// The service that verifies links and moves the bytes.
    pub service: Service,
    /// The per-tenant limits `/mcp` applies too: a transfer holds an in-flight slot.
    pub admission: Arc<Admission>,
}

/// The transfer routes.
pub fn router(state: Arc<TransferState>) -> Router {
    Router::new()
        .route(
            TRANSFER_PATH,
            axum::routing::put(upload)
                .get(download)
                .head(download)
                .delete(revoke),
        )
        .with_state(state)
}

/// Verifies the link for `method` and takes an in-flight slot of its tenant.
async fn admit(
    state: &TransferState,
    tenant: &str,
    token: &str,
    method: PresignMethod,
) -> Result<(Link, tokio::sync::OwnedSemaphorePermit), Box<Response>> {
    let link = state
        .service
        .redeem(tenant, token, method)
        .await
        .map_err(|e| Box::new(refusal(&e)))?;
    let permit = state.admission.admit(tenant).map_err(|r| match r {
        Refusal::RateLimited(_) | Refusal::Busy => Box::new(json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests for this tenant; retry later",
        )),
    })?;
    Ok((link, permit))
}

async fn upload(
    State(state): State<Arc<TransferState>>,
    Path((tenant, token)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (link, _permit) = match admit(&state, &tenant, &token, PresignMethod::Put).await {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let headers = req.headers();
    let Ok(length) = content_length(headers) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Content-Length is not a single decimal number",
        );
    };
    // Refused before a byte of the body is read (no `100 Continue` is sent).
    if let (Some(max), Some(n)) = (link.max_bytes(), length)
        && n > max
    {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "TOO_LARGE",
            &format!("the upload is {n} bytes, above this link's limit of {max}"),
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let stream = req.into_body().into_data_stream();
    let stream = Box::pin(idle_limited(stream));
    let mut reader = StreamReader::new(stream);
    match state
        .service
        .upload_via(&link, content_type, length, &mut reader, None)
        .await
    {
        Ok(stored) => {
            let body = serde_json::json!({
                "key": stored.key,
                "size": stored.size,
                "stored": stored.placement,
            });
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => refusal(&e),
    }
}

/// The body, ending in an error when no bytes arrive for [`IDLE`].
fn idle_limited(
    body: axum::body::BodyDataStream,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    futures::stream::unfold(Some(body), |state| async move {
        let mut body = state?;
        match tokio::time::timeout(IDLE, body.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(body))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no bytes arrived",
                )),
                None,
            )),
        }
    })
}

async fn download(
    State(state): State<Arc<TransferState>>,
    Path((tenant, token)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let (link, permit) = match admit(&state, &tenant, &token, PresignMethod::Get).await {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let want = match parse_range(&headers) {
        Ok(want) => want,
        Err(()) => Want::All,
    };
    let download = match state.service.download_via(&link, want).await {
        Ok(d) => d,
        Err(e) if e.code == ErrorCode::InvalidRange => {
            return range_not_satisfiable(&state, &link).await;
        }
        Err(e) => return refusal(&e),
    };
    let partial = want != Want::All;
    let mut resp = Response::builder()
        .status(if partial {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .header(header::CONTENT_LENGTH, download.len())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer");
    if let Ok(ct) = HeaderValue::from_str(&download.content_type) {
        resp = resp.header(header::CONTENT_TYPE, ct);
    }
    if let Some(disposition) = attachment(&download.key) {
        resp = resp.header(header::CONTENT_DISPOSITION, disposition);
    }
    if partial {
        let r = &download.range;
        let value = if r.is_empty() {
            format!("bytes */{}", download.size)
        } else {
            format!("bytes {}-{}/{}", r.start, r.end - 1, download.size)
        };
        resp = resp.header(header::CONTENT_RANGE, value);
    }
    let body = if method == Method::HEAD {
        download.close();
        Body::empty()
    } else {
        Body::from_stream(pieces(download, permit))
    };
    resp.body(body).unwrap_or_else(|_| {
        json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "could not build the response",
        )
    })
}

/// The download's pieces as a body stream; an error mid-way ends the stream with an error,
/// which cuts the connection, so the client sees a short body, never unverified bytes.
fn pieces(
    download: Download,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    futures::stream::unfold((download, permit), |(mut d, permit)| async move {
        match d.next().await? {
            Ok(piece) => Some((Ok(piece), (d, permit))),
            Err(e) => {
                tracing::warn!(code = e.code.as_str(), "a transfer download stopped");
                Some((Err(std::io::Error::other(e.code.as_str())), (d, permit)))
            }
        }
    })
}

/// `416` with the object's size, as RFC 9110 asks.
async fn range_not_satisfiable(state: &TransferState, link: &Link) -> Response {
    let mut resp = json_error(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "INVALID_RANGE",
        "the range is outside the object",
    );
    if let Ok(d) = state.service.download_via(link, Want::Last(0)).await
        && let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", d.size))
    {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    resp
}

async fn revoke(
    State(state): State<Arc<TransferState>>,
    Path((tenant, token)): Path<(String, String)>,
) -> Response {
    // Either kind of link can be revoked by whoever holds it.
    let link = match state
        .service
        .redeem(&tenant, &token, PresignMethod::Put)
        .await
    {
        Ok(link) => Ok(link),
        Err(e) if e.code == ErrorCode::Unauthorized => {
            state
                .service
                .redeem(&tenant, &token, PresignMethod::Get)
                .await
        }
        Err(e) => Err(e),
    };
    match link {
        Ok(link) => match state.service.revoke(&link).await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => refusal(&e),
        },
        Err(e) => refusal(&e),
    }
}

/// `Content-Length`, when given once and well-formed.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    v.to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or(())
}

/// One `bytes=` range; `Err` for anything else (several ranges, other units, bad syntax),
/// which is served as the whole object (RFC 9110 lets a server ignore `Range`).
fn parse_range(headers: &HeaderMap) -> Result<Want, ()> {
    let mut values = headers.get_all(header::RANGE).iter();
    let Some(v) = values.next() else {
        return Ok(Want::All);
    };
    if values.next().is_some() {
        return Err(());
    }
    let spec = v.to_str().map_err(|_| ())?.trim();
    let spec = spec.strip_prefix("bytes=").ok_or(())?.trim();
    if spec.contains(',') {
        return Err(());
    }
    let (first, last) = spec.split_once('-').ok_or(())?;
    let number = |s: &str| -> Result<u64, ()> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        s.parse().map_err(|_| ())
    };
    match (first.trim(), last.trim()) {
        // `bytes=-0` asks for nothing, which no representation satisfies: ignored.
        ("", n) => match number(n)? {
            0 => Err(()),
            n => Ok(Want::Last(n)),
        },
        (a, "") => Ok(Want::Range(ByteRange {
            start: number(a)?,
            end: None,
        })),
        (a, b) => {
            let (start, last) = (number(a)?, number(b)?);
            if last < start {
                return Err(());
            }
            Ok(Want::Range(ByteRange {
                start,
                end: Some(last.saturating_add(1)),
            }))
        }
    }
}

/// `attachment; filename="..."` from the key's last segment, reduced to characters that are
/// safe in a header and a file name (others become `_`).
fn attachment(key: &str) -> Option<HeaderValue> {
    let last = key.rsplit('/').next().unwrap_or(key);
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        return None;
    }
    HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok()
}

/// The HTTP status of a refused transfer.
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthorized => StatusCode::FORBIDDEN,
        ErrorCode::LinkExpired | ErrorCode::LinkRevoked => StatusCode::GONE,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::InvalidArgument | ErrorCode::InvalidKey | ErrorCode::Incomplete => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::AuditUnavailable | ErrorCode::StorageUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::IntegrityFailure => StatusCode::BAD_GATEWAY,
        ErrorCode::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn refusal(e: &ServiceError) -> Response {
    json_error(status_of(e.code), e.code.as_str(), &e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str) -> Result<Want, ()> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        parse_range(&h)
    }

    #[test]
    fn ranges_parse_strictly() {
        assert_eq!(parse_range(&HeaderMap::new()), Ok(Want::All));
        assert_eq!(
            range("bytes=0-99"),
            Ok(Want::Range(ByteRange {
                start: 0,
                end: Some(100)
            }))
        );
        assert_eq!(
            range("bytes=100-"),
            Ok(Want::Range(ByteRange {
                start: 100,
                end: None
            }))
        );
        assert_eq!(range("bytes=-5"), Ok(Want::Last(5)));
        for bad in [
            "bytes=5-1",
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=-",
            "bytes=-0",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(range(bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn attachment_names_are_safe() {
        let v = attachment("videos/My Film (1).mp4").unwrap();
        assert_eq!(v, "attachment; filename=\"My Film _1_.mp4\"");
        let v = attachment("a/\"x\r\n.txt").unwrap();
        assert_eq!(v, "attachment; filename=\"_x__.txt\"");
        assert!(attachment("a/...").is_none());
    }

    #[test]
    fn lengths_must_be_one_number() {
        let mut h = HeaderMap::new();
        assert_eq!(content_length(&h).ok(), Some(None));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert_eq!(content_length(&h).ok(), Some(Some(12)));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("+12"));
        assert!(content_length(&h).is_err());
    }
}
