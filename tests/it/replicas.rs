//! Copies inside the EEA on two real Garage nodes: `fr-par` (the home store) and `nl-ams`
//! (the replica). A put reaches both buckets (sealed, under opaque names); with the home node
//! killed, gets are answered by the replica and say so (in the result and the audit record)
//! while writes fail typed; with the replica frozen (SIGSTOP), writes fail too; the writes that
//! reached only one copy show up in `replicas check` and `repair` settles them (the home store
//! wins); a delete leaves neither copy. A tenant pinned to France cannot have its replica in
//! the Netherlands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::config::Config;
use crate::support::garage::{Bucket, Garage};

/// Store timeouts short enough for a frozen node to fail a call quickly.
const TIMEOUTS: &str = "request_timeout_secs = 2\nconnect_timeout_secs = 1\n\
                        max_retries = 1\nretry_timeout_secs = 3\n";

fn config(home: &Bucket, replica: &Bucket) -> Config {
    Config::new()
        .merge(&format!("{}{TIMEOUTS}", home.store_toml("par", "FR")))
        .merge(&format!("{}{TIMEOUTS}", replica.store_toml("ams", "NL")))
        .tenant("acme", "par")
        .set("tenants.acme", "replicas", vec!["ams".to_owned()])
}

fn caller() -> Caller {
    Caller::new("acme".into())
}

fn put(key: &str, data: Vec<u8>) -> PutRequest {
    PutRequest {
        key: key.into(),
        data: bytes::Bytes::from(data),
        ..Default::default()
    }
}

/// Every object in a bucket: name -> bytes.
async fn contents(b: &Bucket) -> std::collections::BTreeMap<String, Vec<u8>> {
    let raw = b.raw_client();
    let mut out = std::collections::BTreeMap::new();
    let listed: Vec<_> = raw.list(None).try_collect().await.unwrap();
    for m in listed {
        let bytes = raw.get(&m.location).await.unwrap().bytes().await.unwrap();
        out.insert(m.location.to_string(), bytes.to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_copies_failover_repair_and_delete() {
    let mut par = Garage::start("fr-par");
    let ams = Garage::start("nl-ams");
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(MemorySink::default());
    let svc = runtime::build_with_sink(
        &config(&par.default, &ams.default).file(),
        dir.path(),
        Box::new(Arc::clone(&sink)),
    )
    .await
    .expect("start with a replica")
    .service;

    let secret = b"a customer's letter, in the clear".to_vec();
    let big: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i % 251) as u8).collect();
    svc.put(&caller(), put("letters/a.txt", secret.clone()))
        .await
        .unwrap();
    svc.put(&caller(), put("data/big.bin", big.clone()))
        .await
        .unwrap();

    // Both buckets hold the same sealed envelopes under the same opaque names.
    let (at_par, at_ams) = (contents(&par.default).await, contents(&ams.default).await);
    assert_eq!(at_par.len(), 2);
    assert_eq!(
        at_par, at_ams,
        "the replica holds exactly the home store's envelopes"
    );
    for (name, bytes) in &at_par {
        assert!(!name.contains("letters") && !name.contains("big"), "{name}");
        assert!(bytes.starts_with(b"BITATLAS"));
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_slice()));
    }

    // The right to know names both copies.
    let located = svc
        .locate(
            &caller(),
            LocateRequest {
                key: Some("letters/a.txt".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let copies: Vec<(String, String)> = located.receipts[0]
        .copies
        .iter()
        .map(|c| (c.store.clone(), c.country.clone()))
        .collect();
    assert_eq!(
        copies,
        [("par".into(), "FR".into()), ("ams".into(), "NL".into())]
    );

    // The home node killed: reads come from the replica, and say so; writes fail typed.
    par.stop();
    let started = Instant::now();
    let got = svc
        .get(&caller(), GetRequest::whole("letters/a.txt"))
        .await
        .expect("served by the replica");
    assert_eq!(got.data, secret);
    assert_eq!(
        got.served_by.as_ref().map(|p| p.store.as_str()),
        Some("ams")
    );
    let got = svc
        .get(&caller(), GetRequest::whole("data/big.bin"))
        .await
        .expect("a large object from the replica too");
    assert_eq!(got.data, big);
    let refused = svc
        .put(&caller(), put("letters/b.txt", b"new".to_vec()))
        .await
        .expect_err("no write while a copy is down");
    assert_eq!(refused.code, ErrorCode::StorageUnavailable);
    assert!(started.elapsed() < Duration::from_secs(60));
    let lines = sink.lines().join("\n");
    assert!(
        lines.lines().any(|l| l.contains("\"tool\":\"get\"")
            && l.contains("\"phase\":\"outcome\"")
            && l.contains("\"store\":\"ams\"")),
        "the audit record names the replica that served the read"
    );
    par.restart();

    // A write that reached only the home store (the replica frozen: it hangs): the copies
    // differ.
    ams.freeze();
    let refused = svc
        .put(&caller(), put("letters/c.txt", b"half-replicated".to_vec()))
        .await
        .expect_err("the replica is down");
    assert_eq!(refused.code, ErrorCode::StorageUnavailable);
    ams.thaw();
    // c reached only the home store, and the replica too if the frozen node finished the
    // request it had taken once thawed; b, refused while the home node was down, reached only
    // the replica. Neither was acknowledged; the home store wins.
    let check = svc.replicas(&caller(), false).await.unwrap();
    assert!(!check.agrees(), "{check:?}");
    assert_eq!((check.stale, check.extra), (0, 1), "{check:?}");
    assert!(check.missing <= 1, "{check:?}");
    let repaired = svc.replicas(&caller(), true).await.unwrap();
    assert_eq!(repaired.repaired, 1 + check.missing);
    let again = svc.replicas(&caller(), false).await.unwrap();
    assert!(again.agrees(), "{again:?}");
    assert_eq!(contents(&par.default).await, contents(&ams.default).await);

    // A delete leaves neither copy.
    let before = contents(&ams.default).await.len();
    assert!(
        svc.delete(&caller(), "letters/a.txt")
            .await
            .unwrap()
            .deleted
    );
    assert_eq!(contents(&par.default).await.len(), before - 1);
    assert_eq!(contents(&ams.default).await.len(), before - 1);
    assert_eq!(contents(&par.default).await, contents(&ams.default).await);
}

#[tokio::test]
async fn a_france_pinned_tenant_cannot_replicate_to_the_netherlands() {
    let par = Garage::start("fr-par");
    let ams = Garage::start("nl-ams");
    let dir = tempfile::tempdir().unwrap();
    let file = config(&par.default, &ams.default)
        .set("tenants.acme", "policy", "fr")
        .policy("fr", "countries", vec!["FR".to_owned()])
        .file();
    let err = runtime::build_with_sink(&file, dir.path(), Box::new(MemorySink::default()))
        .await
        .err()
        .expect("an NL replica is refused for an FR-only tenant");
    let text = err.to_string();
    assert!(text.contains("POLICY_COUNTRY_NOT_ALLOWED"), "{text}");
    assert!(text.contains("ams"), "{text}");

    // A replica that is not a configured store is refused by name.
    let file = config(&par.default, &ams.default)
        .set("tenants.acme", "replicas", vec!["nowhere".to_owned()])
        .file();
    let err = runtime::build_with_sink(&file, dir.path(), Box::new(MemorySink::default()))
        .await
        .err()
        .expect("unknown replica");
    assert!(err.to_string().contains("nowhere"), "{err}");
}
