//! The cost of OAuth on a call: HTTP `get` of 1 KiB with an access token (an RFC 9068 JWT,
//! ES256, from an issuer whose JWKS this benchmark serves) against the same `get` with a
//! tenant's static token, on the same server, in alternating rounds. Target: the OAuth p50
//! within 10% of the static-token p50 (keys are cached, a verified token is not verified
//! again at every request).
//!
//! Run: `cargo bench --bench mcp_oauth`.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/report.rs"]
mod report;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use report::{Better, Report, percentile};
use serde_json::{Value, json};

const PROTOCOL: &str = "2025-11-25";
const ROUNDS: usize = 4;
const CALLS: usize = 500;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

struct Child_(Child);

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Session {
    http: reqwest::Client,
    url: String,
    token: String,
    id: Option<String>,
    next: u64,
}

impl Session {
    async fn open(url: &str, token: &str) -> Session {
        let mut s = Session {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            token: token.to_owned(),
            id: None,
            next: 1,
        };
        let (h, _) = s
            .post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": PROTOCOL, "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}}),
            )
            .await;
        s.id = h
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        s.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        s
    }

    async fn post(&self, body: Value) -> (reqwest::header::HeaderMap, String) {
        let mut r = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", PROTOCOL)
            .body(body.to_string());
        if let Some(id) = &self.id {
            r = r.header("mcp-session-id", id);
        }
        let resp = r.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "{status}: {text}");
        (headers, text)
    }

    async fn call(&mut self, tool: &str, args: Value) -> String {
        let id = self.next;
        self.next += 1;
        let (_, body) = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": tool, "arguments": args}}))
            .await;
        assert!(!body.contains("\"isError\":true"), "{tool}: {body}");
        body
    }
}

/// An issuer: an ES256 key, its JWKS served on a loopback port.
struct Issuer {
    url: String,
    pkcs8: Vec<u8>,
}

async fn issuer() -> Issuer {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect("key")
        .as_ref()
        .to_vec();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).expect("pair");
    let point = pair.public_key().as_ref();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "bench", "alg": "ES256",
        "use": "sig", "x": b64(&point[1..33]), "y": b64(&point[33..65])}]})
    .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { ([("content-type", "application/json")], jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer { url, pkcs8 }
}

fn access_token(issuer: &Issuer, audience: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench".into());
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"iss": issuer.url, "aud": audience, "sub": "bench", "tenant": "default",
        "scope": "read write", "iat": now, "exp": now + 3600});
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&issuer.pkcs8),
    )
    .expect("sign")
}

async fn latencies(s: &mut Session, items: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(CALLS);
    for n in 0..CALLS {
        let t = Instant::now();
        s.call("get", json!({"key": format!("bench/{}", n % items)}))
            .await;
        out.push(t.elapsed());
    }
    out
}

async fn bench() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issuer = issuer().await;
    let port = free_port();
    let mcp = format!("http://127.0.0.1:{port}/mcp");
    let static_token = bitatlas::transport::auth::generate_token().unwrap();
    let config = format!(
        "[http]\nrate_per_second = 1000000.0\nburst = 1000000\nmax_in_flight_per_tenant = 1024\n\n\
         [tenants.default]\nstore = \"local\"\ntokens = [\"{}\"]\n\n\
         [oauth]\nissuers = [{{ issuer = \"{}\", audience = \"{mcp}\", jwks_uri = \"{}/jwks\" }}]\n",
        bitatlas::transport::auth::token_hash_line(&static_token),
        issuer.url,
        issuer.url,
    );
    let path = dir.path().join("bitatlas.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(bin::release_bitatlas())
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start bitatlas");
    let _server = Child_(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let oauth_token = access_token(&issuer, &mcp);
    let mut by_static = Session::open(&mcp, &static_token).await;
    let mut by_oauth = Session::open(&mcp, &oauth_token).await;
    let items = 100;
    for i in 0..items {
        let text = format!("{i:05} {}", "x".repeat(1018));
        by_static
            .call("put", json!({"key": format!("bench/{i}"), "text": text}))
            .await;
    }
    // Warm both (the first OAuth call fetches the JWKS).
    latencies(&mut by_static, items).await;
    latencies(&mut by_oauth, items).await;
    let (mut s, mut o) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        s.extend(latencies(&mut by_static, items).await);
        o.extend(latencies(&mut by_oauth, items).await);
    }
    s.sort();
    o.sort();
    let mut report = Report::new("mcp_oauth");
    for (p, label) in [(0.5, "p50"), (0.99, "p99")] {
        report.compare(
            &format!("http_get_1KiB_oauth_{label}"),
            percentile(&o, p).as_secs_f64() * 1e3,
            "ms",
            &format!("static_token_{label}"),
            percentile(&s, p).as_secs_f64() * 1e3,
            Better::Lower,
        );
    }
    report.save();
}

fn main() {
    if !report::benchmarking("mcp_oauth") {
        return;
    }
    tokio::runtime::Runtime::new()
        .expect("tokio runtime")
        .block_on(bench());
}
