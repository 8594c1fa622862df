//! The S3 path against a real Garage server: sealed round trips, the bucket seen directly
//! holds only ciphertext, and a bucket answering a non-EEA region stops start-up.
//!
//! Each test has a bucket of its own on the shared node of its region; the tests that stop
//! Garage start a node of their own.

use std::sync::Arc;

use bitatlas::audit::MemorySink;
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::bin::{self, s};
use crate::support::config::Config;
use crate::support::garage::{Bucket, Garage, shared_bucket};
use crate::support::server::Serve;
use crate::support::spawn;

const MARKER: &str = "GARAGE-PLAINTEXT-MARKER";

/// The bucket as store `eu` (attested in `country`), home of tenant `acme`, index reconciled
/// on every read.
fn config_for(b: &Bucket, country: &str) -> Config {
    Config::new()
        .merge(&b.store_toml("eu", country))
        .tenant("acme", "eu")
        .server("index_max_age_ms", 0)
}

async fn start(b: &Bucket, dir: &std::path::Path) -> anyhow::Result<Service> {
    let sink = Arc::new(MemorySink::default());
    let rt = runtime::build_with_sink(&config_for(b, "FR").file(), dir, Box::new(sink)).await?;
    Ok(rt.service)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_on_garage() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&g, dir.path())
        .await
        .expect("start on an fr-par bucket");
    let c = Caller::new("acme".into());
    let put = svc
        .put(
            &c,
            PutRequest {
                key: format!("people/{MARKER}.txt"),
                data: bytes::Bytes::from(format!("{MARKER} content")),
                metadata: [("owner".to_string(), MARKER.to_string())].into(),
                ..Default::default()
            },
        )
        .await
        .expect("put");
    assert_eq!(put.placement.region, "fr-par");
    let got = svc
        .get(
            &c,
            GetRequest {
                key: format!("people/{MARKER}.txt"),
                range: None,
            },
        )
        .await
        .expect("get");
    assert_eq!(got.data, format!("{MARKER} content").as_bytes());
    let listed = svc
        .list(
            &c,
            ListRequest {
                prefix: Some("people".into()),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.objects.len(), 1);

    // Read the bucket with a plain S3 client: names are opaque, bytes are ciphertext.
    let raw = g.raw_client();
    let objects: Vec<_> = object_store::ObjectStore::list(&raw, None)
        .try_collect()
        .await
        .expect("raw list");
    assert_eq!(objects.len(), 1);
    for o in &objects {
        assert!(!o.location.as_ref().contains(MARKER));
        assert!(!o.location.as_ref().contains("people"));
        let bytes = raw.get(&o.location).await.unwrap().bytes().await.unwrap();
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "plaintext in the bucket"
        );
    }

    let deleted = svc
        .delete(&c, &format!("people/{MARKER}.txt"))
        .await
        .expect("delete");
    assert!(deleted.deleted);
    let left: Vec<_> = object_store::ObjectStore::list(&raw, None)
        .try_collect()
        .await
        .expect("raw list");
    assert!(left.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_in_us_east_1_stops_start_up() {
    let g = shared_bucket("us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_for(&g, "FR").file();
    // The operator claims fr-par; the bucket says otherwise.
    if let Some(s) = cfg.stores.get_mut("eu") {
        s.region = Some("fr-par".into());
    }
    let sink = Arc::new(MemorySink::default());
    let err = match runtime::build_with_sink(&cfg, dir.path(), Box::new(sink)).await {
        Ok(_) => panic!("start-up must fail"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("store eu"), "{err}");
    assert!(
        err.contains("POLICY_LOCATION_MISMATCH") || err.contains("POLICY_NON_EEA_REGION"),
        "{err}"
    );

    // `bitatlas serve` refuses with the policy exit code, naming what the server answered.
    let dir = tempfile::tempdir().unwrap();
    let text = Config::new()
        .merge(
            &g.store_toml("eu", "FR")
                .replace("region = \"us-east-1\"", "region = \"fr-par\""),
        )
        .tenant("acme", "eu");
    let out = serve_with(&text, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for part in [
        "store eu",
        "POLICY_LOCATION_MISMATCH",
        g.endpoint.as_str(),
        "400",
        "AuthorizationHeaderMalformed",
        "us-east-1",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
    assert!(!err.contains("serving"), "{err}");
}

/// `bitatlas serve --config` on `config` (stdin closed: a served stdio session ends at once).
fn serve_with(config: &Config, dir: &std::path::Path) -> std::process::Output {
    let cfg = config.write_in(dir);
    bin::serve_once(dir, &["--config", s(&cfg)])
}

/// A location that cannot be checked stops start-up with exit 1, naming the store, the
/// endpoint, the HTTP status and the S3 error code, although Garage's error documents carry
/// its (matching) region: a missing bucket, a wrong secret, a key that may write but not read
/// the bucket, and no server at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_whose_location_cannot_be_checked_stop_start_up() {
    let g = shared_bucket("fr-par");
    let (writer_id, writer_secret) = g.key_with("writer", &["write"]);
    let cases = [
        (
            "missing bucket",
            g.store_toml_as("eu", "FR", "no-such-bucket", &g.key_id, &g.secret),
            vec!["404", "NoSuchBucket", "/no-such-bucket?location"],
        ),
        (
            "wrong secret",
            g.store_toml_as("eu", "FR", &g.name, &g.key_id, &"0".repeat(64)),
            vec!["403", "AccessDenied"],
        ),
        (
            "write-only key",
            g.store_toml_as("eu", "FR", &g.name, &writer_id, &writer_secret),
            vec!["403", "AccessDenied", "read permission"],
        ),
    ];
    for (what, store, parts) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = serve_with(
            &Config::new().merge(&store).tenant("acme", "eu"),
            dir.path(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("store eu"), "{what}: {err}");
        assert!(err.contains(&g.endpoint), "{what}: endpoint missing: {err}");
        for part in parts {
            assert!(err.contains(part), "{what}: {part:?} missing from: {err}");
        }
        assert!(!err.contains("serving"), "{what}: {err}");
        assert!(
            !err.contains(&g.secret) && !err.contains(&writer_secret),
            "{what}: {err}"
        );
    }
    // The write-only key really may write: the refusal is about reading the location.
    let writer = g.client_as(&writer_id, &writer_secret);
    writer
        .put(&object_store::path::Path::from("w/probe"), "x".into())
        .await
        .expect("the write-only key can write");

    // Nothing listening on the endpoint.
    let closed = crate::support::free_port();
    let store = g
        .store_toml("eu", "FR")
        .replace(&g.endpoint, &format!("http://127.0.0.1:{closed}"));
    let dir = tempfile::tempdir().unwrap();
    let out = serve_with(
        &Config::new().merge(&store).tenant("acme", "eu"),
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("store eu") && err.contains(&format!("127.0.0.1:{closed}")),
        "{err}"
    );
    assert!(err.contains("no answer"), "{err}");
}

/// `/readyz` turns 503 within two check intervals of the home store going away, and 200
/// again once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_home_store() {
    use std::time::{Duration, Instant};
    // Its own node: this test stops and restarts it.
    let mut g = Garage::start("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(1);
    let cfg = Config::new()
        .merge(&g.default.store_toml("eu", "FR"))
        .tenant("acme", "eu")
        .server("store_check_secs", interval.as_secs() as i64)
        .write_in(dir.path());
    let server = Serve::on(dir.path()).http().config(&cfg).spawn();
    let url = format!("{}/readyz", server.base());
    let client = reqwest::Client::new();
    let status = || async {
        client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let wait_for = |want: u16, within: Duration| {
        let status = &status;
        async move {
            let start = Instant::now();
            loop {
                if status().await == want {
                    return Some(start.elapsed());
                }
                if start.elapsed() > within {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let log_text = || server.log_text();
    assert!(
        wait_for(200, Duration::from_secs(60)).await.is_some(),
        "never ready: {}",
        log_text()
    );
    g.stop();
    let down = wait_for(503, 2 * interval + Duration::from_millis(1500)).await;
    let down =
        down.unwrap_or_else(|| panic!("/readyz stayed 200 with Garage stopped: {}", log_text()));
    eprintln!(
        "readyz: 503 {} ms after Garage stopped (interval {} s)",
        down.as_millis(),
        interval.as_secs()
    );
    g.restart();
    let up = wait_for(200, 2 * interval + Duration::from_millis(1500)).await;
    let up =
        up.unwrap_or_else(|| panic!("/readyz stayed 503 after Garage restarted: {}", log_text()));
    eprintln!(
        "readyz: 200 {} ms after Garage answered again",
        up.as_millis()
    );
    assert!(log_text().contains("store unavailable"), "{}", log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_store_is_a_typed_error() {
    // Its own node: this test stops it.
    let mut g = Garage::start("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&g.default, dir.path()).await.expect("start");
    g.stop();
    let c = Caller::new("acme".into());
    let e = svc
        .put(
            &c,
            PutRequest {
                key: "k".into(),
                data: bytes::Bytes::from("v"),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageUnavailable);
    assert!(!e.message.contains("127.0.0.1"), "{}", e.message);
}

fn curl(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--fail"]).args(args);
    bin::output(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_then_open_and_sealed_put() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_for(&g, "FR").file();
    cfg.policies.insert(
        "uploads".into(),
        bitatlas::config::PolicyConfig {
            allow_presign_put: true,
            ..Default::default()
        },
    );
    let sink = Arc::new(MemorySink::default());
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(Arc::clone(&sink)))
        .await
        .expect("start")
        .service;
    let c = Caller::new("acme".into());
    let payload = "presigned payload ".repeat(10_000);
    svc.put(
        &c,
        PutRequest {
            key: "big/file.txt".into(),
            data: bytes::Bytes::from(payload.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let p = svc
        .presign(
            &c,
            PresignRequest {
                key: "big/file.txt".into(),
                method: PresignMethod::Get,
                expires_in: None,
            },
        )
        .await
        .expect("presign GET");
    assert_eq!(p.host, "127.0.0.1");
    assert_eq!(p.placement.country, "FR");
    let sealed = dir.path().join("download.sealed");
    let out = curl(&["-o", sealed.to_str().unwrap(), &p.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fetched = std::fs::read(&sealed).unwrap();
    assert!(
        !fetched.windows(9).any(|w| w == b"presigned"),
        "ciphertext only"
    );
    let keyring = dir.path().join("keys").join("acme.keyring");
    let opened = dir.path().join("download.txt");
    let k = keyring.to_str().unwrap();
    let o = bin::run(&[
        "open",
        "--key",
        "big/file.txt",
        "--tenant",
        "acme",
        "--store",
        "eu",
        "--keyring",
        k,
        sealed.to_str().unwrap(),
        opened.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), payload);
    // Opened under another key, the same bytes are refused.
    let wrong = bin::run(&[
        "open",
        "--key",
        "big/other.txt",
        "--tenant",
        "acme",
        "--store",
        "eu",
        "--keyring",
        k,
        sealed.to_str().unwrap(),
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(wrong.status.code(), Some(4));

    // PUT is refused by the default policy.
    let e = svc
        .presign(
            &c,
            PresignRequest {
                key: "up/data.bin".into(),
                method: PresignMethod::Put,
                expires_in: Some(60),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::PolicyPresignPutDisabled);
    let too_long = svc
        .presign(
            &c,
            PresignRequest {
                key: "big/file.txt".into(),
                method: PresignMethod::Get,
                expires_in: Some(3601),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(too_long.code, ErrorCode::InvalidArgument);
    let presigns = sink
        .lines()
        .iter()
        .filter(|l| l.contains("\"tool\":\"presign\""))
        .count();
    assert!(
        presigns >= 6,
        "presign calls are audited (intent + outcome)"
    );
    for l in sink.lines() {
        assert!(!l.contains("X-Amz-Signature"), "signature in audit: {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_upload_through_a_presigned_put() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .merge(&g.store_toml("eu", "FR"))
        .tenant_with_policy("acme", "eu", "uploads")
        .policy("uploads", "allow_presign_put", true)
        .server("index_max_age_ms", 0)
        .file();
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .expect("start")
        .service;
    let c = Caller::new("acme".into());
    let keyring = dir.path().join("keys").join("acme.keyring");
    let plain = dir.path().join("upload.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&plain, &data).unwrap();
    let sealed = dir.path().join("upload.sealed");
    let s = bin::run(&[
        "seal",
        "--key",
        "up/data.bin",
        "--tenant",
        "acme",
        "--store",
        "eu",
        "--keyring",
        keyring.to_str().unwrap(),
        plain.to_str().unwrap(),
        sealed.to_str().unwrap(),
    ]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let p = svc
        .presign(
            &c,
            PresignRequest {
                key: "up/data.bin".into(),
                method: PresignMethod::Put,
                expires_in: Some(120),
            },
        )
        .await
        .expect("presign PUT");
    let up = curl(&[
        "-X",
        "PUT",
        "--upload-file",
        sealed.to_str().unwrap(),
        &p.url,
    ]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let got = svc
        .get(
            &c,
            GetRequest {
                key: "up/data.bin".into(),
                range: Some(ByteRange {
                    start: 100_000,
                    end: Some(100_100),
                }),
            },
        )
        .await
        .expect("get the uploaded object");
    assert_eq!(got.data, &data[100_000..100_100]);
    let listed = svc.list(&c, ListRequest::default()).await.unwrap();
    assert_eq!(listed.objects.len(), 1);
    assert_eq!(listed.objects[0].size, data.len() as u64);

    // An envelope uploaded to another key's URL never becomes that key's object.
    let p2 = svc
        .presign(
            &c,
            PresignRequest {
                key: "up/forged.bin".into(),
                method: PresignMethod::Put,
                expires_in: Some(120),
            },
        )
        .await
        .unwrap();
    let up = curl(&[
        "-X",
        "PUT",
        "--upload-file",
        sealed.to_str().unwrap(),
        &p2.url,
    ]);
    assert!(up.status.success());
    let e = svc
        .get(
            &c,
            GetRequest {
                key: "up/forged.bin".into(),
                range: None,
            },
        )
        .await
        .unwrap_err();
    // The upload was refused when the read found it: nothing is under the key.
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the guard only keeps other tests from starting children
async fn audit_trail_in_a_garage_bucket_fails_closed() {
    // Its own node: this test stops it.
    let mut g = Garage::start("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new()
        .merge(&g.default.store_toml("trail", "FR"))
        .local_store("disk", &dir.path().join("objects"), "FR")
        .set("audit", "store", "trail")
        .tenant("acme", "disk");
    let cfg_path = config.write_in(dir.path());
    let cfg: ConfigFile = config.file();
    let c = Caller::new("acme".into());
    {
        // No child process may keep a copy of this runtime's trail claim past its shutdown:
        // the restart below continues the same chain.
        let _exclusive = spawn::exclusive();
        let rt = runtime::build(&cfg, dir.path()).await.expect("start");
        for i in 0..3 {
            rt.service
                .put(
                    &c,
                    PutRequest {
                        key: format!("doc/{i}"),
                        data: bytes::Bytes::from(format!("{MARKER} {i}")),
                        ..Default::default()
                    },
                )
                .await
                .expect("put");
        }
        rt.service.shutdown();
    }
    // The trail is in the bucket, pseudonymised, and verifies from there.
    let raw = g.default.raw_client();
    let segments: Vec<_> = object_store::ObjectStore::list(&raw, None)
        .try_collect()
        .await
        .unwrap();
    assert!(!segments.is_empty());
    for s in &segments {
        assert!(s.location.as_ref().starts_with("audit/"));
        let bytes = raw.get(&s.location).await.unwrap().bytes().await.unwrap();
        assert!(!bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));
        assert!(!bytes.windows(5).any(|w| w == b"doc/0"));
    }
    let verify_args = [
        "audit",
        "verify",
        "--sink",
        "trail",
        "--config",
        s(&cfg_path),
        "--data-dir",
        s(dir.path()),
    ];
    let verify = bin::run(&verify_args);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // Deleting the newest segment from the bucket is caught through the local checkpoint copy.
    let mut names: Vec<_> = segments.iter().map(|s| s.location.clone()).collect();
    names.sort();
    let newest = names.last().unwrap().clone();
    let kept = raw.get(&newest).await.unwrap().bytes().await.unwrap();
    raw.delete(&newest).await.unwrap();
    let tampered = bin::run(&verify_args);
    assert_eq!(
        tampered.status.code(),
        Some(4),
        "a dropped segment is detected"
    );
    raw.put(&newest, kept.into()).await.unwrap();

    // With the audit bucket down, a put is refused and nothing reaches the data store.
    let rt = runtime::build(&cfg, dir.path()).await.expect("restart");
    let count = || walk(&dir.path().join("objects"));
    let before = count();
    g.stop();
    let e = rt
        .service
        .put(
            &c,
            PutRequest {
                key: "doc/refused".into(),
                data: bytes::Bytes::from("never stored"),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AuditUnavailable);
    assert_eq!(count(), before, "nothing was stored");
}

fn walk(dir: &std::path::Path) -> usize {
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            n += if p.is_dir() { walk(&p) } else { 1 };
        }
    }
    n
}

/// The S3 adapter passes the shared adapter conformance suite on a real Garage bucket,
/// including streamed (multipart) puts and one cut short before its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_adapter_conforms_on_garage() {
    let g = shared_bucket("fr-par");
    let bucket = bitatlas_adapters::S3Bucket::connect(&bitatlas_adapters::S3Settings {
        endpoint: g.endpoint.clone(),
        region: g.region.clone(),
        bucket: g.name.clone(),
        access_key_id: g.key_id.clone(),
        secret_access_key: g.secret.clone().into(),
        allow_http: true,
        timeouts: Default::default(),
    })
    .expect("connect");
    bitatlas_adapters::conformance::run_all(&bucket.adapter(), "conf").await;
    // The aborted multipart upload left no object behind besides the suite's own.
    let listed: Vec<_> = g.raw_client().list(None).try_collect().await.unwrap();
    assert!(
        listed
            .iter()
            .all(|m| m.location.as_ref().starts_with("conf/"))
    );
}

/// A put large enough to be sealed and stored part by part reads back whole and in ranges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_put_is_stored_in_parts_on_garage() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_for(&g, "FR").file();
    cfg.server.max_inline_bytes = Some(32 << 20);
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .expect("start")
        .service;
    let c = Caller::new("acme".into());
    let data: bytes::Bytes = (0..(20u32 << 20)).map(|i| (i % 253) as u8).collect();
    svc.put(
        &c,
        PutRequest {
            key: "big/object.bin".into(),
            data: data.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("streamed put");
    let got = svc
        .get(
            &c,
            GetRequest {
                key: "big/object.bin".into(),
                range: None,
            },
        )
        .await
        .expect("get");
    assert!(got.data == data, "whole object");
    let mid = 11 << 20;
    let part = svc
        .get(
            &c,
            GetRequest {
                key: "big/object.bin".into(),
                range: Some(ByteRange {
                    start: mid,
                    end: Some(mid + 100_000),
                }),
            },
        )
        .await
        .expect("range");
    assert_eq!(part.data, &data[mid as usize..mid as usize + 100_000]);
    let listed = svc.list(&c, ListRequest::default()).await.unwrap();
    assert_eq!(listed.objects[0].size, data.len() as u64);
    // Stored as a multipart upload of four parts: S3 ETags of those end in `-4`.
    let raw: Vec<_> = g.raw_client().list(None).try_collect().await.unwrap();
    let objects: Vec<_> = raw.iter().filter(|m| m.size > 1 << 20).collect();
    assert_eq!(objects.len(), 1);
    let etag = objects[0].e_tag.as_deref().unwrap_or_default();
    assert!(etag.trim_matches('"').ends_with("-4"), "etag {etag}");
}
