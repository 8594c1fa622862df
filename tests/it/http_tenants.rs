//! Multi-tenant HTTP: the real `bitatlas` binary with bearer tokens, spoken to over plain HTTP
//! with MCP JSON-RPC written by hand (initialize -> notifications/initialized -> tools/call).
//!
//! Covers tenant isolation, 401 for missing/wrong/revoked tokens, 403 for a foreign Origin,
//! 413 for an oversized body, 429 from the rate limit, /readyz and /metrics, and the audit
//! trail (denials recorded, no token anywhere).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::bin;
use crate::support::config::Config;
use crate::support::http::{LEGACY as PROTOCOL, McpHttp, content_type, parse_rpc};
use crate::support::server::{Serve, Server};

/// Creates a token with the CLI: (token, hash line for the config).
fn create_token(tenant: &str) -> (String, String) {
    let out = bin::run(&["tokens", "create", "--tenant", tenant]);
    assert!(out.status.success(), "tokens create failed");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("bat_"), "unexpected token shape");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains(&token), "the token must only go to stdout");
    let start = stderr.find("sha256:").expect("hash line on stderr");
    let hash = stderr[start..start + 7 + 64].to_owned();
    (token, hash)
}

async fn start(config: &Path, data_dir: &Path) -> Server {
    Serve::on(data_dir)
        .config(config)
        .http()
        .env("BITATLAS_LOG", "info")
        .start()
        .await
}

/// A legacy session of the tenant holding `token`.
async fn open(server: &Server, token: Option<&str>) -> McpHttp {
    McpHttp::legacy(&server.mcp(), token, "http-tenants-test").await
}

/// One local store and the tenants given (name, token hash), plus `extra` (e.g. `[http]`).
fn write_config(path: &Path, tenants: &[(&str, &str)], extra: Config) -> PathBuf {
    let mut config = extra.local_store("local", &path.parent().unwrap().join("objects"), "DE");
    for (tenant, hash) in tenants {
        config = config.tenant_with_token(tenant, "local", hash);
    }
    config.write(path)
}

async fn post_raw(
    server: &Server,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: String,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(server.mcp())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

fn initialize_body() -> String {
    crate::support::http::initialize_request("t").to_string()
}

async fn assert_unauthorized(resp: reqwest::Response, token_given: bool) {
    assert_eq!(resp.status(), 401);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"bitatlas\""),
        "{challenge}"
    );
    assert_eq!(challenge.contains("error=\"invalid_token\""), token_given);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_and_tokens_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("bitatlas.toml");
    let (token_a, hash_a) = create_token("alpha");
    let (token_b, hash_b) = create_token("beta");
    write_config(
        &config,
        &[("alpha", &hash_a), ("beta", &hash_b)],
        Config::new(),
    );
    let server = start(&config, &data).await;

    let mut a = open(&server, Some(&token_a)).await;
    let mut b = open(&server, Some(&token_b)).await;

    a.ok(
        "put",
        json!({"key": "same/key", "text": "alpha's data", "metadata": {"owner": "alpha"}}),
    )
    .await;
    assert_eq!(
        a.ok("get", json!({"key": "same/key"})).await["data"],
        "alpha's data"
    );

    // B sees nothing of A's.
    assert_eq!(
        b.err_code("get", json!({"key": "same/key"})).await,
        "NOT_FOUND"
    );
    assert_eq!(b.ok("list", json!({})).await["objects"], json!([]));
    assert_eq!(
        b.ok("search", json!({"pattern": "**"})).await["matches"],
        json!([])
    );
    assert_eq!(
        b.ok("search", json!({"metadata": {"owner": "alpha"}}))
            .await["matches"],
        json!([])
    );
    assert_eq!(
        b.ok("delete", json!({"key": "same/key"})).await["deleted"],
        json!(false)
    );
    assert_eq!(
        a.ok("get", json!({"key": "same/key"})).await["data"],
        "alpha's data"
    );
    assert_eq!(
        b.err_code("presign", json!({"key": "same/key", "method": "GET"}))
            .await,
        "UNSUPPORTED"
    );

    // Same key, different data: each tenant reads its own.
    b.ok("put", json!({"key": "same/key", "text": "beta's data"}))
        .await;
    assert_eq!(
        a.ok("get", json!({"key": "same/key"})).await["data"],
        "alpha's data"
    );
    assert_eq!(
        b.ok("get", json!({"key": "same/key"})).await["data"],
        "beta's data"
    );
    assert_eq!(
        a.ok("list", json!({})).await["objects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // No token, a wrong token, a token-shaped garbage token: 401.
    assert_unauthorized(post_raw(&server, None, &[], initialize_body()).await, false).await;
    assert_unauthorized(
        post_raw(&server, Some("bat_wrong"), &[], initialize_body()).await,
        true,
    )
    .await;
    let mut stolen_session = McpHttp::new(&server.mcp(), None);
    stolen_session.session_id = a.session_id.clone();
    stolen_session.next_id = 100;
    let resp = stolen_session
        .request(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp, false).await;
    stolen_session.token = Some(token_a.clone() + "x");
    let resp = stolen_session
        .request(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp, true).await;

    // A browser page from elsewhere: 403, even with a valid token.
    let resp = post_raw(
        &server,
        Some(&token_a),
        &[("origin", "https://evil.example")],
        initialize_body(),
    )
    .await;
    assert_eq!(resp.status(), 403);

    // An over-cap body: 413 (default cap is about 4/3 of 8 MiB plus envelope room).
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{{\"name\":\"put\",\"arguments\":{{\"key\":\"big\",\"text\":\"{}\"}}}}}}",
        "x".repeat(12 * 1024 * 1024)
    );
    let resp = post_raw(
        &server,
        Some(&token_a),
        &[
            ("mcp-session-id", a.session_id.as_deref().unwrap_or("")),
            ("mcp-protocol-version", PROTOCOL),
        ],
        big,
    )
    .await;
    assert_eq!(resp.status(), 413);

    // Readiness and metrics (anonymised: no tenant names).
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{}/readyz", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = http
        .get(format!("{}/metrics", server.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("bitatlas_tool_calls_total{tool=\"get\",code=\"NOT_FOUND\"} 1"));
    assert!(metrics.contains("bitatlas_tool_calls_total{tool=\"put\",code=\"OK\"} 2"));
    assert!(
        metrics.contains("bitatlas_auth_failures_total 4"),
        "{metrics}"
    );
    assert!(metrics.contains("bitatlas_tool_call_duration_seconds_count{tool=\"get\"}"));
    assert!(!metrics.contains("alpha") && !metrics.contains("beta"));

    let log = server.stop();
    for token in [&token_a, &token_b] {
        assert!(!log.contains(token.as_str()), "token in the server log");
    }

    // Remove beta from the configuration: its token stops working; alpha's still works.
    write_config(&config, &[("alpha", &hash_a)], Config::new());
    let server = start(&config, &data).await;
    assert_unauthorized(
        post_raw(&server, Some(&token_b), &[], initialize_body()).await,
        true,
    )
    .await;
    let mut a = open(&server, Some(&token_a)).await;
    assert_eq!(
        a.ok("get", json!({"key": "same/key"})).await["data"],
        "alpha's data"
    );
    let log = server.stop();
    assert!(!log.contains(token_b.as_str()));

    // The audit trail has the denials and no token.
    let audit = std::fs::read_to_string(data.join("audit/audit.jsonl")).unwrap();
    let denials = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["tool"] == "auth" && r["code"] == "UNAUTHORIZED")
        .count();
    assert_eq!(denials, 5, "one audit record per refused request");
    for token in [&token_a, &token_b] {
        assert!(!audit.contains(token.as_str()), "token in the audit trail");
    }
    let verify = bin::run(&["audit", "verify", bin::s(&data.join("audit/audit.jsonl"))]);
    assert!(
        verify.status.success(),
        "audit chain: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_rate_limit_gets_429() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("bitatlas.toml");
    let (token, hash) = create_token("solo");
    write_config(
        &config,
        &[("solo", &hash)],
        Config::new().http("rate_per_second", 0.5).http("burst", 4),
    );
    let server = start(&config, &data).await;
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..8 {
        let resp = post_raw(&server, Some(&token), &[], initialize_body()).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 && refused.is_none() {
            refused = Some(resp);
        }
    }
    assert_eq!(&statuses[..4], &[200, 200, 200, 200], "{statuses:?}");
    let resp = refused.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    let metrics = reqwest::get(format!("{}/metrics", server.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every refusal is counted. Four when the eight requests take under two seconds; a slow
    // machine refills a token (0.5/s) meanwhile, so the count is the 429s actually seen.
    let refusals = statuses.iter().filter(|&&s| s == 429).count();
    assert!(
        metrics.contains(&format!("bitatlas_rate_limited_total {refusals}\n")),
        "{refusals} refusals in {statuses:?}: {metrics}"
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 429),
        "{statuses:?}"
    );
    server.stop();
}

#[test]
fn unsafe_http_setups_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| bin::serve_once(&data, args);
    // No tokens: refuse a non-loopback bind.
    let out = run(&["--http", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without authentication"));
    // Tokens but no allowed Host: refuse too.
    let config = dir.path().join("bitatlas.toml");
    let (_token, hash) = create_token("solo");
    write_config(&config, &[("solo", &hash)], Config::new());
    let out = run(&["--config", config.to_str().unwrap(), "--http", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allowed-host"));
    // A limit that would switch itself off is refused.
    write_config(
        &config,
        &[("solo", &hash)],
        Config::new().http("rate_per_second", 0.0),
    );
    let out = run(&[
        "--config",
        config.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate_per_second"));
}

/// A legacy (2025-11-25) session belongs to the tenant that created it. Tenant B, holding A's
/// session id and its own valid token, races A's large `get`: B's stream resumption, posts
/// into the session (reusing A's JSON-RPC id) and DELETE all get 404 and nothing of A's data,
/// while A's call is answered and A's session keeps working. The id never reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_id_is_useless_to_another_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("bitatlas.toml");
    let (token_a, hash_a) = create_token("alpha");
    let (token_b, hash_b) = create_token("beta");
    write_config(
        &config,
        &[("alpha", &hash_a), ("beta", &hash_b)],
        Config::new(),
    );
    let server = start(&config, &data).await;

    let mut a = open(&server, Some(&token_a)).await;
    let session_id = a.session_id.clone().expect("a legacy session id");
    let secret = "alpha-secret-".repeat(200_000);
    a.ok("put", json!({"key": "big.txt", "text": secret})).await;

    let http = reqwest::Client::new();
    let thief = |method: reqwest::Method, last_event: Option<&str>| {
        let mut r = http
            .request(method, server.mcp())
            .bearer_auth(&token_b)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", PROTOCOL)
            .header("mcp-session-id", &session_id);
        if let Some(id) = last_event {
            r = r.header("last-event-id", id);
        }
        r
    };
    let id = a.next_id;
    let get_a = {
        let body = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "get", "arguments": {"key": "big.txt"}}
        });
        let req = a.request(&body);
        tokio::spawn(async move {
            let resp = req.send().await.unwrap();
            let ct = content_type(&resp);
            (resp.status(), ct, resp.text().await.unwrap())
        })
    };
    a.next_id += 1;
    let mut stolen = Vec::new();
    for last_event in [
        None,
        Some("0"),
        Some(format!("{id}/0").as_str()),
        Some("1/0"),
    ] {
        let resp = thief(reqwest::Method::GET, last_event)
            .send()
            .await
            .unwrap();
        stolen.push((
            format!("GET {last_event:?}"),
            resp.status(),
            resp.text().await.unwrap(),
        ));
    }
    let reuse = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "get", "arguments": {"key": "big.txt"}}
    });
    let resp = thief(reqwest::Method::POST, None)
        .body(reuse.to_string())
        .send()
        .await
        .unwrap();
    stolen.push(("POST".into(), resp.status(), resp.text().await.unwrap()));
    let resp = thief(reqwest::Method::DELETE, None).send().await.unwrap();
    stolen.push(("DELETE".into(), resp.status(), resp.text().await.unwrap()));
    for (what, status, body) in &stolen {
        assert_eq!(*status, 404, "{what} with a foreign session id: {body}");
        assert!(!body.contains("alpha-secret"), "{what} leaked A's data");
    }

    let (status, ct, body) = get_a.await.unwrap();
    assert_eq!(status, 200);
    let reply = parse_rpc(&ct, &body, id);
    assert_eq!(reply["result"]["structuredContent"]["data"], json!(secret));
    // B's DELETE did not close A's session.
    assert_eq!(
        a.ok("list", json!({})).await["objects"][0]["key"],
        "big.txt"
    );
    // A may close its own session; then the id is dead for A too.
    let resp = http
        .delete(server.mcp())
        .bearer_auth(&token_a)
        .header("mcp-protocol-version", PROTOCOL)
        .header("mcp-session-id", &session_id)
        .send()
        .await
        .unwrap();
    // Done, not "accepted": the session is gone when the answer comes.
    assert_eq!(resp.status(), 204, "A's DELETE");
    let resp = a
        .request(&json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let log = server.stop();
    assert!(!log.contains(&session_id), "session id in the server log");
}

/// Stateless requests (2026-07-28) belong to no session: each one is authenticated on its own
/// token, and a tenant reaches the same objects statelessly as through a legacy session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_requests_are_authenticated_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("bitatlas.toml");
    let (token_a, hash_a) = create_token("alpha");
    let (token_b, hash_b) = create_token("beta");
    write_config(
        &config,
        &[("alpha", &hash_a), ("beta", &hash_b)],
        Config::new(),
    );
    let server = start(&config, &data).await;

    let mut a = McpHttp::stateless(&server.mcp(), Some(&token_a), "http-tenants-test").await;
    a.ok("put", json!({"key": "s/k", "text": "alpha, stateless"}))
        .await;
    let mut legacy = open(&server, Some(&token_a)).await;
    assert_eq!(
        legacy.ok("get", json!({"key": "s/k"})).await["data"],
        "alpha, stateless"
    );
    let mut b = McpHttp::stateless(&server.mcp(), Some(&token_b), "http-tenants-test").await;
    assert_eq!(b.err_code("get", json!({"key": "s/k"})).await, "NOT_FOUND");

    // The same stateless request without a token, or with a wrong one: 401.
    let (_, body) = a.message("tools/call", json!({"name": "list", "arguments": {}}));
    let good = a.token.take();
    for token in [None, Some("bat_wrong".to_owned())] {
        a.token = token.clone();
        let resp = a.request(&body).send().await.unwrap();
        assert_unauthorized(resp, token.is_some()).await;
    }
    a.token = good;
    assert_eq!(
        a.ok("list", json!({})).await["objects"][0]["key"],
        "s/k",
        "the refusals left the tenant's next request alone"
    );
    let log = server.stop();
    assert!(!log.contains(token_a.as_str()), "token in the server log");
}
