//! One JSON body instead of an event stream, where that loses nothing.
//!
//! In a legacy (2025-11-25) session rmcp answers every POST with `text/event-stream`, even when
//! the stream will carry exactly one message, the response. Clients must accept both forms,
//! but they read them differently: the official Python SDK refuses any SSE event above 1 MiB,
//! so a `get` near the inline limit could never be read over a legacy session. When the first
//! message of the stream is the final response (no progress, no server request before it),
//! it is sent as one `application/json` body; otherwise the stream passes through untouched,
//! the bytes already read included.

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http::{HeaderValue, header};

/// Whether a response is worth the look: a successful event stream for a client that also
/// accepts JSON.
pub fn applies(accept: Option<&HeaderValue>, resp: &Response) -> bool {
    let accepts_json = accept
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let is_stream = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    accepts_json && is_stream && resp.status().is_success()
}

/// Reads the stream up to its first message; a final response becomes the whole JSON body.
pub async fn prefer_json(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let mut stream = body.into_data_stream();
    let mut seen = BytesMut::new();
    let mut scanned = 0;
    loop {
        // Complete events so far; the first one with data decides.
        while let Some((end, next)) = event_end(&seen[scanned..]) {
            let data = event_data(&seen[scanned..scanned + end]);
            scanned += next;
            match data {
                None => continue,
                Some(data) if is_final_response(&data) => {
                    parts.headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    parts.headers.remove(header::CACHE_CONTROL);
                    parts.headers.remove("x-accel-buffering");
                    return Response::from_parts(parts, Body::from(data));
                }
                Some(_) => return pass_through(parts, seen, stream),
            }
        }
        match stream.next().await {
            Some(Ok(chunk)) => seen.extend_from_slice(&chunk),
            // The stream ended or failed before a message: pass on what there was.
            Some(Err(_)) | None => return pass_through(parts, seen, stream),
        }
    }
}

fn pass_through(
    parts: http::response::Parts,
    seen: BytesMut,
    rest: axum::body::BodyDataStream,
) -> Response {
    let head = futures::stream::once(async move { Ok::<Bytes, axum::Error>(seen.freeze()) });
    Response::from_parts(parts, Body::from_stream(head.chain(rest)))
}

/// Where the first event in `buf` ends: (length of the event, length including the blank
/// line that ends it).
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = find(buf, b"\n\n").map(|i| (i, i + 2));
    let crlf = find(buf, b"\r\n\r\n").map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The data of one event, `None` for events without any (priming events, comments).
fn event_data(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Vec<u8> = Vec::new();
    let mut any = false;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            if any {
                data.push(b'\n');
            }
            data.extend_from_slice(rest);
            any = true;
        }
    }
    (any && !data.is_empty()).then_some(data)
}

/// A JSON-RPC response or error (has an id and a result or an error), not a notification or a
/// request.
fn is_final_response(data: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(serde_json::Value::Object(m)) => {
            m.contains_key("id")
                && !m.contains_key("method")
                && (m.contains_key("result") || m.contains_key("error"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(chunks: &[&'static str]) -> Response {
        let stream = futures::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<Bytes, std::io::Error>(Bytes::from_static(c.as_bytes())))
                .collect::<Vec<_>>(),
        );
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header("mcp-session-id", "s")
            .body(Body::from_stream(stream))
            .unwrap()
    }

    async fn body(resp: Response) -> (String, String) {
        let ct = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (ct, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_lone_response_becomes_json_across_chunk_boundaries() {
        let resp = sse(&[
            "id: 0\nretry: 3000\ndata:\n\n",
            "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,",
            "\"result\":{}}\n\n",
        ]);
        let (ct, text) = body(prefer_json(resp).await).await;
        assert_eq!(ct, "application/json");
        assert_eq!(text, r#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
    }

    #[tokio::test]
    async fn a_notification_first_keeps_the_stream_whole() {
        let chunks = [
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
        ];
        let (ct, text) = body(prefer_json(sse(&chunks)).await).await;
        assert_eq!(ct, "text/event-stream");
        assert_eq!(text, chunks.concat());
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_is_passed_on() {
        let (ct, text) = body(prefer_json(sse(&[": ping\n\n", "data: {\"id\""])).await).await;
        assert_eq!(ct, "text/event-stream");
        assert_eq!(text, ": ping\n\ndata: {\"id\"");
    }
}
