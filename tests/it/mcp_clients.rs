//! Real MCP clients against the built `bitatlas` binary, so that `cargo test` covers them:
//! the official Python SDK (stdio and streamable HTTP in both protocol modes), the MCP
//! Inspector CLI, and the official MCP conformance suite.
//!
//! The clients are installed by `tests/tools/setup.sh` into `tests/.tools/` (run once per test
//! process, serialized by a file lock inside the script; a no-op when already installed). The
//! suites themselves live in `tests/clients/` and run under pytest; each suite is its own test
//! here so a failure names it. Output is printed (see it with `cargo test -- --nocapture`) and
//! the tail of it is repeated in the panic message on failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::support::spawn;

/// What `tests/tools/setup.sh` installed, read from `tests/.tools/paths.env`.
pub(crate) struct Tools {
    pub(crate) python: PathBuf,
    /// Every `KEY=VALUE` line of `paths.env` (`NODE`, `MCPB`, ...).
    pub(crate) env: HashMap<String, String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn setup() -> Result<Tools, String> {
    let script = root().join("tests/tools/setup.sh");
    let out = spawn::output(Command::new("bash").arg(&script).stdin(Stdio::null()))
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{log}");
    if !out.status.success() {
        return Err(format!(
            "tests/tools/setup.sh failed ({}):\n{}",
            out.status,
            tail(&log, 40)
        ));
    }
    // setup.sh installs into $BITATLAS_TOOLS_DIR when set (e.g. shared by several checkouts).
    let tools_dir = std::env::var_os("BITATLAS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("tests/.tools"));
    let paths = tools_dir.join("paths.env");
    let text = std::fs::read_to_string(&paths)
        .map_err(|e| format!("cannot read {}: {e}", paths.display()))?;
    let env: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let python = env
        .get("PYTHON")
        .map(PathBuf::from)
        .ok_or_else(|| format!("{} names no PYTHON", paths.display()))?;
    Ok(Tools { python, env })
}

/// The installed tools, set up once per test process; panics if setup failed.
pub(crate) fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    match TOOLS.get_or_init(setup) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// Runs pytest on `targets` (paths relative to `tests/clients`) with `extra` arguments and
/// panics with the tail of its output unless it exits 0.
fn pytest(suite: &str, targets: &[&str], extra: &[&str]) {
    let tools = tools();
    let clients = root().join("tests/clients");
    let mut cmd = Command::new(&tools.python);
    cmd.arg("-m")
        .arg("pytest")
        .args(targets.iter().map(|t| clients.join(t)))
        .args(extra)
        .current_dir(&clients)
        .env("BITATLAS_BIN", crate::support::bin::BIN)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null());
    for (key, value) in &tools.env {
        cmd.env(format!("BITATLAS_TEST_{key}"), value);
    }
    let out =
        spawn::output(&mut cmd).unwrap_or_else(|e| panic!("cannot run pytest for {suite}: {e}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("===== {suite} (pytest) =====\n{log}");
    assert!(
        out.status.success(),
        "{suite} failed ({}); last lines:\n{}",
        out.status,
        tail(&log, 60)
    );
}

fn is_suite_file(name: &str) -> bool {
    name == "test_inspector.py" || name == "test_conformance.py"
}

/// The official Python SDK against stdio, stateless HTTP (2026-07-28) and legacy HTTP
/// sessions (2025-11-25): tools, errors, pagination, at-rest sealing, audit, Origin checks.
#[test]
fn python_sdk_suite() {
    let dir = root().join("tests/clients");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/clients")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("test_") && n.ends_with(".py") && !is_suite_file(n))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no SDK test files in {}", dir.display());
    let targets: Vec<&str> = files.iter().map(String::as_str).collect();
    pytest("Python SDK suite", &targets, &["-q"]);
}

/// The MCP Inspector CLI (`--cli`): tools/list with `--strict`, tools/call over stdio and HTTP.
#[test]
fn inspector_cli() {
    pytest("MCP Inspector CLI", &["test_inspector.py"], &["-q"]);
}

/// The official MCP conformance suite against the HTTP endpoint, held to
/// `tests/clients/conformance-baseline.txt`.
#[test]
fn conformance_suite() {
    pytest(
        "MCP conformance suite",
        &["test_conformance.py"],
        &["-q", "-s"],
    );
}

#[test]
fn baseline_lists_only_known_scenarios() {
    // Cheap guard that needs no tools: every baseline entry is a plain scenario name.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/conformance-baseline.txt"),
    )
    .expect("baseline");
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(
            line.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "not a scenario name: {line:?}"
        );
    }
}
