//! Erasure through the command line: `bitatlas erase --prefix` removes every copy and every
//! kept version under a folder and prints a receipt that `bitatlas receipt verify` accepts (and
//! refuses once altered); `erase --all` crypto-shreds a tenant, so that a copy of its bucket
//! taken before cannot be opened with any keyring left.

use std::path::{Path, PathBuf};

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;

use crate::support::bin;
use crate::support::config::Config;

fn put(key: &str, text: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        data: bytes::Bytes::copy_from_slice(text.as_bytes()),
        ..Default::default()
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn cli(cfg: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--config", bin::s(cfg), "--data-dir", bin::s(dir)];
    all.splice(0..0, args.iter().take(1).copied());
    all.extend(args.iter().skip(1).copied());
    bin::run(&all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_reaches_every_version_and_the_receipt_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .local_store("disk", &dir.path().join("objects"), "DE")
        .tenant("a", "disk")
        .tenant("b", "disk")
        .server("keep_versions_days", 30)
        .write_in(dir.path());
    {
        let file = bitatlas::config::load(&cfg).unwrap();
        let svc = runtime::build_with_sink(&file, dir.path(), Box::new(MemorySink::default()))
            .await
            .unwrap()
            .service;
        let a = Caller::new("a".into());
        svc.put(&a, put("hr/alice.txt", "v1")).await.unwrap();
        svc.put(&a, put("hr/alice.txt", "v2")).await.unwrap();
        svc.put(&a, put("hr/bob.txt", "only")).await.unwrap();
        svc.delete(&a, "hr/bob.txt").await.unwrap();
        svc.put(&a, put("keep.txt", "stays")).await.unwrap();
        svc.put(&Caller::new("b".into()), put("hr/alice.txt", "b's"))
            .await
            .unwrap();
    }
    let before = files_under(&dir.path().join("objects")).len();

    let out = cli(
        &cfg,
        dir.path(),
        &["erase", "--tenant", "a", "--prefix", "hr"],
    );
    assert!(out.status.success(), "{}", bin::stderr(&out));
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(receipt["tenant"], "a");
    assert_eq!(receipt["scope"]["prefix"], "hr");
    assert_eq!(receipt["stores"][0], "disk");
    // alice (current), and bob only as a kept version: both keys, three versions in all.
    assert_eq!(receipt["objects"], 1, "{receipt}");
    assert_eq!(receipt["versions"], 2, "{receipt}");
    assert_eq!(
        before - files_under(&dir.path().join("objects")).len(),
        3,
        "the current object and both versions are gone"
    );
    let path = dir.path().join("receipt.json");
    std::fs::write(&path, &out.stdout).unwrap();
    let ok = bin::run(&[
        "receipt",
        "verify",
        bin::s(&path),
        "--data-dir",
        bin::s(dir.path()),
    ]);
    assert!(ok.status.success(), "{}", bin::stderr(&ok));
    let mut forged = receipt.clone();
    forged["objects"] = serde_json::json!(0);
    std::fs::write(&path, forged.to_string()).unwrap();
    let bad = bin::run(&[
        "receipt",
        "verify",
        bin::s(&path),
        "--data-dir",
        bin::s(dir.path()),
    ]);
    assert_eq!(bad.status.code(), Some(4), "{}", bin::stderr(&bad));

    // What is left: a's keep.txt and b's object; `locate` says the erased key is gone.
    let located = cli(&cfg, dir.path(), &["locate", "--tenant", "a", "--json"]);
    let all: serde_json::Value = serde_json::from_slice(&located.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["key"], "keep.txt");
    let gone = cli(
        &cfg,
        dir.path(),
        &["locate", "--tenant", "a", "--key", "hr/alice.txt"],
    );
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        bin::stderr(&gone).contains("erased"),
        "{}",
        bin::stderr(&gone)
    );
    let theirs = cli(
        &cfg,
        dir.path(),
        &["locate", "--tenant", "b", "--key", "hr/alice.txt"],
    );
    assert!(
        theirs.status.success(),
        "another tenant's object is untouched"
    );
    // Running it again finds nothing more (an interrupted erasure resumes this way).
    let again = cli(
        &cfg,
        dir.path(),
        &["erase", "--tenant", "a", "--prefix", "hr"],
    );
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (again["objects"].as_u64(), again["versions"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_shredding_leaves_a_copied_bucket_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .local_store("disk", &dir.path().join("objects"), "DE")
        .tenant("a", "disk")
        .tenant("b", "disk")
        .write_in(dir.path());
    {
        let file = bitatlas::config::load(&cfg).unwrap();
        let svc = runtime::build_with_sink(&file, dir.path(), Box::new(MemorySink::default()))
            .await
            .unwrap()
            .service;
        for i in 0..3 {
            svc.put(
                &Caller::new("a".into()),
                put(&format!("doc{i}.txt"), "secret"),
            )
            .await
            .unwrap();
        }
        svc.put(&Caller::new("b".into()), put("b.txt", "b"))
            .await
            .unwrap();
    }
    // The provider (or a thief) copies the bucket before the erasure.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    let originals = files_under(&dir.path().join("objects"));
    for (i, f) in originals.iter().enumerate() {
        std::fs::copy(f, copy.join(format!("{i}"))).unwrap();
    }
    let keyring = dir.path().join("keys").join("a.keyring");
    let saved = std::fs::read(&keyring).unwrap();

    let out = cli(&cfg, dir.path(), &["erase", "--tenant", "a", "--all"]);
    assert!(out.status.success(), "{}", bin::stderr(&out));
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(receipt["keys_destroyed"], true);
    assert_eq!(receipt["objects"], 3, "{receipt}");
    assert!(!keyring.exists(), "the tenant's keyring is destroyed");
    assert_eq!(
        files_under(&dir.path().join("objects")).len(),
        1,
        "only b's object is left"
    );

    // No keyring left (b's, or a new one for a) opens any copied object of a.
    let b_ring = dir.path().join("keys").join("b.keyring");
    let fresh = dir.path().join("fresh.keyring");
    let made = bin::run(&["keys", "generate", "--keyring", bin::s(&fresh)]);
    assert!(made.status.success(), "{}", bin::stderr(&made));
    assert_ne!(std::fs::read(&b_ring).unwrap(), saved);
    for (i, _) in originals.iter().enumerate() {
        for ring in [&b_ring, &fresh] {
            let input = copy.join(format!("{i}"));
            let output = dir.path().join(format!("out{i}"));
            for key in ["doc0.txt", "doc1.txt", "doc2.txt", "b.txt"] {
                let opened = bin::run(&[
                    "open",
                    "--key",
                    key,
                    "--tenant",
                    "a",
                    "--store",
                    "disk",
                    "--keyring",
                    bin::s(ring),
                    bin::s(&input),
                    bin::s(&output),
                ]);
                assert_eq!(
                    opened.status.code(),
                    Some(4),
                    "copy {i} as {key}: {}",
                    bin::stderr(&opened)
                );
                assert!(!output.exists(), "nothing written");
            }
        }
    }
}
