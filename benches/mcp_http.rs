//! MCP over streamable HTTP, measured from a client's side: 1 KiB `put`/`get` call latency
//! (p50/p99, one client) and `get` calls/s with 1, 8 and 32 concurrent clients. The baseline
//! is the JSON-RPC `ping` method on the same server, so each ratio shows what storage costs
//! above the transport floor (HTTP, session lookup, rate limiter, JSON-RPC).
//!
//! Client and server share this machine's cores.
//!
//! Run: `cargo bench --bench mcp_http`.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/report.rs"]
mod report;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use report::{Better, Report, percentile};
use serde_json::{Value, json};

const PROTOCOL: &str = "2025-11-25";
const CALLS: usize = 2000;
const ITEMS: usize = 500;
/// Calls per concurrency level, split evenly across the clients.
const THROUGHPUT_CALLS: usize = 4096;

/// The per-tenant limits default to 50 requests/s (burst 100) and 32 in flight, which would
/// throttle the benchmark with 429s: this configuration raises them far above what it sends.
const CONFIG: &str = "[http]\n\
    rate_per_second = 1000000.0\n\
    burst = 1000000\n\
    max_in_flight_per_tenant = 1024\n";

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `bin serve --http` on a free loopback port (no tokens: the loopback default
    /// tenant) and waits for `/healthz`.
    async fn start(bin: &Path, dir: &Path) -> Server {
        let config = dir.join("bitatlas.toml");
        std::fs::write(&config, CONFIG).expect("write config");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--http", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bitatlas");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("server exited with {status}");
            }
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server {
            child,
            url: format!("{base}/mcp"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A hand-written MCP session over streamable HTTP, with its own connection pool.
struct Session {
    http: reqwest::Client,
    url: String,
    session_id: Option<String>,
    next_id: u64,
}

impl Session {
    async fn open(url: &str) -> Session {
        let mut s = Session {
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
            .map(|v| v.to_str().expect("session id").to_owned());
        s.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        s
    }

    /// Posts one message; returns the headers and body of a successful response.
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

    /// Sends a request and returns its `result`.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let (headers, body) = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let sse = headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let reply = if sse {
            body.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v["id"] == json!(id))
                .unwrap_or_else(|| panic!("no response {id} in {body}"))
        } else {
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
        };
        assert_eq!(reply["id"], json!(id), "{reply}");
        assert!(reply["result"].is_object(), "{method}: {reply}");
        reply["result"].clone()
    }

    async fn ping(&mut self) {
        self.request("ping", json!({})).await;
    }

    async fn put(&mut self, i: usize, text: &str) {
        let args = json!({"key": format!("bench/{i}"), "text": text});
        let r = self
            .request("tools/call", json!({"name": "put", "arguments": args}))
            .await;
        assert_ne!(r["isError"], json!(true), "put: {r}");
    }

    async fn get(&mut self, i: usize, want: &str) {
        let args = json!({"key": format!("bench/{i}")});
        let r = self
            .request("tools/call", json!({"name": "get", "arguments": args}))
            .await;
        assert_ne!(r["isError"], json!(true), "get: {r}");
        assert_eq!(r["structuredContent"]["data"], json!(want), "read back {i}");
    }
}

/// The 1 KiB text of item `i` (distinct per item, so a read of the wrong item is caught).
fn text(i: usize) -> String {
    let head = format!("item {i:05} ");
    head.clone() + &"x".repeat(1024 - head.len())
}

#[derive(Clone, Copy)]
enum Op {
    Ping,
    Put,
    Get,
}

async fn run(s: &mut Session, op: Op, n: usize, texts: &[String]) {
    let i = n % ITEMS;
    match op {
        Op::Ping => s.ping().await,
        Op::Put => s.put(i, &texts[i]).await,
        Op::Get => s.get(i, &texts[i]).await,
    }
}

/// Sorted latencies of `CALLS` sequential calls on one session.
async fn latencies(s: &mut Session, op: Op, texts: &[String]) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(CALLS);
    for n in 0..CALLS {
        let t = Instant::now();
        run(s, op, n, texts).await;
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

/// Calls/s of `clients` sessions together doing `THROUGHPUT_CALLS` calls of `op`; each
/// session is opened and warmed up before the clock starts.
async fn calls_per_second(url: &str, clients: usize, op: Op, texts: &[String]) -> f64 {
    let per_client = THROUGHPUT_CALLS / clients;
    let mut sessions = Vec::new();
    for c in 0..clients {
        let mut s = Session::open(url).await;
        for n in 0..4 {
            run(&mut s, op, c + n, texts).await;
        }
        sessions.push(s);
    }
    let t = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(c, mut s)| {
            let texts = texts.to_vec();
            tokio::spawn(async move {
                for n in 0..per_client {
                    run(&mut s, op, c * per_client + n, &texts).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client task");
    }
    (per_client * clients) as f64 / t.elapsed().as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn bench(bin: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(bin, dir.path()).await;
    let texts: Vec<String> = (0..ITEMS).map(text).collect();

    let mut s = Session::open(&server.url).await;
    for i in 0..ITEMS {
        run(&mut s, Op::Put, i, &texts).await;
        run(&mut s, Op::Get, i, &texts).await;
        run(&mut s, Op::Ping, i, &texts).await;
    }
    let ping = latencies(&mut s, Op::Ping, &texts).await;
    let put = latencies(&mut s, Op::Put, &texts).await;
    let get = latencies(&mut s, Op::Get, &texts).await;

    let mut report = Report::new("mcp_http");
    for (name, lat) in [("http_put_1KiB", &put), ("http_get_1KiB", &get)] {
        for (p, label) in [(0.5, "p50"), (0.99, "p99")] {
            report.compare(
                &format!("{name}_{label}"),
                ms(percentile(lat, p)),
                "ms",
                &format!("http_ping_{label}"),
                ms(percentile(&ping, p)),
                Better::Lower,
            );
        }
    }
    for clients in [1, 8, 32] {
        let ping = calls_per_second(&server.url, clients, Op::Ping, &texts).await;
        let get = calls_per_second(&server.url, clients, Op::Get, &texts).await;
        report.compare(
            &format!("http_get_1KiB_calls_per_s_{clients}_clients"),
            get,
            "call/s",
            &format!("http_ping_{clients}_clients"),
            ping,
            Better::Higher,
        );
    }
    report.save();
}

fn main() {
    if !report::benchmarking("mcp_http") {
        return;
    }
    let bin = bin::release_bitatlas();
    tokio::runtime::Runtime::new()
        .expect("tokio runtime")
        .block_on(bench(&bin));
}
