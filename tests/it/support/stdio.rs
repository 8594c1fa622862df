//! A minimal MCP client over stdio for tests: starts the real `bitatlas serve`, performs the
//! handshake, calls tools and matches replies by id (they may arrive out of order).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use super::{bin, spawn};

/// How long a reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `bitatlas serve` (stdio).
pub struct StdioServer {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<Value>,
    early: HashMap<u64, Value>,
    next_id: u64,
    stderr: PathBuf,
    initialized: Value,
}

/// What a successful tool call returned.
#[derive(Debug, Clone)]
pub struct ToolResult {
    /// `structuredContent`, when present.
    pub structured: Option<Value>,
    /// The text blocks.
    pub texts: Vec<String>,
}

impl ToolResult {
    /// The result as JSON: the structured content, else the first text block that is JSON.
    pub fn json(&self) -> Value {
        self.structured.clone().unwrap_or_else(|| {
            self.texts
                .iter()
                .find_map(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null)
        })
    }

    /// The payload of a `get` of a text object.
    pub fn data(&self) -> String {
        if let Some(d) = self.json().get("data").and_then(Value::as_str) {
            return d.to_owned();
        }
        self.texts
            .iter()
            .find(|t| serde_json::from_str::<Value>(t).is_err())
            .cloned()
            .unwrap_or_default()
    }

    /// The keys of a `list` page.
    pub fn keys(&self) -> Vec<String> {
        self.json()["objects"]
            .as_array()
            .map(|objs| {
                objs.iter()
                    .filter_map(|o| o["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl StdioServer {
    /// Starts `bitatlas serve --data-dir DIR` with `extra` arguments and completes the
    /// handshake. Its stderr goes to `stderr_file`.
    pub fn start(data_dir: &Path, extra: &[&str], stderr_file: &Path) -> Self {
        let stderr = std::fs::File::create(stderr_file).expect("stderr file");
        let mut cmd = bin::serve_command(data_dir, extra);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = spawn::spawn(&mut cmd).expect("spawn bitatlas serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, replies) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("stdout carries JSON-RPC only, got {line:?}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut s = Self {
            stdin: child.stdin.take(),
            child,
            replies,
            early: HashMap::new(),
            next_id: 1,
            stderr: stderr_file.to_owned(),
            initialized: Value::Null,
        };
        let init = s.request(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "bitatlas-tests", "version": "0"}
            }),
        );
        assert!(
            init.get("result").is_some(),
            "initialize failed: {init}; stderr: {}",
            s.stderr_text()
        );
        s.initialized = init["result"].clone();
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    /// The `result` the server answered `initialize` with.
    pub fn initialize_result(&self) -> &Value {
        &self.initialized
    }

    /// The server's stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn send(&mut self, msg: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{msg}").expect("write request");
        stdin.flush().expect("flush request");
    }

    /// Sends one request and waits for the reply with its id.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        if let Some(v) = self.early.remove(&id) {
            return v;
        }
        loop {
            let v = self
                .replies
                .recv_timeout(REPLY_TIMEOUT)
                .unwrap_or_else(|_| panic!("no reply to {method}; stderr: {}", self.stderr_text()));
            match v.get("id").and_then(Value::as_u64) {
                Some(got) if got == id => return v,
                Some(other) => {
                    self.early.insert(other, v);
                }
                // Notifications and server requests are not part of these tests.
                None => {}
            }
        }
    }

    /// Calls a tool: `Ok` with its result, `Err` with the error text.
    pub fn call(&mut self, tool: &str, args: Value) -> Result<ToolResult, String> {
        let reply = self.request("tools/call", json!({"name": tool, "arguments": args}));
        let Some(result) = reply.get("result") else {
            return Err(reply["error"].to_string());
        };
        let texts: Vec<String> = result["content"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|b| b["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if result["isError"].as_bool() == Some(true) {
            return Err(texts.join("\n"));
        }
        Ok(ToolResult {
            structured: result.get("structuredContent").cloned(),
            texts,
        })
    }

    /// Sends the server signal `name` (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        bin::signal(self.child.id(), name);
    }

    /// Waits up to `within` for the server to exit: its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        bin::wait_exit(&mut self.child, within)
    }

    /// Closes stdin (the clean way a client ends a stdio session) and waits for the exit.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for bitatlas serve");
        (status, self.stderr_text())
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(200));
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}
