//! MCP over stdio, measured from a client's side, against the official MCP filesystem server
//! (`@modelcontextprotocol/server-filesystem`) driven by the same client code: start-up to
//! the first `tools/list` answer, and 1 KiB `put`/`get` call latency (p50/p99) against
//! `write_file`/`read_text_file` of the same 1 KiB.
//!
//! Run: `cargo bench --bench mcp_stdio`. The filesystem
//! server comes from `bash tests/tools/setup.sh`; without it only bitatlas is measured.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/report.rs"]
mod report;
#[path = "support/stdio_client.rs"]
mod stdio_client;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use report::{Better, Report, percentile};
use serde_json::{Value, json};
use stdio_client::Client;

const STARTS: usize = 20;
const CALLS: usize = 2000;
const ITEMS: usize = 500;

/// Arguments of the write of item `i` with its text.
type PutArgs = Box<dyn Fn(usize, &str) -> Value>;

/// A server under test: how to start it and how it writes and reads item `i`.
struct Server {
    command: Box<dyn Fn() -> Command>,
    put_tool: &'static str,
    put_args: PutArgs,
    get_tool: &'static str,
    get_args: Box<dyn Fn(usize) -> Value>,
    /// The text a read result carries.
    read_back: fn(&Value) -> &Value,
}

impl Server {
    fn bitatlas(bin: PathBuf, data_dir: PathBuf) -> Server {
        Server {
            command: Box::new(move || {
                let mut c = Command::new(&bin);
                c.args(["serve", "--data-dir"]).arg(&data_dir);
                c
            }),
            put_tool: "put",
            put_args: Box::new(|i, text| json!({"key": format!("bench/{i}"), "text": text})),
            get_tool: "get",
            get_args: Box::new(|i| json!({"key": format!("bench/{i}")})),
            read_back: |r| &r["structuredContent"]["data"],
        }
    }

    /// The filesystem server, allowed to use `dir` only (all paths must be under it).
    fn filesystem(node: PathBuf, script: PathBuf, dir: PathBuf) -> Server {
        let (d1, d2) = (dir.clone(), dir.clone());
        Server {
            command: Box::new(move || {
                let mut c = Command::new(&node);
                c.arg(&script).arg(&dir);
                c
            }),
            put_tool: "write_file",
            put_args: Box::new(
                move |i, text| json!({"path": d1.join(format!("bench-{i}.txt")), "content": text}),
            ),
            get_tool: "read_text_file",
            get_args: Box::new(move |i| json!({"path": d2.join(format!("bench-{i}.txt"))})),
            read_back: |r| &r["structuredContent"]["content"],
        }
    }

    fn start(&self) -> Client {
        let mut c = Client::spawn((self.command)());
        c.initialize();
        c
    }
}

/// The 1 KiB text of item `i` (distinct per item, so a read of the wrong item is caught).
fn text(i: usize) -> String {
    let head = format!("item {i:05} ");
    head.clone() + &"x".repeat(1024 - head.len())
}

/// Spawn -> initialize -> `tools/list` answered, `STARTS` times after one unmeasured start.
fn startup(server: &Server) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..=STARTS)
        .map(|_| {
            let t = Instant::now();
            let mut c = server.start();
            let tools = c.request("tools/list", json!({}));
            let elapsed = t.elapsed();
            let names: Vec<&str> = tools["tools"]
                .as_array()
                .expect("tools array")
                .iter()
                .filter_map(|t| t["name"].as_str())
                .collect();
            for tool in [server.put_tool, server.get_tool] {
                assert!(names.contains(&tool), "no {tool} in {names:?}");
            }
            elapsed
        })
        .skip(1)
        .collect();
    times.sort();
    times
}

/// Sorted latencies of `CALLS` puts, then of `CALLS` gets, over `ITEMS` items, after one
/// unmeasured put and get of every item.
fn put_get(server: &Server) -> (Vec<Duration>, Vec<Duration>) {
    let mut c = server.start();
    let texts: Vec<String> = (0..ITEMS).map(text).collect();
    let put = |c: &mut Client, i: usize| {
        c.call(server.put_tool, (server.put_args)(i, &texts[i]));
    };
    let get = |c: &mut Client, i: usize| {
        let r = c.call(server.get_tool, (server.get_args)(i));
        assert_eq!(
            (server.read_back)(&r),
            &json!(texts[i]),
            "read back item {i}"
        );
    };
    for i in 0..ITEMS {
        put(&mut c, i);
        get(&mut c, i);
    }
    let mut timed = |op: &dyn Fn(&mut Client, usize)| {
        let mut lat: Vec<Duration> = (0..CALLS)
            .map(|n| {
                let t = Instant::now();
                op(&mut c, n % ITEMS);
                t.elapsed()
            })
            .collect();
        lat.sort();
        lat
    };
    let puts = timed(&put);
    let gets = timed(&get);
    (puts, gets)
}

/// NODE and FILESYSTEM_SERVER from the paths.env written by `tests/tools/setup.sh`.
fn filesystem_server() -> Result<(PathBuf, PathBuf), String> {
    let dir = std::env::var_os("BITATLAS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.tools"));
    let paths = dir.join("paths.env");
    let text = std::fs::read_to_string(&paths).map_err(|e| {
        format!(
            "cannot read {} ({e}); run `bash tests/tools/setup.sh`",
            paths.display()
        )
    })?;
    let env: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |key: &str| {
        env.get(key)
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .ok_or_else(|| {
                format!(
                    "{} has no usable {key}; run `bash tests/tools/setup.sh`",
                    paths.display()
                )
            })
    };
    Ok((get("NODE")?, get("FILESYSTEM_SERVER")?))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and p99 of `ours`, each compared with the same percentile of `theirs` when measured.
fn percentiles(
    report: &mut Report,
    name: &str,
    ours: &[Duration],
    baseline: &str,
    theirs: &Result<Vec<Duration>, String>,
) {
    for (p, label) in [(0.5, "p50"), (0.99, "p99")] {
        let figure = format!("{name}_{label}");
        let value = ms(percentile(ours, p));
        match theirs {
            Ok(t) => {
                let base = format!("{baseline}_{label}");
                let base_value = ms(percentile(t, p));
                report.compare(&figure, value, "ms", &base, base_value, Better::Lower);
            }
            Err(why) => {
                report.value(&figure, value, "ms");
                report.skipped(&format!("{baseline}_{label}"), why);
            }
        }
    }
}

fn main() {
    if !report::benchmarking("mcp_stdio") {
        return;
    }
    let bin = bin::release_bitatlas();
    let data = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("tempdir");
    let ours = Server::bitatlas(bin, data.path().to_owned());
    let theirs = filesystem_server().map(|(node, script)| {
        // The server compares canonical paths: give it (and the paths) the canonical dir.
        let dir = files.path().canonicalize().expect("canonical dir");
        Server::filesystem(node, script, dir)
    });

    let ours_start = startup(&ours);
    let theirs_start = theirs.as_ref().map(startup).map_err(Clone::clone);
    let (ours_put, ours_get) = put_get(&ours);
    let (theirs_put, theirs_get) = match &theirs {
        Ok(server) => {
            let (put, get) = put_get(server);
            (Ok(put), Ok(get))
        }
        Err(why) => (Err(why.clone()), Err(why.clone())),
    };

    let mut report = Report::new("mcp_stdio");
    let fs = "filesystem_server";
    percentiles(
        &mut report,
        "startup_to_tools_list",
        &ours_start,
        &format!("{fs}_startup"),
        &theirs_start,
    );
    percentiles(
        &mut report,
        "stdio_put_1KiB",
        &ours_put,
        &format!("{fs}_write_file"),
        &theirs_put,
    );
    percentiles(
        &mut report,
        "stdio_get_1KiB",
        &ours_get,
        &format!("{fs}_read_text_file"),
        &theirs_get,
    );
    report.save();
}
