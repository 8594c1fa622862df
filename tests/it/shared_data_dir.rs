//! Several `bitatlas serve` processes on one data directory (Claude Desktop and an IDE both
//! started on the default one): both start, share one keyring and one store, see each other's
//! objects on their next `list`, and each writes its own audit chain, all of which verify.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::bin;
use crate::support::stdio::StdioServer;

fn verify_json(data: &Path) -> (Option<i32>, Value) {
    let out = bin::run(&["audit", "verify", "--json", "--data-dir", bin::s(data)]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "verify --json prints JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn put(s: &mut StdioServer, key: &str) {
    s.call("put", json!({"key": key, "text": format!("body-of-{key}")}))
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}

fn get(s: &mut StdioServer, key: &str) -> String {
    s.call("get", json!({"key": key}))
        .unwrap_or_else(|e| panic!("get {key}: {e}"))
        .data()
}

fn list(s: &mut StdioServer) -> Vec<String> {
    let mut keys = s.call("list", json!({})).expect("list").keys();
    keys.sort();
    keys
}

#[test]
fn two_stdio_servers_share_one_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Started at once on a directory that does not exist yet: both race to create the
    // keyring and the audit key.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| StdioServer::start(&data, &[], &dir.path().join("a.stderr")));
        let b = s.spawn(|| StdioServer::start(&data, &[], &dir.path().join("b.stderr")));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (mut a, mut b) = (a, b);
    let keyring = data.join("keys/default.keyring");
    for s in [&a, &b] {
        assert!(
            s.stderr_text()
                .contains(&format!("keyring default: {}", keyring.display())),
            "{}",
            s.stderr_text()
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(data.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["audit.key", "default.keyring"],
        "one keyring, one audit key"
    );

    // Writes by one are visible to the other at once: get, and its very next list.
    put(&mut a, "from-a/1");
    assert_eq!(list(&mut b), ["from-a/1"]);
    assert_eq!(get(&mut b, "from-a/1"), "body-of-from-a/1");
    put(&mut b, "from-b/1");
    assert_eq!(list(&mut a), ["from-a/1", "from-b/1"]);
    assert_eq!(get(&mut a, "from-b/1"), "body-of-from-b/1");
    // Interleaved, several rounds: each list right after the other's put.
    for i in 2..6 {
        put(&mut a, &format!("from-a/{i}"));
        assert!(list(&mut b).contains(&format!("from-a/{i}")), "round {i}");
        put(&mut b, &format!("from-b/{i}"));
        assert!(list(&mut a).contains(&format!("from-b/{i}")), "round {i}");
    }
    // A delete is seen too.
    a.call("delete", json!({"key": "from-b/1"}))
        .expect("delete");
    assert!(!list(&mut b).contains(&"from-b/1".to_string()));
    assert_eq!(list(&mut a), list(&mut b));
    assert_eq!(list(&mut a).len(), 9);

    // While both run, every chain verifies (the live heads are chained, not yet sealed).
    let (code, report) = verify_json(&data);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["trails"].as_array().unwrap().len(), 2, "{report}");

    let (sa, ea) = a.finish();
    let (sb, eb) = b.finish();
    assert!(sa.success(), "{ea}");
    assert!(sb.success(), "{eb}");

    let (code, report) = verify_json(&data);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["intact"], true);
    let chains = report["chains"].as_object().unwrap();
    assert_eq!(chains.len(), 2, "one chain per process: {report}");
    assert!(chains.values().all(|c| c["sealed"] == true), "{report}");

    // A later process takes a free slot again: no new trail, and the chains still verify.
    let mut c = StdioServer::start(&data, &[], &dir.path().join("c.stderr"));
    assert_eq!(list(&mut c).len(), 9);
    assert!(c.finish().0.success());
    let (code, report) = verify_json(&data);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["trails"].as_array().unwrap().len(), 2, "{report}");
}

#[test]
fn a_tampered_chain_of_one_process_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut a = StdioServer::start(&data, &[], &dir.path().join("a.stderr"));
    let mut b = StdioServer::start(&data, &[], &dir.path().join("b.stderr"));
    put(&mut a, "x");
    put(&mut b, "y");
    assert!(a.finish().0.success());
    assert!(b.finish().0.success());
    let second = data.join("audit/audit-2.jsonl");
    let text = std::fs::read_to_string(&second).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    std::fs::write(&second, lines.join("\n") + "\n").unwrap();
    let (code, report) = verify_json(&data);
    assert_eq!(code, Some(4), "{report}");
    assert_eq!(report["intact"], false);
    assert_eq!(
        report["failure"]["trail"],
        second.display().to_string(),
        "{report}"
    );
    assert_eq!(report["failure"]["line"], 2, "{report}");
    assert_eq!(
        report["failure"]["reason"], "records 2..2 are missing",
        "{report}"
    );
    assert_eq!(
        report["trails"][0]["intact"], true,
        "the other chain is intact"
    );
}
