//! Faults of the store under a call, with real processes: a Garage frozen (`SIGSTOP`) in the
//! middle of a multipart overwrite and of a streamed get, and a server killed (`kill -9`) in
//! the middle of a large overwrite, on Garage and on the local store.
//!
//! What must hold: the call ends with a typed error within a bounded time (the store's
//! timeouts, `docs/operations.md`); the previous object stays readable, whole, and is listed
//! once; other tenants and stores keep being served; and what a crash left unfinished
//! (multipart uploads, staging files) is cleaned up by the next start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;
use bitatlas_adapters::{S3Bucket, S3Settings, S3Timeouts, StorageName};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::config::Config;
use crate::support::envelope::pattern;
use crate::support::garage::{Bucket, Garage, shared_bucket};
use crate::support::http::McpHttp;
use crate::support::server::Serve;

const MIB: usize = 1 << 20;

/// The store timeouts of the frozen-store tests: 2 s a request, tried twice.
const TIMEOUTS: &str = "request_timeout_secs = 2\nconnect_timeout_secs = 1\n\
                        max_retries = 1\nretry_timeout_secs = 3\n";

/// The same, as the adapter reads them.
fn timeouts() -> S3Timeouts {
    S3Timeouts {
        request: Duration::from_secs(2),
        connect: Duration::from_secs(1),
        max_retries: 1,
        retry_timeout: Duration::from_secs(3),
    }
}

/// How long a call may take once the store froze: the worst case of the one request that
/// hangs (4.1 s here), twice over for a request that was already under way and the parts in
/// flight beside it, plus room for a loaded machine. A hang would take forever.
fn bound() -> Duration {
    timeouts().worst_case() * 2 + Duration::from_secs(10)
}

fn caller(tenant: &str) -> Caller {
    Caller::new(tenant.into())
}

fn stream(key: &str) -> StreamPut {
    StreamPut {
        key: key.into(),
        content_type: None,
        metadata: Default::default(),
        max_bytes: None,
        expected_size: None,
    }
}

/// Remembers how far a streamed put got.
#[derive(Default)]
struct Seen(AtomicU64);

impl Progress for Seen {
    fn advanced(&self, done: u64, _total: Option<u64>) {
        self.0.store(done, Ordering::SeqCst);
    }
}

/// Reads a whole object through a streamed download.
async fn read_all(svc: &Service, tenant: &str, key: &str) -> Result<Vec<u8>, ServiceError> {
    let mut d = svc
        .download(&caller(tenant), GetRequest::whole(key))
        .await?;
    let mut out = Vec::new();
    while let Some(piece) = d.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

async fn listed_keys(svc: &Service, tenant: &str) -> Vec<String> {
    let page = svc
        .list(&caller(tenant), ListRequest::default())
        .await
        .expect("list");
    page.objects.into_iter().map(|o| o.key).collect()
}

/// A frozen Garage under a multipart overwrite and under a streamed get: each call ends with
/// `STORAGE_UNAVAILABLE` within the bound, a local-store tenant is served meanwhile, and once
/// Garage runs again the previous object reads back whole and is listed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_garage_ends_calls_in_bounded_time_and_keeps_the_previous_object() {
    // Its own node: this test freezes it.
    let g = Garage::start("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .merge(&format!("{}{TIMEOUTS}", g.default.store_toml("eu", "FR")))
        .local_store("home", &dir.path().join("home"), "DE")
        .tenant("acme", "eu")
        .tenant("beta", "home")
        .server("index_max_age_ms", 0)
        .file();
    let rt = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .expect("start");
    let svc = rt.service;

    let old = pattern(24 * MIB + 5);
    svc.put_stream(&caller("acme"), stream("films/a.bin"), &mut &old[..], None)
        .await
        .expect("first version");

    // The overwrite: fed through a pipe so that the store can freeze between its parts.
    let (mut tx, mut rx) = tokio::io::duplex(MIB);
    let feeder = tokio::spawn(async move {
        let new = pattern(64 * MIB + 1);
        for piece in new.chunks(MIB) {
            if tx.write_all(piece).await.is_err() {
                return;
            }
        }
    });
    let seen = Arc::new(Seen::default());
    let put = {
        let (svc, seen) = (svc.clone(), seen.clone());
        tokio::spawn(async move {
            svc.put_stream(
                &caller("acme"),
                stream("films/a.bin"),
                &mut rx,
                Some(&*seen),
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.0.load(Ordering::SeqCst) < 2 * bitatlas_adapters::MIN_PART_SIZE as u64 {
        assert!(Instant::now() < deadline, "the overwrite never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    g.freeze();
    let frozen = Instant::now();

    // Another tenant on another store is served while Garage hangs.
    svc.put(
        &caller("beta"),
        PutRequest {
            key: "notes/n.txt".into(),
            data: bytes::Bytes::from_static(b"still here"),
            ..Default::default()
        },
    )
    .await
    .expect("a local-store put while Garage is frozen");
    assert_eq!(
        read_all(&svc, "beta", "notes/n.txt").await.unwrap(),
        b"still here"
    );

    let ended = tokio::time::timeout(bound() * 2, put)
        .await
        .expect("the overwrite hung on a frozen store")
        .unwrap();
    let took = frozen.elapsed();
    let e = ended.expect_err("an overwrite into a frozen store succeeded");
    assert_eq!(e.code.as_str(), "STORAGE_UNAVAILABLE", "{e:?}");
    assert!(took < bound(), "the overwrite took {took:?} to fail");
    eprintln!(
        "frozen mid-multipart: failed after {took:?} (bound {:?})",
        bound()
    );
    feeder.abort();

    // A get of a frozen store fails the same way.
    let started = Instant::now();
    let e = read_all(&svc, "acme", "films/a.bin").await.unwrap_err();
    assert_eq!(e.code.as_str(), "STORAGE_UNAVAILABLE", "{e:?}");
    assert!(started.elapsed() < bound(), "{:?}", started.elapsed());

    // Mid-get: the first piece arrives, then the store freezes.
    g.thaw();
    let mut d = svc
        .download(&caller("acme"), GetRequest::whole("films/a.bin"))
        .await
        .expect("open the download");
    let first = d.next().await.expect("a first piece").expect("first piece");
    assert_eq!(&first[..], &old[..first.len()]);
    g.freeze();
    let frozen = Instant::now();
    let mut failed = None;
    let mut read = first.len();
    while let Some(piece) = tokio::time::timeout(bound() * 2, d.next())
        .await
        .expect("the get hung")
    {
        match piece {
            Ok(p) => {
                assert_eq!(&p[..], &old[read..read + p.len()], "bytes at {read}");
                read += p.len();
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let took = frozen.elapsed();
    let e = failed
        .unwrap_or_else(|| panic!("the whole object ({read} bytes) came from a frozen store"));
    assert_eq!(e.code.as_str(), "STORAGE_UNAVAILABLE", "{e:?}");
    assert!(took < bound(), "the get took {took:?} to fail");
    eprintln!("frozen mid-get: failed after {took:?} at byte {read}");
    drop(d);

    // Running again: the previous object whole, listed once.
    g.thaw();
    assert_eq!(read_all(&svc, "acme", "films/a.bin").await.unwrap(), old);
    assert_eq!(listed_keys(&svc, "acme").await, ["films/a.bin"]);
}

/// The bucket's own view of the unfinished uploads under BitAtlas's object names.
async fn uploads(b: &Bucket) -> usize {
    let bucket = S3Bucket::connect(&S3Settings {
        endpoint: b.endpoint.clone(),
        region: b.region.clone(),
        bucket: b.name.clone(),
        access_key_id: b.key_id.clone(),
        secret_access_key: b.secret.clone().into(),
        allow_http: true,
        timeouts: S3Timeouts::default(),
    })
    .expect("connect");
    bucket
        .list_uploads(&StorageName::parse("t").unwrap())
        .await
        .expect("list uploads")
        .len()
}

/// Staging files (`<name>#<digits>`) under a local store's directory.
fn staging_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Some((_, n)) = e.file_name().to_string_lossy().rsplit_once('#')
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
            {
                found.push(path);
            }
        }
    }
    found
}

/// Where the killed overwrite of [`killed_mid_overwrite`] wrote.
enum Target<'a> {
    Garage(&'a Bucket),
    Local(&'a std::path::Path),
}

impl Target<'_> {
    fn store_toml(&self) -> String {
        let own = match self {
            Target::Garage(b) => b.store_toml("eu", "FR"),
            Target::Local(path) => format!(
                "[stores.eu]\nprovider = \"local\"\npath = \"{}\"\ncountry = \"DE\"\n",
                path.display()
            ),
        };
        format!("{own}stale_upload_secs = 1\n")
    }

    /// Whether the overwrite in progress has written some of its parts.
    async fn under_way(&self) -> bool {
        match self {
            Target::Garage(b) => uploads(b).await > 0,
            Target::Local(path) => !staging_files(path).is_empty(),
        }
    }

    /// Whether anything of an unfinished write is left.
    async fn leftovers(&self) -> usize {
        match self {
            Target::Garage(b) => uploads(b).await,
            Target::Local(path) => staging_files(path).len(),
        }
    }
}

/// Starts an upload of `total` bytes to a transfer link by hand (so that it can stop
/// half-way) and sends the first `sent` of them; returns the connection, still open.
async fn start_upload(url: &str, total: usize, body: &[u8]) -> tokio::net::TcpStream {
    let url = reqwest::Url::parse(url).expect("link URL");
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: {}\r\nContent-Length: {total}\r\n\r\n",
        url.path(),
        url.query().unwrap_or(""),
        url.host_str().unwrap()
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(body).await.expect("first part of the body");
    conn
}

async fn transfer_url(s: &mut McpHttp, key: &str, method: &str) -> String {
    let link = s
        .ok("transfer", json!({"key": key, "method": method}))
        .await;
    link["url"].as_str().expect("url").to_owned()
}

/// `kill -9` of the server in the middle of a large overwrite: after a restart the object
/// is the old version, whole, listed once, and the unfinished write is gone from the store.
async fn killed_mid_overwrite(target: Target<'_>) {
    let data_dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .merge(&target.store_toml())
        .tenant("acme", "eu");
    let server = Serve::on(data_dir.path())
        .http()
        .with_config(&cfg)
        .start()
        .await;
    let mut s = McpHttp::legacy(&server.mcp(), None, "faults-store-test").await;

    let old = pattern(20 * MIB + 3);
    let put = transfer_url(&mut s, "films/big.bin", "PUT").await;
    let answer = reqwest::Client::new()
        .put(&put)
        .body(old.clone())
        .send()
        .await
        .expect("first upload");
    assert!(answer.status().is_success(), "{}", answer.status());

    let put = transfer_url(&mut s, "films/big.bin", "PUT").await;
    let new = pattern(96 * MIB);
    let _conn = start_upload(&put, new.len(), &new[..40 * MIB]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !target.under_way().await {
        assert!(
            Instant::now() < deadline,
            "the overwrite never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal("KILL");
    drop(server);
    // Older than the restarted server's `stale_upload_secs = 1`.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        target.leftovers().await > 0,
        "the kill left nothing to clean up"
    );

    let server = Serve::on(data_dir.path())
        .http()
        .with_config(&cfg)
        .start()
        .await;
    let mut s = McpHttp::legacy(&server.mcp(), None, "faults-store-test").await;
    let get = transfer_url(&mut s, "films/big.bin", "GET").await;
    let read = reqwest::get(&get).await.expect("download");
    assert!(read.status().is_success(), "{}", read.status());
    let read = read.bytes().await.expect("body");
    assert!(
        read[..] == old[..],
        "got {} bytes, not the old version",
        read.len()
    );
    let listed = s.ok("list", json!({})).await;
    let keys: Vec<&str> = listed["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["films/big.bin"], "{listed}");

    let deadline = Instant::now() + Duration::from_secs(30);
    while target.leftovers().await > 0 {
        assert!(
            Instant::now() < deadline,
            "the unfinished write is still in the store after restart: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_overwrite_on_garage_leaves_the_old_version_and_no_upload() {
    let b = shared_bucket("fr-par");
    killed_mid_overwrite(Target::Garage(&b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_overwrite_on_the_local_store_leaves_the_old_version_and_no_staging_file() {
    let dir = tempfile::tempdir().unwrap();
    killed_mid_overwrite(Target::Local(&dir.path().join("store"))).await;
}

/// Timeouts out of range, or on a store without a network, stop start-up naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_timeouts_are_checked_at_start_up() {
    let b = shared_bucket("fr-par");
    let dir = tempfile::tempdir().unwrap();
    for (extra, named) in [
        ("request_timeout_secs = 0\n", "request_timeout_secs = 0"),
        ("retry_timeout_secs = 3601\n", "retry_timeout_secs = 3601"),
        ("max_retries = 11\n", "max_retries = 11"),
    ] {
        let cfg = Config::new()
            .merge(&format!("{}{extra}", b.store_toml("eu", "FR")))
            .tenant("acme", "eu")
            .file();
        let e = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
            .await
            .err()
            .unwrap_or_else(|| panic!("{extra} was accepted"));
        assert!(format!("{e:#}").contains(named), "{extra}: {e:#}");
    }
    let cfg = Config::new()
        .merge(&format!(
            "[stores.home]\nprovider = \"local\"\npath = \"{}\"\ncountry = \"DE\"\n\
             request_timeout_secs = 5\n",
            dir.path().join("home").display()
        ))
        .tenant("acme", "home")
        .file();
    let e = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .err()
        .expect("a timeout on a local store was accepted");
    assert!(
        format!("{e:#}").contains("request_timeout_secs applies to S3 stores only"),
        "{e:#}"
    );
}
