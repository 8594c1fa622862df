//! The MCP Bundle (`packaging/mcpb/`): `packaging/mcpb/build.sh` packs the debug binary with the
//! official `mcpb` CLI (installed by `tests/tools/setup.sh`), and the bundle is checked the way
//! a client uses it: the manifest validates, the `.mcpb` is a zip of `manifest.json` and
//! `server/bitatlas`, the versions agree, and the unpacked binary, started as the manifest's
//! `mcp_config` says, answers `initialize` over stdio and serves the tools the manifest lists.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use serde_json::{Value, json};

use crate::mcp_clients::tools;
use crate::support::bin::{self, s};
use crate::support::spawn;

const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> Value {
    let path = root().join("packaging/mcpb/manifest.json");
    let text = std::fs::read_to_string(&path).expect("packaging/mcpb/manifest.json");
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

/// `node $MCPB ARGS`, run to its end: exit status and output.
fn mcpb(args: &[&str]) -> std::process::Output {
    let env = &tools().env;
    let mut cmd = Command::new(&env["NODE"]);
    cmd.arg(&env["MCPB"]).args(args).stdin(Stdio::null());
    spawn::output(&mut cmd).expect("run mcpb")
}

fn text(out: &std::process::Output) -> String {
    bin::text(out)
}

/// Every `${...}` in `value` replaced from `vars`; panics on one it does not know.
fn substitute(value: &str, vars: &[(&str, &str)]) -> String {
    let mut out = value.to_owned();
    for (name, with) in vars {
        out = out.replace(&format!("${{{name}}}"), with);
    }
    assert!(
        !out.contains("${"),
        "unknown variable left in {value:?}: {out:?}"
    );
    out
}

#[test]
fn the_manifest_flags_are_serve_flags() {
    // Cheap guard without tools: a renamed `serve` flag breaks the bundle's command line.
    let help = bin::text(&bin::run(&["serve", "--help"]));
    let m = manifest();
    let args = m["server"]["mcp_config"]["args"].as_array().expect("args");
    assert_eq!(args[0], "serve");
    for flag in args.iter().filter_map(Value::as_str) {
        if flag.starts_with("--") {
            assert!(help.contains(flag), "`bitatlas serve` has no {flag}");
        }
    }
    // Each user_config value the command line uses is declared.
    for arg in args.iter().filter_map(Value::as_str) {
        if let Some(key) = arg
            .strip_prefix("${user_config.")
            .and_then(|k| k.strip_suffix('}'))
        {
            assert!(
                m["user_config"].get(key).is_some(),
                "{arg} has no user_config entry"
            );
        }
    }
    assert_eq!(m["server"]["type"], "binary");
    assert_eq!(m["server"]["entry_point"], "server/bitatlas");
}

#[test]
fn packed_bundle_validates_unpacks_and_serves() {
    let work = tempfile::tempdir().unwrap();
    let env = &tools().env;

    // The committed manifest validates on its own.
    let manifest_path = root().join("packaging/mcpb/manifest.json");
    let out = mcpb(&["validate", s(&manifest_path)]);
    assert!(out.status.success(), "mcpb validate: {}", text(&out));

    // Build the bundle from the debug binary (debug info stripped from the bundled copy, to
    // keep packing fast).
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("packaging/mcpb/build.sh"))
        .env("BITATLAS_BIN", bin::BIN)
        .env("BITATLAS_STRIP", "1")
        .env("MCPB_OUT_DIR", work.path())
        .env("NODE", &env["NODE"])
        .env("MCPB", &env["MCPB"])
        .stdin(Stdio::null());
    let out = spawn::output(&mut cmd).expect("run packaging/mcpb/build.sh");
    assert!(out.status.success(), "build.sh failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("build.sh printed no {key}=: {stdout}"))
            .to_owned()
    };
    let bundle = PathBuf::from(field("bundle"));
    let sha = field("sha256");
    assert!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sha}"
    );
    let name = bundle.file_name().unwrap().to_str().unwrap();
    let m = manifest();
    let version = m["version"].as_str().expect("version");
    assert!(
        name.starts_with(&format!("bitatlas-{version}-")) && name.ends_with(".mcpb"),
        "{name}"
    );

    // The manifest's version is the binary's.
    let reported = bin::text(&bin::run(&["--version"]));
    assert_eq!(reported.trim(), format!("bitatlas {version}"));

    // A zip (local file header magic) holding manifest.json and server/bitatlas.
    let bytes = std::fs::read(&bundle).expect("read bundle");
    assert_eq!(&bytes[..4], b"PK\x03\x04", "not a zip");
    let names = zip_names(&bundle);
    for want in ["manifest.json", "server/bitatlas"] {
        assert!(names.contains(want), "{want} not in {names:?}");
    }

    // Unpacked as a client does, with the official CLI (it restores the file modes).
    let unpacked = work.path().join("unpacked");
    let out = mcpb(&["unpack", s(&bundle), s(&unpacked)]);
    assert!(out.status.success(), "mcpb unpack: {}", text(&out));
    let packed: Value =
        serde_json::from_str(&std::fs::read_to_string(unpacked.join("manifest.json")).unwrap())
            .expect("packed manifest.json");
    assert_eq!(packed["version"], version);
    assert_eq!(packed["name"], m["name"]);

    // Started the way mcp_config says, with the user_config values a user would give.
    let data_dir = work.path().join("data");
    let vars = [
        ("__dirname", s(&unpacked)),
        ("user_config.data_dir", s(&data_dir)),
        ("user_config.country", "DE"),
    ];
    let config = &packed["server"]["mcp_config"];
    let command = substitute(config["command"].as_str().expect("command"), &vars);
    let args: Vec<String> = config["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| substitute(a.as_str().expect("string arg"), &vars))
        .collect();
    let mut cmd = Command::new(&command);
    cmd.args(&args)
        .env_remove("BITATLAS_CONFIG")
        .env_remove("BITATLAS_DATA_DIR")
        .env_remove("BITATLAS_KEYRING")
        .env_remove("BITATLAS_LOG");
    if let Some(vars_env) = config["env"].as_object() {
        for (k, v) in vars_env {
            cmd.env(k, substitute(v.as_str().expect("string env"), &vars));
        }
    }
    let stderr_path = work.path().join("serve.stderr");
    let served = initialize_and_list_tools(cmd, &stderr_path);
    assert_eq!(
        served.server_info["name"], "bitatlas",
        "{}",
        served.server_info
    );
    assert_eq!(served.server_info["version"], version);
    assert!(
        data_dir.is_dir(),
        "the server did not use {}",
        data_dir.display()
    );

    // The manifest lists exactly the tools this command line serves (`versions` and
    // `restore` need a configured undo window, which the bundle's command line has not).
    let listed: BTreeSet<String> = m["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("tool name").to_owned())
        .collect();
    assert_eq!(
        listed, served.tools,
        "packaging/mcpb/manifest.json `tools` (left) differs from what the bundled server \
         serves (right)"
    );
}

/// The names in the zip's central directory, read by Python's zipfile.
fn zip_names(bundle: &Path) -> BTreeSet<String> {
    let mut cmd = Command::new(&tools().python);
    cmd.args([
        "-c",
        "import json, sys, zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))",
        s(bundle),
    ])
    .stdin(Stdio::null());
    let out = spawn::output(&mut cmd).expect("run python zipfile");
    assert!(out.status.success(), "not a readable zip: {}", text(&out));
    serde_json::from_slice::<Vec<String>>(&out.stdout)
        .expect("zip names")
        .into_iter()
        .collect()
}

struct Served {
    server_info: Value,
    tools: BTreeSet<String>,
}

/// Starts `cmd` with piped stdio, sends `initialize`, `notifications/initialized` and
/// `tools/list` as raw JSON-RPC lines, closes stdin and waits for the exit.
fn initialize_and_list_tools(mut cmd: Command, stderr_path: &Path) -> Served {
    let stderr = std::fs::File::create(stderr_path).expect("stderr file");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    let mut child = spawn::spawn(&mut cmd).unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let log = || std::fs::read_to_string(stderr_path).unwrap_or_default();
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel::<Value>();
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
    let mut stdin = child.stdin.take().expect("stdin");
    let mut send = |msg: Value| {
        writeln!(stdin, "{msg}").expect("write to the server");
        stdin.flush().expect("flush");
    };
    let reply = |id: u64| loop {
        match rx.recv_timeout(REPLY_TIMEOUT) {
            Ok(v) if v["id"] == id => return v,
            Ok(_) => continue,
            Err(e) => panic!("no reply {id} ({e}); stderr:\n{}", log()),
        }
    };
    send(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bundle-test", "version": "0"}
        }
    }));
    let init = reply(1);
    let server_info = init["result"]["serverInfo"].clone();
    assert!(
        server_info.is_object(),
        "initialize: {init}; stderr:\n{}",
        log()
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let list = reply(2);
    let tools = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {list}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    drop(stdin);
    match bin::wait_exit(&mut child, REPLY_TIMEOUT) {
        Some(status) => assert!(status.success(), "exit {status}; stderr:\n{}", log()),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server did not exit when stdin closed; stderr:\n{}",
                log()
            );
        }
    }
    Served { server_info, tools }
}
