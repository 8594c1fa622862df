//! SIGHUP stops a real `bitatlas serve` gracefully, like SIGTERM: over stdio and over HTTP the
//! process exits 0 and its audit trail ends with the shutdown record and a checkpoint, which
//! `bitatlas audit verify` accepts as a sealed chain.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bitatlas");
const PATIENCE: Duration = Duration::from_secs(60);

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Waits for the exit, killing the process if it does not come.
fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: serve did not stop after SIGHUP");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The trail's records, in order.
fn audit_records(data: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(data.join("audit").join("audit.jsonl")).expect("trail");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

/// The trail ends with the shutdown event and a checkpoint, after the `put` that was served,
/// and `audit verify` reports the chain intact and sealed.
fn assert_shut_down_cleanly(data: &Path, what: &str) {
    let records = audit_records(data);
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    let n = records.len();
    assert!(n >= 3, "{what}: trail too short: {text:#?}");
    assert!(
        text[n - 2].contains("\"tool\":\"shutdown\""),
        "{what}: the record before the last is not the shutdown record: {text:#?}"
    );
    assert!(
        text[..n - 2].iter().any(|l| l.contains("\"tool\":\"put\"")),
        "{what}: the put is not in the trail: {text:#?}"
    );
    let out = Command::new(BIN)
        .args(["audit", "verify", "--json", "--data-dir"])
        .arg(data)
        .output()
        .expect("audit verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: verify failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("verify --json");
    let sealed: Vec<bool> = report["chains"]
        .as_object()
        .map(|chains| {
            chains
                .values()
                .map(|c| c["sealed"] == json!(true))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        sealed,
        vec![true],
        "{what}: the chain is not sealed: {report}"
    );
}

#[test]
fn sighup_stops_stdio_serve_with_a_sealed_trail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(&data)
        .env_remove("BITATLAS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut replies = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |v: Value| writeln!(stdin, "{v}").and_then(|()| stdin.flush()).unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "signals-test", "version": "0"}}}),
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "put", "arguments": {"key": "before-hup.txt", "text": "x"}}}));
    let answered = replies.by_ref().map_while(Result::ok).any(|line| {
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        v["id"] == json!(2)
    });
    assert!(answered, "the put was not answered");
    signal(&child, "HUP");
    let status = wait_exit(&mut child, "stdio");
    assert!(status.success(), "stdio serve exited with {status}");
    assert_shut_down_cleanly(&data, "stdio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_http_serve_with_a_sealed_trail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("BITATLAS_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    while !matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "serve did not start");
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A legacy session with one call, so that the trail holds a tool call before the
    // shutdown, and the session is still open when the signal comes.
    let post = |body: Value, session: Option<String>| {
        let mut r = http
            .post(format!("{base}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_string());
        if let Some(id) = session {
            r = r.header("mcp-session-id", id);
        }
        r.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "signals-test", "version": "0"}}}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(init.status(), 200);
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert!(session.is_some(), "no session id");
    let _ = init.text().await;
    let note = post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        session.clone(),
    )
    .await
    .unwrap();
    assert!(note.status().is_success());
    let resp = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "put", "arguments": {"key": "before-hup.txt", "text": "x"}}}),
        session,
    )
    .await
    .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 200, "put: {body}");
    assert!(!body.contains("\"isError\":true"), "put failed: {body}");
    signal(&child, "HUP");
    let status = wait_exit(&mut child, "http");
    assert!(status.success(), "http serve exited with {status}");
    assert_shut_down_cleanly(&data, "http");
}
