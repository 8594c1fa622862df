//! A minimal MCP client over streamable HTTP (initialize, then requests), for benchmarks that
//! need a tool's answer from a `bitatlas serve --http` child rather than measure the calls.

use serde_json::{Value, json};

const PROTOCOL: &str = "2025-11-25";

/// One MCP session with a server at `url` (`http://HOST:PORT/mcp`).
pub struct HttpSession {
    http: reqwest::Client,
    url: String,
    session_id: Option<String>,
    next_id: u64,
}

#[allow(dead_code)]
impl HttpSession {
    /// Initializes a session (and keeps its id when the server gives one).
    pub async fn open(url: &str) -> HttpSession {
        let mut s = HttpSession {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            session_id: None,
            next_id: 1,
        };
        let (headers, _) = s
            .post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": PROTOCOL, "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}}),
            )
            .await;
        s.session_id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        s.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        s
    }

    async fn post(&self, body: Value) -> (reqwest::header::HeaderMap, String) {
        let mut r = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", PROTOCOL)
            .body(body.to_string());
        if let Some(id) = &self.session_id {
            r = r.header("mcp-session-id", id);
        }
        let resp = r.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "{status}: {text}");
        (headers, text)
    }

    /// Calls tool `name` and returns its structured result; panics on a tool error.
    pub async fn call(&mut self, name: &str, arguments: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let (headers, body) = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                         "params": {"name": name, "arguments": arguments}}))
            .await;
        let sse = headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let reply: Value = if sse {
            body.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v["id"] == json!(id))
                .unwrap_or_else(|| panic!("no response {id} in {body}"))
        } else {
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
        };
        let result = &reply["result"];
        assert!(result.is_object(), "{name}: {reply}");
        assert_ne!(result["isError"], json!(true), "{name}: {reply}");
        result["structuredContent"].clone()
    }
}
