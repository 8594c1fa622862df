//! Tool profiles on the real binary: `serve --read-only` and `--tools` over stdio, and a
//! tenant's own `tools = [...]` over HTTP with tokens. A disabled tool is not listed, and a
//! call to it answers `TOOL_DISABLED` whatever its arguments and changes nothing.

use serde_json::{Value, json};

use crate::support::bin;
use crate::support::config::Config;
use crate::support::http::McpHttp;
use crate::support::server::Serve;
use crate::support::stdio::StdioServer;

/// The names `tools/list` answered, sorted.
fn listed(reply: &Value) -> Vec<String> {
    let mut names: Vec<String> = reply["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn disabled(result: Result<impl std::fmt::Debug, String>) {
    let text = result.expect_err("a disabled tool ran");
    assert!(text.contains("TOOL_DISABLED"), "{text}");
}

#[test]
fn read_only_lists_no_write_tool_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.stderr");
    // An object written by a normal server first.
    let mut s = StdioServer::start(dir.path(), &[], &log);
    s.call("put", json!({"key": "notes/a.txt", "text": "kept"}))
        .expect("put");
    s.finish();

    let mut s = StdioServer::start(dir.path(), &["--read-only"], &log);
    let tools = listed(&s.request("tools/list", json!({})));
    assert_eq!(tools, ["get", "list", "presign", "search", "transfer"]);
    disabled(s.call("put", json!({"key": "notes/b.txt", "text": "new"})));
    disabled(s.call("delete", json!({"key": "notes/a.txt"})));
    // Refused before its arguments are read: no hint of what a valid call would be.
    disabled(s.call("put", json!({"bogus": 1})));
    disabled(s.call("presign", json!({"key": "notes/a.txt", "method": "PUT"})));
    disabled(s.call("transfer", json!({"key": "notes/a.txt", "method": "PUT"})));
    // Reads are served, and nothing changed.
    let got = s.call("get", json!({"key": "notes/a.txt"})).expect("get");
    assert_eq!(got.data(), "kept");
    let page = s.call("list", json!({"prefix": "notes/"})).expect("list");
    assert_eq!(page.keys(), ["notes/a.txt"]);
    let (_, stderr) = s.finish();

    // Every refusal is in the trail, which still verifies.
    let out = bin::run(&["audit", "verify", "--data-dir", bin::s(dir.path())]);
    assert!(out.status.success(), "{}{stderr}", bin::stderr(&out));
}

#[test]
fn an_allowlist_serves_only_its_tools() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.stderr");
    let mut s = StdioServer::start(dir.path(), &["--tools", "get,list"], &log);
    assert_eq!(listed(&s.request("tools/list", json!({}))), ["get", "list"]);
    disabled(s.call("search", json!({})));
    disabled(s.call("put", json!({"key": "a", "text": "x"})));
    let page = s.call("list", json!({})).expect("list");
    assert!(page.keys().is_empty());
    s.finish();

    // A name that is not a tool stops start-up, naming it.
    let out = bin::serve_once(dir.path(), &["--tools", "get,rm"]);
    assert!(!out.status.success());
    let stderr = bin::stderr(&out);
    assert!(stderr.contains("unknown tool \"rm\""), "{stderr}");
}

/// Creates a token with the CLI: (token, hash line for the config).
fn create_token(tenant: &str) -> (String, String) {
    let out = bin::run(&["tokens", "create", "--tenant", tenant]);
    assert!(out.status.success(), "tokens create failed");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let start = stderr.find("sha256:").expect("hash line on stderr");
    (token, stderr[start..start + 7 + 64].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_its_own_tools_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, reader_hash) = create_token("reader");
    let (writer, writer_hash) = create_token("writer");
    let cfg = Config::new()
        .local_store("local", &dir.path().join("objects"), "DE")
        .tenant_with_token("reader", "local", &reader_hash)
        .tenant_with_token("writer", "local", &writer_hash)
        .set("tenants.reader", "tools", vec!["get", "list", "delete"])
        .server("read_only", false);
    let path = cfg.write(&dir.path().join("bitatlas.toml"));
    let server = Serve::on(&dir.path().join("data"))
        .config(&path)
        .http()
        .start()
        .await;

    let mut w = McpHttp::legacy(&server.mcp(), Some(&writer), "profiles-test").await;
    let all = w.rpc("tools/list", json!({})).await;
    assert_eq!(all["result"]["tools"].as_array().unwrap().len(), 8, "{all}");
    w.ok("put", json!({"key": "a.txt", "text": "x"})).await;

    let mut r = McpHttp::legacy(&server.mcp(), Some(&reader), "profiles-test").await;
    let mine = r.rpc("tools/list", json!({})).await;
    assert_eq!(listed(&mine), ["delete", "get", "list"], "{mine}");
    assert_eq!(
        r.err_code("put", json!({"key": "b.txt", "text": "y"}))
            .await,
        "TOOL_DISABLED"
    );
    assert_eq!(
        r.err_code("search", json!({"query": "a"})).await,
        "TOOL_DISABLED"
    );
    // Its own tools work (the tenants do not share objects).
    let page = r.ok("list", json!({})).await;
    assert_eq!(page["objects"], json!([]), "{page}");
}
