//! The sealed-metadata index over 1 000 and 10 000 objects in a local store: search by
//! metadata and by key glob, and a full listing in pages of 1 000, each compared with a raw
//! object_store listing of the same store directory (the floor for any search that asks the
//! store rather than an index).
//!
//! Two instances share the store: one keeps its index for the default 5 s ("warm"), the other
//! reconciles it with a store listing on every call (`index_max_age_ms = 0`, what a read sees
//! after another instance wrote). A third instance started cold rebuilds the index from the
//! store (one header read per object).
//!
//! Run: `cargo bench --bench index`

#[path = "support/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitatlas::audit::MemorySink;
use bitatlas::config::{ConfigFile, StoreConfig, TenantConfig};
use bitatlas::runtime;
use bitatlas::service::*;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use report::{Better, Report};

const RUNS: usize = 5;

fn config(dir: &std::path::Path, max_age_ms: Option<u64>) -> ConfigFile {
    let mut c = ConfigFile::default();
    c.stores.insert(
        "disk".into(),
        StoreConfig {
            provider: "local".into(),
            region: None,
            endpoint: None,
            bucket: None,
            path: Some(dir.join("objects")),
            country: Some("DE".into()),
            policy: None,
            credentials: None,
            ..Default::default()
        },
    );
    c.tenants.insert(
        "t".into(),
        TenantConfig {
            store: "disk".into(),
            policy: None,
            keyring: None,
            keyring_env: None,
            tokens: Vec::new(),
            tools: None,
            key_provider: None,
            replicas: Vec::new(),
        },
    );
    c.server.index_max_age_ms = max_age_ms;
    c
}

async fn service(dir: &std::path::Path, max_age_ms: Option<u64>) -> Service {
    let cfg = config(dir, max_age_ms);
    runtime::build_with_sink(&cfg, dir, Box::new(Arc::new(MemorySink::default())))
        .await
        .expect("runtime")
        .service
}

/// The fastest of [`RUNS`] runs of `f`, in milliseconds.
async fn best_ms<F, Fut>(mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        f().await;
        best = best.min(t.elapsed());
    }
    best.as_secs_f64() * 1e3
}

fn caller() -> Caller {
    Caller::new("t".into())
}

async fn put_range(svc: &Service, range: std::ops::Range<usize>) {
    for i in range {
        let mut md = BTreeMap::new();
        md.insert("team".to_string(), format!("team-{}", i % 100));
        svc.put(
            &caller(),
            PutRequest {
                key: format!("docs/{:02}/{i:05}.md", i % 50),
                data: bytes::Bytes::from(format!("document {i}")),
                metadata: md,
                ..Default::default()
            },
        )
        .await
        .expect("put");
    }
}

async fn search_metadata(svc: &Service, n: usize) {
    let r = svc
        .search(
            &caller(),
            SearchRequest {
                metadata: [("team".to_string(), "team-7".to_string())].into(),
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(r.objects.len(), n / 100);
}

async fn search_glob(svc: &Service, n: usize) {
    let r = svc
        .search(
            &caller(),
            SearchRequest {
                pattern: Some("docs/07/*.md".into()),
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(r.objects.len(), n / 50);
}

async fn list_all(svc: &Service, n: usize) {
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = svc
            .list(
                &caller(),
                ListRequest {
                    limit: Some(1000),
                    cursor: cursor.take(),
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        seen += page.objects.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, n);
}

#[tokio::main]
async fn main() {
    if !report::benchmarking("index") {
        return;
    }
    let mut report = Report::new("index");
    let dir = tempfile::tempdir().expect("tempdir");
    let warm = service(dir.path(), None).await;
    let synced = service(dir.path(), Some(0)).await;
    let raw = LocalFileSystem::new_with_prefix(dir.path().join("objects")).expect("raw store");
    let raw_list = || async {
        let all: Vec<_> = raw.list(None).try_collect().await.expect("raw list");
        std::hint::black_box(all);
    };

    let mut done = 0;
    for n in [1_000, 10_000] {
        let t = Instant::now();
        put_range(&warm, done..n).await;
        report.value(
            &format!("put {} small objects", n - done),
            (n - done) as f64 / t.elapsed().as_secs_f64(),
            "puts/s",
        );
        done = n;
        let floor = best_ms(raw_list).await;
        let baseline = format!("raw object_store list of {n}");
        let label = if n >= 10_000 { "10k" } else { "1k" };
        // The first call after the puts brings the reconciling instance up to date.
        search_metadata(&synced, n).await;
        for (name, ms) in [
            (
                format!("search metadata {label}, warm index"),
                best_ms(|| search_metadata(&warm, n)).await,
            ),
            (
                format!("search glob {label}, warm index"),
                best_ms(|| search_glob(&warm, n)).await,
            ),
            (
                format!("search metadata {label}, reconciled"),
                best_ms(|| search_metadata(&synced, n)).await,
            ),
            (
                format!("list {label} in pages of 1000, warm index"),
                best_ms(|| list_all(&warm, n)).await,
            ),
            (
                format!("list {label} in pages of 1000, reconciled"),
                best_ms(|| list_all(&synced, n)).await,
            ),
        ] {
            report.compare(&name, ms, "ms", &baseline, floor, Better::Lower);
        }
    }

    let t = Instant::now();
    let cold = service(dir.path(), None).await;
    search_metadata(&cold, done).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let floor = best_ms(raw_list).await;
    report.compare(
        "cold start + first search 10k (index rebuild)",
        ms,
        "ms",
        "raw object_store list of 10000",
        floor,
        Better::Lower,
    );
    report.save();
}
