//! The undo window (`[server] keep_versions_days`): overwritten and deleted objects stay
//! restorable, sealed in the tenant's own store; `restore` brings one back (keeping the one it
//! replaces), `delete` with `purge` removes every version at once, and with the window off the
//! tools are neither listed nor callable. In-process on a real local directory, and over stdio
//! through the binary.

use std::path::Path;

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;
use serde_json::json;

use crate::support::config::Config;
use crate::support::stdio::StdioServer;

const MARKER: &str = "UNDO-MARKER-51c2";

fn caller() -> Caller {
    Caller::new("a".to_owned())
}

fn put(key: &str, text: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        data: bytes::Bytes::copy_from_slice(text.as_bytes()),
        content_type: Some("text/plain".into()),
        ..Default::default()
    }
}

async fn service(dir: &Path, days: u32) -> Service {
    let cfg = Config::new()
        .local_store("disk", &dir.join("objects"), "FR")
        .tenant("a", "disk")
        .server("index_max_age_ms", 0)
        .server("keep_versions_days", days)
        .file();
    runtime::build_with_sink(&cfg, dir, Box::new(MemorySink::default()))
        .await
        .expect("runtime")
        .service
}

async fn text(svc: &Service, key: &str) -> String {
    let o = svc.get(&caller(), GetRequest::whole(key)).await.unwrap();
    String::from_utf8(o.data).unwrap()
}

/// Every file under `dir`, as bytes.
fn all_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwritten_and_deleted_objects_stay_restorable_until_purged() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 7).await;
    let c = caller();
    svc.put(&c, put("notes/a.txt", &format!("v1 {MARKER}")))
        .await
        .unwrap();
    assert!(
        svc.versions(&c, "notes/a.txt")
            .await
            .unwrap()
            .versions
            .is_empty()
    );
    svc.put(&c, put("notes/a.txt", "v2")).await.unwrap();
    svc.put(&c, put("notes/a.txt", "version three"))
        .await
        .unwrap();
    let v = svc.versions(&c, "notes/a.txt").await.unwrap();
    assert!(v.current);
    assert_eq!(v.keep_days, 7);
    let sizes: Vec<u64> = v.versions.iter().map(|v| v.size).collect();
    assert_eq!(sizes, [2, 3 + MARKER.len() as u64], "newest first");
    assert!(v.versions[0].kept_at >= v.versions[1].kept_at);
    assert_eq!(v.versions[0].content_type.as_deref(), Some("text/plain"));

    // The provider sees sealed bytes only, versions included.
    let files = all_files(&dir.path().join("objects"));
    assert_eq!(files.len(), 3, "the object and two versions");
    for f in &files {
        assert!(!f.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));
        assert!(!f.windows(9).any(|w| w == b"notes/a.t"));
    }

    // Restore the oldest: its bytes come back, the current one is kept in turn.
    let oldest = v.versions[1].version.clone();
    let restored = svc.restore(&c, "notes/a.txt", &oldest).await.unwrap();
    assert_eq!(restored.size, 3 + MARKER.len() as u64);
    assert_eq!(text(&svc, "notes/a.txt").await, format!("v1 {MARKER}"));
    let v = svc.versions(&c, "notes/a.txt").await.unwrap();
    assert_eq!(v.versions.len(), 3);
    assert_eq!(v.versions[0].size, "version three".len() as u64);
    let listed = svc.list(&c, ListRequest::default()).await.unwrap().objects;
    assert_eq!(listed.len(), 1, "listed once");
    assert_eq!(listed[0].size, 3 + MARKER.len() as u64);

    // A delete keeps the object too; restoring brings it back.
    assert!(svc.delete(&c, "notes/a.txt").await.unwrap().deleted);
    let v = svc.versions(&c, "notes/a.txt").await.unwrap();
    assert!(!v.current);
    assert_eq!(v.versions.len(), 4);
    let e = svc
        .get(&c, GetRequest::whole("notes/a.txt"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    svc.restore(&c, "notes/a.txt", &v.versions[0].version)
        .await
        .unwrap();
    assert_eq!(text(&svc, "notes/a.txt").await, format!("v1 {MARKER}"));

    // Bad and unknown version ids are typed refusals that change nothing.
    for bad in ["", "../o/x", "1234", "0000000000000000000x"] {
        let e = svc.restore(&c, "notes/a.txt", bad).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad}: {e}");
    }
    let e = svc
        .restore(&c, "notes/a.txt", "00000000000000000001")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
    // A version of another key does not restore under this one.
    svc.put(&c, put("other.txt", "o1")).await.unwrap();
    svc.put(&c, put("other.txt", "o2")).await.unwrap();
    let foreign = svc.versions(&c, "other.txt").await.unwrap().versions[0]
        .version
        .clone();
    let e = svc.restore(&c, "notes/a.txt", &foreign).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");

    // Purge: the object and every version, at once.
    assert!(svc.purge(&c, "notes/a.txt").await.unwrap().deleted);
    let v = svc.versions(&c, "notes/a.txt").await.unwrap();
    assert!(!v.current && v.versions.is_empty());
    // What is left is other.txt and its one version.
    assert_eq!(all_files(&dir.path().join("objects")).len(), 2);
    assert_eq!(text(&svc, "other.txt").await, "o2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_are_kept_and_restored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new()
        .local_store("disk", &dir.path().join("objects"), "FR")
        .tenant("a", "disk")
        .server("keep_versions_days", 1)
        .file();
    cfg.server.max_inline_bytes = Some(64 << 20);
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .unwrap()
        .service;
    let c = caller();
    let old: bytes::Bytes = (0..(20u32 << 20) + 3).map(|i| (i % 251) as u8).collect();
    let big = |data: &bytes::Bytes| PutRequest {
        key: "big.bin".into(),
        data: data.clone(),
        ..Default::default()
    };
    svc.put(&c, big(&old)).await.unwrap();
    svc.put(&c, big(&bytes::Bytes::from_static(b"small now")))
        .await
        .unwrap();
    let v = svc.versions(&c, "big.bin").await.unwrap();
    assert_eq!(v.versions[0].size, old.len() as u64);
    svc.restore(&c, "big.bin", &v.versions[0].version)
        .await
        .unwrap();
    let got = svc.get(&c, GetRequest::whole("big.bin")).await.unwrap();
    assert!(got.data == old);
}

#[test]
fn the_tools_are_listed_only_with_the_window_on() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.stderr");
    let names = |s: &mut StdioServer| -> Vec<String> {
        s.request("tools/list", json!({}))["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut s = StdioServer::start(dir.path(), &[], &log);
    let off = names(&mut s);
    assert!(
        !off.iter().any(|n| n == "versions" || n == "restore"),
        "{off:?}"
    );
    let e = s.call("versions", json!({"key": "a"})).unwrap_err();
    assert!(e.contains("TOOL_DISABLED"), "{e}");
    s.finish();

    let cfg = Config::new()
        .server("keep_versions_days", 30)
        .write_in(logs.path());
    let config = cfg.to_str().unwrap();
    let mut s = StdioServer::start(dir.path(), &["--config", config], &log);
    let on = names(&mut s);
    assert!(on.iter().any(|n| n == "versions") && on.iter().any(|n| n == "restore"));
    s.call("put", json!({"key": "n.txt", "text": "one"}))
        .unwrap();
    s.call("put", json!({"key": "n.txt", "text": "two"}))
        .unwrap();
    let v = s.call("versions", json!({"key": "n.txt"})).unwrap().json();
    assert_eq!(v["keep_days"], 30);
    let id = v["versions"][0]["version"].as_str().unwrap().to_owned();
    s.call("restore", json!({"key": "n.txt", "version": id}))
        .unwrap();
    assert_eq!(
        s.call("get", json!({"key": "n.txt"})).unwrap().data(),
        "one"
    );
    let gone = s
        .call("delete", json!({"key": "n.txt", "purge": true}))
        .unwrap()
        .json();
    assert_eq!(gone["deleted"], true);
    let v = s.call("versions", json!({"key": "n.txt"})).unwrap().json();
    assert_eq!(v["versions"].as_array().unwrap().len(), 0);
    s.finish();

    let bad = Config::new()
        .server("keep_versions_days", 5000)
        .write_in(logs.path());
    let out = crate::support::bin::run(&[
        "serve",
        "--data-dir",
        crate::support::bin::s(dir.path()),
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        crate::support::bin::stderr(&out).contains("keep_versions_days"),
        "{}",
        crate::support::bin::stderr(&out)
    );
}
