//! The HTTP boundary of the real `bitatlas` binary, spoken to over raw TCP: request targets,
//! Host and Origin values, paths and bodies that must be refused with a typed JSON answer, and
//! the inputs the docs promise to refuse or to accept (keys, metadata, cursors) end to end.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::http::{self, LEGACY as PROTOCOL, McpHttp};
use crate::support::server::{Serve, Server};

/// Zero-config server on a loopback port (no tokens: loopback callers are the default
/// tenant), with the extra `serve` arguments given.
async fn start(extra: &[&str]) -> Server {
    Serve::new()
        .http()
        .args(extra)
        .env("BITATLAS_LOG", "info")
        .start()
        .await
}

/// Requests written byte for byte on a fresh connection.
trait RawHttp {
    /// Sends `head` (request line and headers, each ending in CRLF, without the blank line)
    /// and `body` as written, and reads the whole answer.
    async fn raw(&self, head: &str, body: &str) -> std::io::Result<Raw>;

    /// A POST to `/mcp` with the headers an MCP client sends, plus `extra` header lines.
    async fn post(&self, extra: &str, body: &str) -> Raw;
}

impl RawHttp for Server {
    async fn raw(&self, head: &str, body: &str) -> std::io::Result<Raw> {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port())).await?;
        let request = format!(
            "{head}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await?;
        let mut bytes = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut bytes))
            .await
            .map_err(|_| std::io::Error::other("timed out"))??;
        Ok(Raw::parse(&bytes))
    }

    async fn post(&self, extra: &str, body: &str) -> Raw {
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/json, \
             text/event-stream\r\nContent-Type: application/json\r\n\
             Mcp-Protocol-Version: {PROTOCOL}\r\n{extra}",
            self.port()
        );
        self.raw(&head, body).await.expect("answer")
    }
}

/// One HTTP/1.1 answer.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Raw {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {text}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Raw {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "not a JSON answer: {self:?}"
        );
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }

    /// The JSON-RPC message with `id` in a JSON or SSE body.
    fn rpc(&self, id: u64) -> Value {
        match self.header("content-type") {
            Some(ct) if ct.starts_with("text/event-stream") => http::parse_rpc(ct, &self.body, id),
            _ => self.json(),
        }
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

fn initialize() -> String {
    http::initialize_request("http-boundary-test").to_string()
}

fn assert_refused(r: &Raw, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    let v = r.json();
    assert_eq!(v["code"], code, "{what}: {v}");
    assert!(v["message"].is_string(), "{what}: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_targets_paths_and_origins_are_refused_with_json() {
    let server = start(&["--allow-origin", "https://app.example.com"]).await;
    let port = server.port();
    let accept = "Accept: application/json, text/event-stream\r\n\
                  Content-Type: application/json\r\n";

    // The well-formed request passes (and so does the portless origin on its default port).
    let ok = server.post("", &initialize()).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let ok = server
        .post("Origin: https://app.example.com\r\n", &initialize())
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");

    for (host, what) in [
        ("evil.com:80@localhost".to_string(), "userinfo-shaped Host"),
        ("localhost:abc".to_string(), "non-numeric port"),
        ("localhost:".to_string(), "empty port"),
        (format!("localhost:0{port}"), "zero-padded port"),
        ("127.1".to_string(), "short IPv4"),
        ("evil.example".to_string(), "foreign Host"),
        ("localhost.".to_string(), "trailing dot"),
    ] {
        let head = format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n{accept}");
        let r = server.raw(&head, &initialize()).await.unwrap();
        assert_refused(&r, 403, "FORBIDDEN_HOST", what);
    }
    let head =
        format!("POST /mcp HTTP/1.1\r\nHost: localhost:{port}\r\nHost: evil.example\r\n{accept}");
    let r = server.raw(&head, &initialize()).await.unwrap();
    assert_refused(&r, 403, "FORBIDDEN_HOST", "second Host header");
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost:{port}\r\nHost: localhost:{port}\r\n{accept}"
    );
    let r = server.raw(&head, &initialize()).await.unwrap();
    assert_refused(&r, 403, "FORBIDDEN_HOST", "repeated Host header");
    let r = server
        .raw(&format!("POST /mcp HTTP/1.1\r\n{accept}"), &initialize())
        .await
        .unwrap();
    assert!(
        r.status == 400 || r.status == 403,
        "missing Host header: {r:?}"
    );

    // Absolute-form targets: the authority would override Host.
    for target in [
        "http://evil.example/mcp",
        &format!("http://localhost:{port}/mcp"),
    ] {
        let head = format!("POST {target} HTTP/1.1\r\nHost: localhost:{port}\r\n{accept}");
        let r = server.raw(&head, &initialize()).await.unwrap();
        assert_refused(&r, 400, "INVALID_REQUEST_TARGET", target);
    }

    // Only /mcp is MCP.
    for path in ["/mcp/x", "/mcp/", "/mcp/mcp", "/mcpx", "/MCP"] {
        let head = format!("POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\n{accept}");
        let r = server.raw(&head, &initialize()).await.unwrap();
        assert_refused(&r, 404, "NOT_FOUND", path);
    }

    // A portless allowed origin matches only the scheme's default port.
    for origin in [
        "https://app.example.com:8443",
        "https://app.example.com:444",
        "http://app.example.com",
        "https://evil.example",
        "https://app.example.com.evil.example",
        "null",
        "https://app.example.com/",
    ] {
        let r = server
            .post(&format!("Origin: {origin}\r\n"), &initialize())
            .await;
        assert_refused(&r, 403, "FORBIDDEN_ORIGIN", origin);
    }
    let r = server
        .post(
            "Origin: https://app.example.com\r\nOrigin: https://evil.example\r\n",
            &initialize(),
        )
        .await;
    assert_refused(&r, 403, "FORBIDDEN_ORIGIN", "two Origin headers");

    let log = server.log_text();
    assert!(
        !log.contains("evil.com:80@localhost"),
        "raw Host values stay out of the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_batch_bodies_get_json_rpc_errors() {
    let server = start(&[]).await;
    for (body, code, what) in [
        ("{\"jsonrpc\":\"2.0\",\"id\":1,", -32700, "truncated JSON"),
        ("not json", -32700, "not JSON"),
        ("", -32700, "empty body"),
        ("{\"jsonrpc\":\"2.0\"} trailing", -32700, "trailing garbage"),
        (
            "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
            -32600,
            "batch",
        ),
        ("[]", -32600, "empty batch"),
        ("[{\"jsonrpc\":", -32700, "broken batch"),
        ("\"hello\"", -32600, "string"),
        ("42", -32600, "number"),
        ("null", -32600, "null"),
        ("{\"foo\":1}", -32600, "object that is not JSON-RPC"),
        (
            "{\"jsonrpc\":\"1.0\",\"method\":\"ping\"}",
            -32600,
            "wrong version",
        ),
    ] {
        let r = server.post("", body).await;
        assert_eq!(r.status, 400, "{what}: {r:?}");
        let v = r.json();
        assert_eq!(v["jsonrpc"], "2.0", "{what}: {v}");
        assert_eq!(v["id"], Value::Null, "{what}: {v}");
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(v["error"]["message"].is_string(), "{what}: {v}");
    }
    // An object with a valid id that is still not a JSON-RPC message: the id comes back.
    let r = server
        .post("", "{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}")
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["id"], 7, "{r:?}");
    assert_eq!(r.json()["error"]["code"], -32600, "{r:?}");
    // A wrong media type is a typed JSON answer too.
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost:{}\r\nAccept: application/json, \
         text/event-stream\r\nContent-Type: text/plain\r\n",
        server.port()
    );
    let r = server.raw(&head, &initialize()).await.unwrap();
    assert_refused(&r, 415, "UNSUPPORTED_MEDIA_TYPE", "text/plain body");
    // And the server still answers a good request afterwards.
    let r = server.post("", &initialize()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.rpc(0).get("result").is_some());
}

/// The default body cap: 8 MiB inline as base64 plus 256 KiB of envelope.
const BODY_CAP: u64 = (8 * 1024 * 1024 / 3 + 1) * 4 + 256 * 1024;

/// Posts `body` on a session with an HTTP client that keeps reading while the server answers
/// before the whole body was sent.
async fn post_big(server: &Server, session: &str, body: String) -> (u16, String, Value) {
    let resp = reqwest::Client::new()
        .post(server.mcp())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", PROTOCOL)
        .header("mcp-session-id", session)
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.text().await.expect("a body");
    let value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (status, content_type, value)
}

fn big_put(id: Option<Value>, id_first: bool) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 9 * 1024 * 1024]);
    let params = json!({"name": "put", "arguments": {"key": "big/file.bin", "base64": b64}});
    let mut text = String::from("{\"jsonrpc\":\"2.0\",");
    if let (Some(id), true) = (&id, id_first) {
        text.push_str(&format!("\"id\":{id},"));
    }
    text.push_str(&format!("\"method\":\"tools/call\",\"params\":{params}"));
    if let (Some(id), false) = (&id, id_first) {
        text.push_str(&format!(",\"id\":{id}"));
    }
    text.push('}');
    assert!(text.len() as u64 > BODY_CAP);
    text
}

fn assert_too_large(status: u16, content_type: &str, v: &Value, id: Value) {
    assert_eq!(status, 413, "{v}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], id, "{v}");
    assert_eq!(v["error"]["code"], -32600, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("TOO_LARGE: the request body is "),
        "{message}"
    );
    assert!(
        message.contains(&format!("HTTP limit of {BODY_CAP} bytes")),
        "{message}"
    );
    for hint in ["transfer", "range", "put {key, path}", "save_to"] {
        assert!(message.contains(hint), "{hint}: {message}");
    }
    assert_eq!(
        v["error"]["data"],
        json!({
            "code": "TOO_LARGE",
            "limit": BODY_CAP,
            "max_inline_bytes": 8 * 1024 * 1024,
            "alternatives": ["range", "path", "save_to", "transfer"],
        }),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_a_json_rpc_too_large_error() {
    let server = start(&[]).await;
    let mut s = McpHttp::legacy(&server.mcp(), None, "http-boundary-test").await;
    let session = s.session_id.clone().unwrap_or_default();
    // The id read before the cap comes back; one after the payload cannot be seen: null.
    let (status, ct, v) = post_big(&server, &session, big_put(Some(json!("big-1")), true)).await;
    assert_too_large(status, &ct, &v, json!("big-1"));
    let (status, ct, v) = post_big(&server, &session, big_put(Some(json!(2)), false)).await;
    assert_too_large(status, &ct, &v, Value::Null);
    // Nothing was stored, and the session still works.
    let listed = s.outcome("list", json!({})).await.expect("list");
    assert_eq!(listed["objects"], json!([]), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_metadata_and_cursors_end_to_end() {
    let server = start(&[]).await;
    let mut s = McpHttp::legacy(&server.mcp(), None, "http-boundary-test").await;

    // Keys: invisible, format and bidi characters, whitespace-only names and NFD spellings.
    for key in [
        "a\u{2060}b",
        "soft\u{00AD}hyphen",
        "x\u{061C}y",
        "line\u{2028}sep",
        "para\u{2029}sep",
        "\u{3164}",
        "\u{0301}mark",
        " ",
        "docs/ /x",
        "cafe\u{0301}.txt",
    ] {
        let e = s.outcome("put", json!({"key": key, "text": "x"})).await;
        let (code, _) = e.expect_err(key);
        assert_eq!(code, "INVALID_KEY", "{key:?}");
    }
    s.outcome("put", json!({"key": "caf\u{00E9}.txt", "text": "nfc"}))
        .await
        .expect("NFC key");
    let (code, _) = s
        .outcome("list", json!({"prefix": "cafe\u{0301}"}))
        .await
        .expect_err("NFD prefix");
    assert_eq!(code, "INVALID_ARGUMENT");

    // Metadata: the 16 values of 1 KiB is a typed INVALID_ARGUMENT naming the limit.
    let big: serde_json::Map<String, Value> = (0..16)
        .map(|i| (format!("k{i}"), json!("v".repeat(1024))))
        .collect();
    let (code, message) = s
        .outcome(
            "put",
            json!({"key": "meta/too-big", "text": "x", "metadata": big}),
        )
        .await
        .expect_err("over the total");
    assert_eq!(code, "INVALID_ARGUMENT", "{message}");
    assert!(message.contains("12288"), "{message}");
    // The largest documented metadata (32 entries, 12 KiB of names and values, some values of
    // 1024 bytes) with the longest key and content type round-trips.
    let mut meta = serde_json::Map::new();
    let mut left = 12 * 1024usize;
    for i in 0..32 {
        let name = format!("n{i:02}{}", "x".repeat(125));
        let after = 31 - i;
        let len = (left - name.len() - after * 128).min(1024);
        left -= name.len() + len;
        meta.insert(
            name,
            json!("\u{00E9}".repeat(len / 2) + &"v".repeat(len % 2)),
        );
    }
    assert_eq!(left, 0);
    let key = format!("meta/{}", "k".repeat(1024 - 5));
    let content_type = format!("text/{}", "p".repeat(250));
    s.outcome(
        "put",
        json!({"key": key, "text": "hello", "content_type": content_type, "metadata": meta}),
    )
    .await
    .expect("largest metadata");
    let got = s.outcome("get", json!({"key": key})).await.expect("get");
    assert_eq!(got["metadata"], Value::Object(meta));
    assert_eq!(got["content_type"], content_type);

    // Cursors: sealed, so the last key is nowhere in them; they still page; tampered ones fail.
    for k in ["patients/jane-doe", "patients/john-roe", "patients/zed-poe"] {
        s.outcome("put", json!({"key": k, "text": "x"}))
            .await
            .expect("put");
    }
    let page = s
        .outcome("list", json!({"prefix": "patients", "limit": 1}))
        .await
        .expect("page 1");
    assert_eq!(page["objects"][0]["key"], "patients/jane-doe");
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&cursor)
        .expect("base64url");
    for needle in ["jane", "patients", "doe"] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} readable in the cursor"
        );
    }
    let page2 = s
        .outcome(
            "list",
            json!({"prefix": "patients", "limit": 1, "cursor": cursor}),
        )
        .await
        .expect("page 2");
    assert_eq!(page2["objects"][0]["key"], "patients/john-roe");
    let found = s
        .outcome(
            "search",
            json!({"prefix": "patients", "pattern": "**", "limit": 2}),
        )
        .await
        .expect("search");
    let scursor = found["next_cursor"]
        .as_str()
        .expect("search cursor")
        .to_owned();
    // A list cursor is not a search cursor, and a flipped byte is refused.
    let (code, _) = s
        .outcome(
            "search",
            json!({"prefix": "patients", "pattern": "**", "limit": 2, "cursor": cursor}),
        )
        .await
        .expect_err("foreign cursor");
    assert_eq!(code, "INVALID_ARGUMENT");
    let mut bad = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&scursor)
        .unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let bad = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bad);
    let (code, _) = s
        .outcome(
            "search",
            json!({"prefix": "patients", "pattern": "**", "limit": 2, "cursor": bad}),
        )
        .await
        .expect_err("tampered cursor");
    assert_eq!(code, "INVALID_ARGUMENT");
}
