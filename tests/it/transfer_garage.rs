//! Transfer links on a real Garage: curl uploads and downloads through BitAtlas, which seals
//! and opens on the fly and writes the store in multipart parts; the bucket, read directly,
//! holds ciphertext only; a cut-short upload leaves the previous object. Each test has a
//! bucket of its own on the shared Garage node.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;
use bitatlas::transport::auth::LoopbackDefault;
use bitatlas::transport::{
    ConnectionLimits, HttpOptions, SessionLimits, TenantLimits, bind_http, serve_http,
};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::bin;
use crate::support::config::Config;
use crate::support::garage::{Bucket, shared_bucket};

const MIB: usize = 1 << 20;

fn caller() -> Caller {
    Caller::new("acme".into())
}

/// A service on `g` served over HTTP on a free loopback port (in this process).
async fn serve(g: &Bucket, dir: &std::path::Path) -> Service {
    let cfg = Config::new()
        .merge(&g.store_toml("eu", "FR"))
        .tenant("acme", "eu")
        .server("index_max_age_ms", 0)
        .file();
    let rt = runtime::build_with_sink(&cfg, dir, Box::new(MemorySink::default()))
        .await
        .expect("start");
    let listener = bind_http("127.0.0.1:0".parse().unwrap(), false, &[])
        .await
        .expect("bind");
    let service = rt.service.clone();
    let opts = HttpOptions {
        authenticator: Arc::new(LoopbackDefault {
            tenant: "acme".into(),
        }),
        allowed_origins: vec![],
        allowed_hosts: vec![],
        limits: TenantLimits {
            max_in_flight: 8,
            rate_per_second: 100.0,
            burst: 100,
        },
        request_timeout: Duration::from_secs(60),
        readiness: None,
        public_url: None,
        connections: ConnectionLimits {
            max_connections: 64,
            header_read_timeout: Duration::from_secs(20),
            drain_timeout: Duration::from_secs(5),
        },
        sessions: SessionLimits {
            max_per_tenant: 8,
            idle: Duration::from_secs(600),
        },
        oauth: None,
    };
    tokio::spawn(serve_http(rt.service, listener, opts));
    // The transport tells the service where links are served once it serves.
    for _ in 0..100 {
        let probe = service
            .transfer(&caller(), request("probe", PresignMethod::Put))
            .await;
        if probe.is_ok() {
            return service;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the HTTP transport did not start");
}

fn request(key: &str, method: PresignMethod) -> TransferRequest {
    TransferRequest {
        key: key.into(),
        method,
        expires_in: None,
        max_bytes: None,
        content_type: None,
    }
}

fn curl(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("curl");
    cmd.arg("-sS").args(args);
    bin::output(cmd)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = u32::from(seed) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_round_trips_through_a_transfer_link_on_garage() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let svc = serve(&g, dir.path()).await;
    let size = 23 * MIB + 777;
    let data = pattern(size, 7);
    let src = dir.path().join("in.bin");
    std::fs::File::create(&src)
        .unwrap()
        .write_all(&data)
        .unwrap();

    let put = svc
        .transfer(&caller(), request("films/a.mp4", PresignMethod::Put))
        .await
        .expect("upload link");
    let out = curl(&["-f", "-T", src.to_str().unwrap(), &put.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stored["size"], size as u64);
    assert_eq!(stored["stored"]["country"], "FR");

    let get = svc
        .transfer(&caller(), request("films/a.mp4", PresignMethod::Get))
        .await
        .expect("download link");
    let back = dir.path().join("out.bin");
    let out = curl(&["-f", "-o", back.to_str().unwrap(), &get.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&back).unwrap() == data, "download differs");
    let out = curl(&["-f", "-r", "5242000-5243999", &get.url]);
    assert!(out.stdout == data[5_242_000..5_244_000], "range differs");

    // Through `get` ranges as an agent reads it.
    let part = svc
        .get(
            &caller(),
            GetRequest {
                key: "films/a.mp4".into(),
                range: Some(ByteRange {
                    start: (size - 1000) as u64,
                    end: None,
                }),
            },
        )
        .await
        .expect("ranged get");
    assert!(part.data == data[size - 1000..]);

    // The bucket, read directly: one object, opaque name, no plaintext window in it.
    let raw = g.raw_client();
    let listed: Vec<_> = raw.list(None).try_collect().await.unwrap();
    let objects: Vec<_> = listed
        .iter()
        .filter(|m| m.location.as_ref().contains("/o/"))
        .collect();
    assert_eq!(objects.len(), 1, "{listed:?}");
    assert!(!objects[0].location.as_ref().contains("films"));
    let sealed = raw
        .get(&objects[0].location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    for at in (0..size - 64).step_by(size / 9) {
        let probe = &data[at..at + 64];
        assert!(
            !sealed.windows(64).any(|w| w == probe),
            "plaintext at {at} in the bucket"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_short_upload_on_garage_leaves_the_previous_object() {
    let g = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let svc = serve(&g, dir.path()).await;
    let old = pattern(3 * MIB, 1);
    svc.put(
        &caller(),
        PutRequest {
            key: "k.bin".into(),
            data: old.clone().into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let put = svc
        .transfer(&caller(), request("k.bin", PresignMethod::Put))
        .await
        .unwrap();
    // Announce 30 MiB, send 12 (two multipart parts reach Garage), hang up.
    let url = url::Url::parse(&put.url).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    s.write_all(
        format!(
            "PUT {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
            url.path(),
            30 * MIB
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let chunk = pattern(MIB, 9);
    for _ in 0..12 {
        s.write_all(&chunk).await.unwrap();
    }
    drop(s);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = svc
        .get(&caller(), GetRequest::whole("k.bin"))
        .await
        .expect("previous object");
    assert!(got.data == old, "the previous object changed");
    let page = svc.list(&caller(), ListRequest::default()).await.unwrap();
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.objects[0].size, old.len() as u64);
    // The link still works for a complete upload afterwards.
    let src = dir.path().join("new.bin");
    let new = pattern(6 * MIB, 3);
    std::fs::write(&src, &new).unwrap();
    let out = curl(&["-f", "-T", src.to_str().unwrap(), &put.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = svc
        .get(&caller(), GetRequest::whole("k.bin"))
        .await
        .unwrap();
    assert!(got.data == new);
}
