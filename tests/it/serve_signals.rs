//! SIGHUP stops a real `bitatlas serve` gracefully, like SIGTERM: over stdio and over HTTP the
//! process exits 0 and its audit trail ends with the shutdown record and a checkpoint, which
//! `bitatlas audit verify` accepts as a sealed chain.
#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::bin;
use crate::support::http::McpHttp;
use crate::support::server::Serve;
use crate::support::stdio::StdioServer;

const PATIENCE: Duration = Duration::from_secs(60);

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
    let out = bin::run(&["audit", "verify", "--json", "--data-dir", bin::s(data)]);
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
    let mut server = StdioServer::start(&data, &[], &dir.path().join("serve.stderr"));
    server
        .call("put", json!({"key": "before-hup.txt", "text": "x"}))
        .expect("the put was not answered");
    server.signal("HUP");
    let status = server
        .wait_exit(PATIENCE)
        .expect("stdio: serve did not stop after SIGHUP");
    assert!(status.success(), "stdio serve exited with {status}");
    assert_shut_down_cleanly(&data, "stdio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_http_serve_with_a_sealed_trail() {
    let mut server = Serve::new().http().start().await;
    // A legacy session with one call, so that the trail holds a tool call before the
    // shutdown, and the session is still open when the signal comes.
    let mut session = McpHttp::legacy(&server.mcp(), None, "signals-test").await;
    assert!(session.session_id.is_some(), "no session id");
    session
        .ok("put", json!({"key": "before-hup.txt", "text": "x"}))
        .await;
    server.signal("HUP");
    let status = server
        .wait_exit(PATIENCE)
        .expect("http: serve did not stop after SIGHUP");
    assert!(status.success(), "http serve exited with {status}");
    assert_shut_down_cleanly(server.data_dir(), "http");
}
