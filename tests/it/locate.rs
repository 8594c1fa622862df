//! The right to know: `locate` returns, per object and per copy, where the sealed bytes are and
//! under which key, read from what is stored; in-process on a local store and on an fr-par
//! Garage bucket, and through the `bitatlas locate` command line.

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;

use crate::support::bin;
use crate::support::config::Config;
use crate::support::garage::shared_bucket;

fn put(key: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        data: bytes::Bytes::from_static(b"where am I"),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_name_the_country_and_the_key_of_every_object() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .local_store("disk", &dir.path().join("objects"), "FR")
        .tenant("a", "disk")
        .write_in(dir.path());
    let file = bitatlas::config::load(&cfg).unwrap();
    let svc = runtime::build_with_sink(&file, dir.path(), Box::new(MemorySink::default()))
        .await
        .unwrap()
        .service;
    let c = Caller::new("a".into());
    svc.put(&c, put("hr/alice.txt")).await.unwrap();
    svc.put(&c, put("hr/bob.txt")).await.unwrap();
    svc.put(&c, put("other.txt")).await.unwrap();

    let one = svc
        .locate(
            &c,
            LocateRequest {
                key: Some("hr/alice.txt".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(one.receipts.len(), 1);
    let r = &one.receipts[0];
    assert_eq!((r.key.as_str(), r.size), ("hr/alice.txt", 10));
    let copy = &r.copies[0];
    assert_eq!(copy.store, "disk");
    assert_eq!(copy.country, "FR");
    assert!(
        copy.attested,
        "a local disk's country is the operator's word"
    );
    assert_eq!(copy.key_provider, "keyring");
    // The KEK named is the one the tenant's keyring seals with.
    let keyring = bitatlas::crypto::Keyring::load(&dir.path().join("keys").join("a.keyring"))
        .expect("the tenant's keyring");
    assert_eq!(copy.kek_id, keyring.primary_id());

    let folder = svc
        .locate(
            &c,
            LocateRequest {
                prefix: Some("hr".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let keys: Vec<&str> = folder.receipts.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["hr/alice.txt", "hr/bob.txt"]);

    svc.delete(&c, "hr/bob.txt").await.unwrap();
    let gone = svc
        .locate(
            &c,
            LocateRequest {
                key: Some("hr/bob.txt".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFound);
    assert!(gone.message.contains("no copy"), "{gone}");
    let both = svc
        .locate(
            &c,
            LocateRequest {
                key: Some("hr/alice.txt".into()),
                prefix: Some("hr".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(both.code, ErrorCode::InvalidArgument);
    drop(svc);

    // The command line says the same, as JSON an auditor can read.
    let out = bin::run(&[
        "locate",
        "--config",
        bin::s(&cfg),
        "--data-dir",
        bin::s(dir.path()),
        "--tenant",
        "a",
        "--json",
    ]);
    assert!(out.status.success(), "{}", bin::stderr(&out));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["hr/alice.txt", "other.txt"]);
    assert_eq!(all[0]["copies"][0]["country"], "FR");
    assert_eq!(all[0]["copies"][0]["kek_id"], keyring.primary_id());
    let missing = bin::run(&[
        "locate",
        "--config",
        bin::s(&cfg),
        "--data-dir",
        bin::s(dir.path()),
        "--tenant",
        "a",
        "--key",
        "hr/bob.txt",
    ]);
    assert_eq!(missing.status.code(), Some(1), "{}", bin::stderr(&missing));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_on_fr_par_garage_is_located_in_france() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .merge(&g.store_toml("eu", "FR"))
        .tenant("acme", "eu")
        .file();
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .expect("start on an fr-par bucket")
        .service;
    let c = Caller::new("acme".into());
    svc.put(&c, put("located.txt")).await.unwrap();
    let found = svc
        .locate(
            &c,
            LocateRequest {
                key: Some("located.txt".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let copy = &found.receipts[0].copies[0];
    assert_eq!(
        (copy.store.as_str(), copy.region.as_str()),
        ("eu", "fr-par")
    );
    assert_eq!(copy.country, "FR");
    assert!(
        copy.attested,
        "Garage is self-hosted: its country is attested"
    );
    assert!(copy.endpoint_host.is_some());
    assert!(!copy.kek_id.is_empty());
}
