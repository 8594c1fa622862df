//! Data portability through the command line: `bitatlas export` writes a plain `.tar` of a
//! tenant's objects under a folder (byte-identical plaintext under `objects/`, then
//! `manifest.json` with sizes, SHA-256, content types and metadata) that the `tar` crate opens
//! without BitAtlas; it refuses an unknown tenant and an existing OUT, audits every read, and
//! writes no OUT at all when a stored object was tampered with.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;
use sha2::{Digest as _, Sha256};

use crate::support::bin;
use crate::support::config::Config;

/// Larger than one streamed piece (4 MiB), so it is read, hashed and archived in parts.
const BIG: usize = (4 << 20) + 12_345;

fn put(key: &str, data: Vec<u8>) -> PutRequest {
    PutRequest {
        key: key.into(),
        data: data.into(),
        ..Default::default()
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn export(cfg: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["export", "--config", bin::s(cfg), "--data-dir", bin::s(dir)];
    all.extend(args);
    bin::run(&all)
}

/// The archive's entries in order: path and contents.
fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .expect("a tar archive")
        .map(|e| {
            let mut e = e.expect("a readable entry");
            assert_eq!(e.header().entry_type(), tar::EntryType::Regular);
            let path = e.path().unwrap().to_str().unwrap().to_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            assert_eq!(e.header().size().unwrap(), data.len() as u64, "{path}");
            (path, data)
        })
        .collect()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_a_plain_archive_of_the_folder_and_refuses_tampered_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("objects");
    let cfg = Config::new()
        .local_store("disk", &store, "DE")
        .tenant("a", "disk")
        .tenant("b", "disk")
        .write_in(dir.path());
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    let mut wanted: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    wanted.insert("docs/readme.txt", b"hello, portable world\n".to_vec());
    wanted.insert("docs/reports/2025/q1.json", br#"{"revenue":42}"#.to_vec());
    wanted.insert("docs/empty.bin", Vec::new());
    wanted.insert("docs/big/blob.bin", big.clone());
    let metadata: BTreeMap<String, String> = [("owner", "alice"), ("class", "P1 data")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    {
        let file = bitatlas::config::load(&cfg).unwrap();
        let svc = runtime::build_with_sink(&file, dir.path(), Box::new(MemorySink::default()))
            .await
            .unwrap()
            .service;
        let a = Caller::new("a".into());
        for (key, data) in &wanted {
            let mut request = put(key, data.clone());
            if key.ends_with(".json") {
                request.content_type = Some("application/json".into());
                request.metadata = metadata.clone();
            }
            svc.put(&a, request).await.unwrap();
        }
        // Outside the folder: another folder, a sibling whose name starts like it, and the
        // same key in another tenant.
        svc.put(&a, put("other/outside.txt", b"not exported".to_vec()))
            .await
            .unwrap();
        svc.put(&a, put("docs-old/x.txt", b"not exported".to_vec()))
            .await
            .unwrap();
        svc.put(
            &Caller::new("b".into()),
            put("docs/readme.txt", b"b's".to_vec()),
        )
        .await
        .unwrap();
    }

    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("export.tar");
    let done = export(
        &cfg,
        dir.path(),
        &["--tenant", "a", "--prefix", "docs", bin::s(&out)],
    );
    assert!(done.status.success(), "{}", bin::stderr(&done));
    assert!(done.stdout.is_empty(), "nothing on stdout for a file OUT");
    let total: usize = wanted.values().map(Vec::len).sum();
    assert!(
        bin::stderr(&done).contains(&format!(
            "exported 4 objects, {total} bytes to {}",
            out.display()
        )),
        "{}",
        bin::stderr(&done)
    );
    let archive = std::fs::read(&out).unwrap();
    let got = entries(&archive);

    // Exactly the folder's objects, byte for byte, then the manifest.
    let (last, manifest) = got.last().expect("entries");
    assert_eq!(last, "manifest.json");
    let files: BTreeMap<&str, &Vec<u8>> = got[..got.len() - 1]
        .iter()
        .map(|(p, d)| (p.as_str(), d))
        .collect();
    assert_eq!(files.len(), got.len() - 1, "no entry twice");
    let expected: BTreeMap<String, &Vec<u8>> = wanted
        .iter()
        .map(|(k, d)| (format!("objects/{k}"), d))
        .collect();
    assert_eq!(
        files.keys().copied().collect::<Vec<_>>(),
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for (path, data) in &expected {
        assert!(files[path.as_str()] == *data, "{path} differs");
    }

    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    assert_eq!(manifest["format"], "bitatlas-export/1");
    assert_eq!(manifest["tenant"], "a");
    assert_eq!(manifest["prefix"], "docs");
    let at = manifest["exported_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    let listed = manifest["objects"].as_array().unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert_eq!(keys, wanted.keys().copied().collect::<Vec<_>>());
    for o in listed {
        let key = o["key"].as_str().unwrap();
        let data = &wanted[key];
        assert_eq!(o["size"], data.len() as u64, "{key}");
        assert_eq!(o["sha256"], sha256(data), "{key}");
        let modified = o["modified"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(modified).is_ok(),
            "{key}: {modified}"
        );
        if key.ends_with(".json") {
            assert_eq!(o["content_type"], "application/json");
            assert_eq!(o["metadata"], serde_json::json!(metadata));
        } else {
            assert_eq!(o["content_type"], DEFAULT_CONTENT_TYPE, "{key}");
            assert_eq!(o["metadata"], serde_json::json!({}), "{key}");
        }
    }

    // Every object was read through the audited `get`, and nothing outside the folder was.
    let audit = |key: &str| -> Vec<serde_json::Value> {
        let q = bin::run(&[
            "audit",
            "query",
            "--config",
            bin::s(&cfg),
            "--data-dir",
            bin::s(dir.path()),
            "--tenant",
            "a",
            "--object",
            key,
        ]);
        assert!(q.status.success(), "{}", bin::stderr(&q));
        String::from_utf8_lossy(&q.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let reads = audit("docs/big/blob.bin");
    assert!(
        reads
            .iter()
            .any(|r| r["tool"] == "get" && r["code"] == "OK" && r["size"] == BIG as u64),
        "{reads:?}"
    );
    assert!(audit("other/outside.txt").is_empty());

    // To stdout: the same archive contents.
    let piped = export(
        &cfg,
        dir.path(),
        &["--tenant", "a", "--prefix", "docs", "-"],
    );
    assert!(piped.status.success(), "{}", bin::stderr(&piped));
    let streamed = entries(&piped.stdout);
    assert_eq!(streamed.len(), got.len());
    for ((p1, d1), (p2, d2)) in streamed.iter().zip(&got).take(got.len() - 1) {
        assert_eq!(p1, p2);
        assert!(d1 == d2, "{p1} differs on stdout");
    }

    // An unknown tenant is a usage error and writes nothing.
    let nobody = out_dir.join("nobody.tar");
    let unknown = export(
        &cfg,
        dir.path(),
        &["--tenant", "nobody", "--prefix", "docs", bin::s(&nobody)],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", bin::stderr(&unknown));
    assert!(!nobody.exists());

    // An existing OUT is refused and left alone without --force, and replaced with it.
    let existing = out_dir.join("existing.tar");
    std::fs::write(&existing, b"keep me").unwrap();
    let refused = export(
        &cfg,
        dir.path(),
        &["--tenant", "a", "--prefix", "docs", bin::s(&existing)],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", bin::stderr(&refused));
    assert!(bin::stderr(&refused).contains("--force"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    let forced = export(
        &cfg,
        dir.path(),
        &[
            "--tenant",
            "a",
            "--prefix",
            "docs",
            "--force",
            bin::s(&existing),
        ],
    );
    assert!(forced.status.success(), "{}", bin::stderr(&forced));
    assert_eq!(entries(&std::fs::read(&existing).unwrap()).len(), got.len());

    // One flipped byte in the big object's last chunk, after a whole piece of it was
    // archived: exit 4, no OUT, no leftovers, and a forced export over an existing OUT leaves
    // it as it was.
    let envelope = files_under(&store)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut sealed = std::fs::read(&envelope).unwrap();
    assert!(
        sealed.len() > BIG,
        "the largest stored file is the big object"
    );
    let at = sealed.len() - 100;
    sealed[at] ^= 0x20;
    std::fs::write(&envelope, &sealed).unwrap();
    let before: Vec<PathBuf> = files_under(&out_dir);
    let tampered = out_dir.join("tampered.tar");
    let failed = export(
        &cfg,
        dir.path(),
        &["--tenant", "a", "--prefix", "docs", bin::s(&tampered)],
    );
    assert_eq!(failed.status.code(), Some(4), "{}", bin::stderr(&failed));
    assert!(!tampered.exists(), "no OUT after an integrity failure");
    assert_eq!(files_under(&out_dir), before, "no temporary file left");
    let kept = std::fs::read(&existing).unwrap();
    let forced = export(
        &cfg,
        dir.path(),
        &[
            "--tenant",
            "a",
            "--prefix",
            "docs",
            "--force",
            bin::s(&existing),
        ],
    );
    assert_eq!(forced.status.code(), Some(4), "{}", bin::stderr(&forced));
    assert!(std::fs::read(&existing).unwrap() == kept, "OUT unchanged");
    assert_eq!(files_under(&out_dir), before, "no temporary file left");
    // To stdout, the cut archive has no manifest (the exit code is authoritative).
    let piped = export(
        &cfg,
        dir.path(),
        &["--tenant", "a", "--prefix", "docs", "-"],
    );
    assert_eq!(piped.status.code(), Some(4), "{}", bin::stderr(&piped));
    assert!(
        piped.stdout.len() > 4 << 20,
        "the verified piece was streamed"
    );
    let text = String::from_utf8_lossy(&piped.stdout);
    assert!(!text.contains("bitatlas-export/1"), "no manifest");
}
