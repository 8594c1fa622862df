//! `keys rewrap` on a real Garage bucket: after a rotation of the tenant's keyring file, every
//! envelope is rewrapped under the new KEK (none reported as changed: the store's listing and
//! HEAD times differ in precision, entity tags do not), the payload bytes after the key block
//! are unchanged, every object still opens, a second run has nothing to do, and no envelope
//! names the old KEK any more.

use std::sync::Arc;

use bitatlas::audit::MemorySink;
use bitatlas::crypto::{Keyring, Layout};
use bitatlas::runtime;
use bitatlas::service::*;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::config::Config;
use crate::support::garage::shared_bucket;

fn caller() -> Caller {
    Caller::new("acme".into())
}

async fn stored(b: &crate::support::garage::Bucket) -> Vec<Vec<u8>> {
    let raw = b.raw_client();
    let listed: Vec<_> = raw.list(None).try_collect().await.unwrap();
    let mut out = Vec::new();
    for m in listed {
        out.push(
            raw.get(&m.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_on_garage_moves_every_envelope_to_the_new_kek() {
    let bucket = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let file = Config::new()
        .merge(&bucket.store_toml("eu", "FR"))
        .tenant("acme", "eu")
        .server("max_inline_bytes", 12_000_000i64)
        .file();
    let build = || async {
        runtime::build_with_sink(&file, dir.path(), Box::new(Arc::new(MemorySink::default())))
            .await
            .expect("start")
            .service
    };
    let svc = build().await;
    let big: Vec<u8> = (0..(9 << 20) + 3).map(|i| (i % 241) as u8).collect();
    svc.put(
        &caller(),
        PutRequest {
            key: "a.txt".into(),
            data: bytes::Bytes::from_static(b"alpha"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    svc.put(
        &caller(),
        PutRequest {
            key: "big.bin".into(),
            data: bytes::Bytes::from(big.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let before = stored(&bucket).await;

    // Rotate the tenant's keyring file, as `bitatlas keys rotate --keyring` does.
    let path = runtime::keyring_path("acme", &file.tenants["acme"], dir.path());
    let mut ring = Keyring::load(&path).unwrap();
    let old = ring.primary_id().to_owned();
    let new = ring.rotate().unwrap().id;
    ring.save(&path).unwrap();

    let report = svc.rewrap(&caller(), &|_, _| {}).await.unwrap();
    assert_eq!(report.kek, new);
    assert_eq!(
        (
            report.rewrapped,
            report.changed,
            report.failed,
            report.migrated
        ),
        (2, 0, 0, 0),
        "{report:?}"
    );
    let after = stored(&bucket).await;
    assert_eq!(after.len(), before.len());
    for env in &after {
        assert_eq!(Layout::parse(env).unwrap().kek_id(), new);
        // Same size, and everything after the key block is byte for byte what it was.
        let twin = before
            .iter()
            .find(|b| {
                b.len() == env.len()
                    && b[..18] == env[..18]
                    && b[b.len() - 64..] == env[env.len() - 64..]
            })
            .expect("the envelope it was");
        let (h_old, h_new) = (
            Layout::parse(twin).unwrap().header_len() as usize,
            Layout::parse(env).unwrap().header_len() as usize,
        );
        assert_eq!(twin[h_old..], env[h_new..]);
    }
    let again = svc.rewrap(&caller(), &|_, _| {}).await.unwrap();
    assert_eq!((again.rewrapped, again.current), (0, 2), "{again:?}");
    let usage = svc.kek_usage(&caller()).await.unwrap();
    assert!(!usage.by_kek.contains_key(&old), "{usage:?}");

    // A fresh instance with the old KEK gone still opens everything.
    let mut ring = Keyring::load(&path).unwrap();
    ring.retire(&old).unwrap();
    ring.save(&path).unwrap();
    let svc = build().await;
    let got = svc
        .get(&caller(), GetRequest::whole("big.bin"))
        .await
        .unwrap();
    assert_eq!(got.data, big);
    let got = svc
        .get(&caller(), GetRequest::whole("a.txt"))
        .await
        .unwrap();
    assert_eq!(got.data, b"alpha");
}
