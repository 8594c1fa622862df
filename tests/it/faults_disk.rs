//! Full disks and torn audit tails, with the real binary: a store disk or an audit disk with
//! no room (a small tmpfs, mounted by the test) refuses the call with a typed code, keeps the
//! previous object and leaves a trail that still verifies; a trail cut mid-line by a crash is
//! named by `audit verify` and moved aside when the server starts.
//!
//! Mounting a tmpfs needs root (or CAP_SYS_ADMIN), as on the CI machines.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::support::bin::{self, s};
use crate::support::config::Config;
use crate::support::stdio::StdioServer;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "these tests mount a tmpfs and need root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Takes every free block with a filler file; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        // Whatever still fits in smaller pieces, too.
        while f.write_all(&block[..64]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Files under `dir` whose name contains `needle`, recursively.
fn files_named(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(needle))
            {
                out.push(p);
            }
        }
    }
    out
}

fn verify(data: &Path) -> (Option<i32>, String) {
    let out = bin::run(&["audit", "verify", "--data-dir", s(data)]);
    (out.status.code(), bin::text(&out))
}

#[test]
fn a_full_store_disk_refuses_the_write_with_storage_full_and_keeps_the_old_object() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount("1m");
    let data = dir.path().join("data");
    let cfg = Config::new()
        .local_store("disk", disk.path(), "DE")
        .tenant("acme", "disk")
        .write_in(dir.path());
    let log = dir.path().join("stderr");
    let mut server = StdioServer::start(&data, &["--config", s(&cfg)], &log);
    server
        .call("put", json!({"key": "keep", "text": "the first version"}))
        .expect("a small put fits");

    let big = "x".repeat(1536 * 1024);
    for key in ["keep", "new"] {
        let err = server
            .call("put", json!({"key": key, "text": big}))
            .expect_err("1.5 MiB cannot fit in a 1 MiB disk");
        assert!(err.contains("STORAGE_FULL"), "{key}: {err}");
    }
    // The old object is whole, the new one does not exist, nothing half-written is left.
    let got = server.call("get", json!({"key": "keep"})).unwrap();
    assert_eq!(got.data(), "the first version");
    let listed = server.call("list", json!({})).unwrap().keys();
    assert_eq!(listed, vec!["keep".to_string()]);
    let err = server.call("get", json!({"key": "new"})).unwrap_err();
    assert!(err.contains("NOT_FOUND"), "{err}");
    assert!(
        files_named(disk.path(), "#").is_empty(),
        "staging files left"
    );

    // With room again, the same write goes through.
    server
        .call("put", json!({"key": "keep", "text": "the second version"}))
        .unwrap();
    assert_eq!(
        server.call("get", json!({"key": "keep"})).unwrap().data(),
        "the second version"
    );
    let (status, stderr) = server.finish();
    assert!(status.success(), "{stderr}");
    let (code, text) = verify(&data);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_full_audit_disk_refuses_calls_with_audit_unavailable_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let audit_disk = Tmpfs::mount("256k");
    let data = audit_disk.path().join("data");
    let cfg = Config::new()
        .local_store("disk", &dir.path().join("objects"), "DE")
        .tenant("acme", "disk")
        .write_in(dir.path());
    let log = dir.path().join("stderr");
    let mut server = StdioServer::start(&data, &["--config", s(&cfg)], &log);
    server
        .call("put", json!({"key": "before", "text": "recorded"}))
        .unwrap();
    let filler = audit_disk.fill();

    // Records fill what is left of the trail's last block; then an intent cannot be written
    // (often part-way), and the call must not happen.
    let mut refused = None;
    for i in 0..200 {
        let key = format!("k{i}");
        match server.call("put", json!({"key": key, "text": "while full"})) {
            Ok(_) => continue,
            Err(e) => {
                assert!(e.contains("AUDIT_UNAVAILABLE"), "{key}: {e}");
                refused = Some(key);
                break;
            }
        }
    }
    let refused = refused.expect("a full audit disk never refused a put");
    // Reads fail closed too (the default): nothing is served unaudited.
    let err = server.call("get", json!({"key": "before"})).unwrap_err();
    assert!(err.contains("AUDIT_UNAVAILABLE"), "{err}");

    std::fs::remove_file(filler).unwrap();
    // The refused put did not happen; the server works again without a restart.
    let err = server.call("get", json!({"key": refused})).unwrap_err();
    assert!(err.contains("NOT_FOUND"), "{err}");
    assert_eq!(
        server.call("get", json!({"key": "before"})).unwrap().data(),
        "recorded"
    );
    let (status, stderr) = server.finish();
    assert!(status.success(), "{stderr}");
    // No torn or unacknowledged line was kept: the whole chain verifies.
    let trail = std::fs::read(data.join("audit").join("audit.jsonl")).unwrap();
    assert_eq!(trail.last(), Some(&b'\n'));
    let (code, text) = verify(&data);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_torn_audit_tail_is_named_by_verify_and_moved_aside_when_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr");
    let mut server = StdioServer::start(&data, &[], &log);
    server
        .call("put", json!({"key": "a", "text": "one"}))
        .unwrap();
    server.finish();
    let trail = data.join("audit").join("audit.jsonl");
    let whole = std::fs::read(&trail).unwrap();
    let lines = whole.iter().filter(|b| **b == b'\n').count();
    // What a crash in the middle of an append leaves: the start of a record, no line end.
    let fragment = br#"{"seq":99,"chain":"x","time":"2026-"#;
    let mut torn = whole.clone();
    torn.extend_from_slice(fragment);
    std::fs::write(&trail, &torn).unwrap();

    let (code, text) = verify(&data);
    assert_eq!(code, Some(4), "{text}");
    assert!(
        text.contains(&format!("line {}", lines + 1))
            && text.contains(&format!("torn last line: {} bytes", fragment.len())),
        "{text}"
    );

    // The server moves the fragment aside, continues the chain and says so.
    let mut server = StdioServer::start(&data, &[], &log);
    server
        .call("put", json!({"key": "b", "text": "two"}))
        .unwrap();
    let (status, stderr) = server.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("torn line"), "{stderr}");
    let side = std::fs::read(trail.with_file_name("audit.jsonl.torn")).unwrap();
    assert_eq!(&side[..fragment.len()], fragment);
    let now = std::fs::read(&trail).unwrap();
    assert_eq!(
        &now[..whole.len()],
        &whole[..],
        "the whole records are untouched"
    );
    let (code, text) = verify(&data);
    assert_eq!(code, Some(0), "{text}");

    // Damage that is not a torn tail is not "repaired": a whole last line that is not a
    // record (it ends with its line end) stops start-up, naming the trail.
    let mut bad = std::fs::read(&trail).unwrap();
    bad.extend_from_slice(b"not a record\n");
    std::fs::write(&trail, &bad).unwrap();
    let out = bin::output(bin::serve_command(&data, &[]));
    let err = bin::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot continue the audit chain"), "{err}");
    assert!(!err.contains("torn line"), "{err}");
    assert_eq!(
        std::fs::read(&trail).unwrap(),
        bad,
        "the trail is left as it was"
    );
}
