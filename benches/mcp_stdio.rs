//! MCP over stdio, measured from a client's side: start-up to the first `tools/list`
//! answer, and 1 KiB `put`/`get` call latency (p50/p99).
//!
//! Run: `cargo bench --bench mcp_stdio` (builds the release binary first).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Client {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    next_id: u64,
}

impl Client {
    fn start(bin: &str, data_dir: &std::path::Path) -> Client {
        let mut child = Command::new(bin)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bitatlas");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Client {
            child,
            stdin,
            stdout,
            next_id: 1,
        }
    }

    fn send(&mut self, msg: &Value) {
        let mut line = serde_json::to_vec(msg).expect("json");
        line.push(b'\n');
        self.stdin.write_all(&line).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}));
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read");
            assert!(n > 0, "server closed stdout");
            let v: Value = serde_json::from_str(&line).expect("json line");
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "error: {v}");
                return v["result"].clone();
            }
        }
    }

    fn initialize(&mut self) {
        self.request(
            "initialize",
            json!({"protocolVersion":"2025-11-25","capabilities":{},
                   "clientInfo":{"name":"bench","version":"0"}}),
        );
        self.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("mcp_stdio: run with `cargo bench --bench mcp_stdio`");
        return;
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "bitatlas"])
        .status()
        .expect("cargo build");
    assert!(status.success());
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/release/bitatlas")
        .to_string_lossy()
        .to_string();
    let bin = std::env::var("BITATLAS_BIN").unwrap_or_else(|_| {
        std::env::var("CARGO_TARGET_DIR")
            .map(|d| format!("{d}/release/bitatlas"))
            .unwrap_or(bin)
    });

    // Start-up: spawn -> initialize -> tools/list answered. Warm data dir (keyring exists).
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Client::start(&bin, dir.path()));
    let mut startups = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let mut c = Client::start(&bin, dir.path());
        c.initialize();
        let tools = c.request("tools/list", json!({}));
        assert_eq!(tools["tools"].as_array().map(Vec::len), Some(6));
        startups.push(t.elapsed());
    }
    startups.sort();
    println!(
        "startup_to_tools_list p50={:.2}ms p99={:.2}ms (20 runs)",
        percentile(&startups, 0.5).as_secs_f64() * 1e3,
        percentile(&startups, 0.99).as_secs_f64() * 1e3
    );

    let mut c = Client::start(&bin, dir.path());
    c.initialize();
    let text = "x".repeat(1024);
    for (tool, build) in [
        (
            "put",
            &(|i: usize, t: &str| json!({"key": format!("bench/{i}"), "text": t}))
                as &dyn Fn(usize, &str) -> Value,
        ),
        (
            "get",
            &(|i: usize, _t: &str| json!({"key": format!("bench/{i}")})),
        ),
    ] {
        let mut lat = Vec::new();
        for i in 0..2000 {
            let args = build(i % 500, &text);
            let t = Instant::now();
            let r = c.request("tools/call", json!({"name": tool, "arguments": args}));
            lat.push(t.elapsed());
            assert_ne!(r["isError"], json!(true), "{r}");
        }
        lat.sort();
        let total: Duration = lat.iter().sum();
        println!(
            "stdio_{tool}_1KiB p50={:.3}ms p99={:.3}ms calls/s={:.0} (2000 sequential calls)",
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.len() as f64 / total.as_secs_f64()
        );
    }
}
