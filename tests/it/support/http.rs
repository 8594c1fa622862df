//! An MCP client over streamable HTTP, written out by hand so that tests see every header
//! and status: a legacy session (2025-11-25: `initialize`, `notifications/initialized`,
//! `Mcp-Session-Id`) or stateless requests (2026-07-28: `server/discover`, then every request
//! carries its own `_meta` and the `Mcp-Method`/`Mcp-Name` headers), answers read from a JSON
//! body or an SSE stream.

use serde_json::{Value, json};

/// The protocol revision of legacy sessions.
pub const LEGACY: &str = "2025-11-25";
/// The protocol revision of stateless requests.
pub const STATELESS: &str = "2026-07-28";

/// The `initialize` request (id 0) a legacy client opens with.
pub fn initialize_request(client: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {},
                   "clientInfo": {"name": client, "version": "0"}}
    })
}

/// The JSON-RPC message with `id` in a body of type `content_type`: the first `data:` line of
/// an event stream that carries it, or the whole JSON body.
pub fn parse_rpc(content_type: &str, body: &str, id: u64) -> Value {
    if content_type.starts_with("text/event-stream") {
        for line in body.lines() {
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                && v.get("id") == Some(&json!(id))
            {
                return v;
            }
        }
        panic!("no response with id {id} in event stream: {body}");
    }
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// The `content-type` of a response, or "".
pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// One client of one `/mcp` endpoint.
pub struct McpHttp {
    http: reqwest::Client,
    url: String,
    /// Bearer token sent with every request.
    pub token: Option<String>,
    /// The legacy session, once `initialize` answered with one.
    pub session_id: Option<String>,
    /// The id of the next request.
    pub next_id: u64,
    protocol: &'static str,
    client: String,
}

impl McpHttp {
    /// A client that has not spoken yet (speaks the legacy revision); see [`McpHttp::legacy`]
    /// and [`McpHttp::stateless`].
    pub fn new(url: &str, token: Option<&str>) -> McpHttp {
        McpHttp {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            token: token.map(str::to_owned),
            session_id: None,
            next_id: 1,
            protocol: LEGACY,
            client: "bitatlas-tests".into(),
        }
    }

    /// Opens a legacy session: `initialize` (200 with a result), then
    /// `notifications/initialized` (2xx). Keeps the session id it was given.
    pub async fn legacy(url: &str, token: Option<&str>, client: &str) -> McpHttp {
        let mut s = McpHttp::new(url, token);
        s.client = client.to_owned();
        let resp = s
            .request(&initialize_request(client))
            .send()
            .await
            .expect("initialize");
        assert_eq!(resp.status(), 200, "initialize failed");
        s.session_id = resp
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().expect("session id").to_owned());
        let ct = content_type(&resp);
        let reply = parse_rpc(&ct, &resp.text().await.expect("body"), 0);
        assert!(reply.get("result").is_some(), "initialize: {reply}");
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = s.request(&note).send().await.expect("initialized");
        assert!(resp.status().is_success(), "initialized: {}", resp.status());
        s
    }

    /// A stateless client: asks `server/discover` (which must answer with a result) and sends
    /// the revision and capabilities in every request's `_meta` from then on.
    pub async fn stateless(url: &str, token: Option<&str>, client: &str) -> McpHttp {
        let mut s = McpHttp::new(url, token);
        s.protocol = STATELESS;
        s.client = client.to_owned();
        let reply = s.rpc("server/discover", json!({})).await;
        assert!(reply.get("result").is_some(), "server/discover: {reply}");
        s
    }

    /// A POST of `body` with the headers a client sends (accept, content type, revision,
    /// token, session).
    pub fn request(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", self.protocol)
            .body(body.to_string());
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if let Some(s) = &self.session_id {
            r = r.header("mcp-session-id", s);
        }
        if self.protocol == STATELESS {
            // The 2026-07-28 standard headers repeat the method (and a called tool's name) so
            // that intermediaries can route without reading the body.
            if let Some(method) = body["method"].as_str() {
                r = r.header("mcp-method", method);
                if method == "tools/call"
                    && let Some(tool) = body["params"]["name"].as_str()
                {
                    r = r.header("mcp-name", tool);
                }
            }
        }
        r
    }

    /// A JSON-RPC request with the next id (and, stateless, its `_meta`).
    pub fn message(&mut self, method: &str, mut params: Value) -> (u64, Value) {
        let id = self.next_id;
        self.next_id += 1;
        if self.protocol == STATELESS {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": self.client, "version": "0"},
            });
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        (id, body)
    }

    /// Sends one request (status 200) and returns the JSON-RPC reply with its id.
    pub async fn rpc(&mut self, method: &str, params: Value) -> Value {
        let (id, body) = self.message(method, params);
        let resp = self.request(&body).send().await.expect("send");
        assert_eq!(resp.status(), 200, "{method} call status");
        let ct = content_type(&resp);
        parse_rpc(&ct, &resp.text().await.expect("body"), id)
    }

    /// Calls a tool; returns the `result` object (with `structuredContent`, `isError`).
    pub async fn call(&mut self, tool: &str, args: Value) -> Value {
        let reply = self
            .rpc("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{tool}: {reply}"))
    }

    /// Calls a tool that must succeed; returns its `structuredContent`.
    pub async fn ok(&mut self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args).await;
        assert_ne!(r["isError"], json!(true), "{tool} failed: {r}");
        r["structuredContent"].clone()
    }

    /// Calls a tool that must fail; returns the `code` of its `structuredContent`.
    pub async fn err_code(&mut self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args).await;
        assert_eq!(r["isError"], json!(true), "{tool} should fail: {r}");
        r["structuredContent"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{tool}: no code in {r}"))
            .to_owned()
    }

    /// Calls a tool: `Ok` with its structured content (else its first text block read as
    /// JSON), `Err((code, text))` when it failed, the code taken from the structured content
    /// or else the text's first word.
    pub async fn outcome(&mut self, tool: &str, args: Value) -> Result<Value, (String, String)> {
        let result = self.call(tool, args).await;
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let structured = match &result["structuredContent"] {
            Value::Null => serde_json::from_str(&text).unwrap_or(Value::Null),
            v => v.clone(),
        };
        if result["isError"] == json!(true) {
            let code = structured["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| text.split([':', ' ']).next().unwrap_or("").to_owned());
            Err((code, text))
        } else {
            Ok(structured)
        }
    }
}
