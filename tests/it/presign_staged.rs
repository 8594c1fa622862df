//! Presigned PUT URLs on a real Garage: whoever holds one can neither destroy the object
//! (garbage, an envelope for another key) nor roll it back (an older or the current
//! envelope, fetched from the bucket), and a fresh sealed upload replaces the object once.

use std::path::Path;
use std::sync::Arc;

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::bin;
use crate::support::config::Config;
use crate::support::garage::shared_bucket;

fn curl(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--fail"]).args(args);
    bin::output(cmd)
}

fn presign_req(key: &str, method: PresignMethod) -> PresignRequest {
    PresignRequest {
        key: key.into(),
        method,
        expires_in: Some(600),
    }
}

async fn text(svc: &Service, c: &Caller, key: &str) -> String {
    let o = svc
        .get(
            c,
            GetRequest {
                key: key.into(),
                range: None,
            },
        )
        .await
        .expect("get");
    String::from_utf8(o.data.to_vec()).unwrap()
}

async fn put_text(svc: &Service, c: &Caller, key: &str, body: &str) {
    svc.put(
        c,
        PutRequest {
            key: key.into(),
            data: bytes::Bytes::from(body.to_owned()),
            ..Default::default()
        },
    )
    .await
    .expect("put");
}

fn upload(url: &str, file: &Path) {
    let up = curl(&["-X", "PUT", "--upload-file", file.to_str().unwrap(), url]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
}

fn download(url: &str, file: &Path) {
    let out = curl(&["-o", file.to_str().unwrap(), url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The outcome codes of the `presign-commit` calls so far.
fn commit_codes(sink: &MemorySink) -> Vec<String> {
    sink.lines()
        .iter()
        .filter(|l| l.contains("\"tool\":\"presign-commit\"") && l.contains("\"outcome\""))
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some(v["code"].as_str()?.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_put_can_neither_destroy_nor_roll_back() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .merge(&g.store_toml("eu", "FR"))
        .tenant_with_policy("acme", "eu", "uploads")
        .policy("uploads", "allow_presign_put", true)
        .server("index_max_age_ms", 0)
        .file();
    let sink = Arc::new(MemorySink::default());
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(Arc::clone(&sink)))
        .await
        .expect("start")
        .service;
    let c = Caller::new("acme".into());
    let key = "docs/a.txt";
    let f = |n: &str| dir.path().join(n);

    // v1 is stored and its ciphertext fetched, as anyone with a GET URL can; then v2.
    put_text(&svc, &c, key, "version one").await;
    let get_url = svc
        .presign(&c, presign_req(key, PresignMethod::Get))
        .await
        .unwrap();
    download(&get_url.url, &f("v1.sealed"));
    put_text(&svc, &c, key, "version two").await;
    let get_url = svc
        .presign(&c, presign_req(key, PresignMethod::Get))
        .await
        .unwrap();
    download(&get_url.url, &f("v2.sealed"));

    let put_url = svc
        .presign(&c, presign_req(key, PresignMethod::Put))
        .await
        .expect("presign PUT");
    assert_ne!(
        url::Url::parse(&put_url.url).unwrap().path(),
        url::Url::parse(&get_url.url).unwrap().path(),
        "a PUT URL never points at the object itself"
    );

    // Garbage: refused at the next read, which serves v2.
    std::fs::write(f("garbage"), b"not an envelope at all").unwrap();
    upload(&put_url.url, &f("garbage"));
    assert_eq!(text(&svc, &c, key).await, "version two");
    // The older envelope, and the current one: both refused.
    upload(&put_url.url, &f("v1.sealed"));
    assert_eq!(text(&svc, &c, key).await, "version two");
    upload(&put_url.url, &f("v2.sealed"));
    assert_eq!(text(&svc, &c, key).await, "version two");
    assert_eq!(
        commit_codes(&sink),
        ["INTEGRITY_FAILURE", "CONFLICT", "CONFLICT"]
    );
    let listed = svc.list(&c, ListRequest::default()).await.unwrap();
    assert_eq!(listed.objects.len(), 1);
    assert_eq!(listed.objects[0].size, "version two".len() as u64);

    // A fresh envelope sealed for the key with the tenant's keyring becomes the object, found
    // by a `list` first; sent again through the same URL it is refused.
    let keyring = dir.path().join("keys").join("acme.keyring");
    std::fs::write(f("v3.txt"), "version three").unwrap();
    let s = bin::run(&[
        "seal",
        "--key",
        key,
        "--tenant",
        "acme",
        "--store",
        "eu",
        "--keyring",
        keyring.to_str().unwrap(),
        f("v3.txt").to_str().unwrap(),
        f("v3.sealed").to_str().unwrap(),
    ]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    upload(&put_url.url, &f("v3.sealed"));
    let listed = svc.list(&c, ListRequest::default()).await.unwrap();
    assert_eq!(listed.objects[0].size, "version three".len() as u64);
    assert_eq!(text(&svc, &c, key).await, "version three");
    put_text(&svc, &c, key, "version four").await;
    upload(&put_url.url, &f("v3.sealed"));
    assert_eq!(text(&svc, &c, key).await, "version four");
    assert_eq!(
        commit_codes(&sink),
        [
            "INTEGRITY_FAILURE",
            "CONFLICT",
            "CONFLICT",
            "OK",
            "CONFLICT"
        ]
    );

    // An envelope for another key, sent to this key's URL: refused; nothing under the key.
    let other = svc
        .presign(&c, presign_req("docs/b.txt", PresignMethod::Put))
        .await
        .unwrap();
    upload(&other.url, &f("v3.sealed"));
    let e = svc
        .get(
            &c,
            GetRequest {
                key: "docs/b.txt".into(),
                range: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);

    // No staged upload is left behind, and the bucket holds no plaintext.
    let raw = g.raw_client();
    let all: Vec<_> = raw.list(None).try_collect().await.unwrap();
    let root = Tenant::storage_root(
        &bitatlas::crypto::Keyring::from_json(&std::fs::read_to_string(&keyring).unwrap()).unwrap(),
        "acme",
    )
    .unwrap();
    let staged = format!("{}/s/", root.as_str());
    assert!(
        !all.iter().any(|o| o.location.as_ref().starts_with(&staged)),
        "staged uploads are deleted once settled"
    );
    for o in all
        .iter()
        .filter(|o| o.location.as_ref().starts_with(root.as_str()))
    {
        let bytes = raw.get(&o.location).await.unwrap().bytes().await.unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"version"));
    }
}
