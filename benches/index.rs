//! The sealed-metadata index on 10 000 objects in a local store: search by metadata and by
//! key glob, a full paginated listing, and the cold start of a second instance that rebuilds
//! the index from the store (one header read per object).
//!
//! Run: `cargo bench --bench index`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bitatlas::audit::MemorySink;
use bitatlas::config::{ConfigFile, StoreConfig, TenantConfig};
use bitatlas::runtime;
use bitatlas::service::*;

const N: usize = 10_000;

fn config(dir: &std::path::Path) -> ConfigFile {
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
        },
    );
    c
}

async fn service(dir: &std::path::Path) -> Service {
    runtime::build_with_sink(&config(dir), dir, Box::new(Arc::new(MemorySink::default())))
        .await
        .expect("runtime")
        .service
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("index: run with `cargo bench --bench index`");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = service(dir.path()).await;
    let c = Caller { tenant: "t".into() };
    let t = Instant::now();
    for i in 0..N {
        let mut md = BTreeMap::new();
        md.insert("team".to_string(), format!("team-{}", i % 100));
        svc.put(
            &c,
            PutInput {
                key: format!("docs/{:02}/{i:05}.md", i % 50),
                text: Some(format!("document {i}")),
                metadata: Some(md),
                ..Default::default()
            },
        )
        .await
        .expect("put");
    }
    println!(
        "put_10k_small: {:.0} ms ({:.0} puts/s)",
        ms(t),
        N as f64 / t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let r = svc
        .search(
            &c,
            SearchInput {
                metadata: Some([("team".to_string(), "team-7".to_string())].into()),
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(r.matches.len(), N / 100);
    println!(
        "search_metadata_10k: {:.2} ms ({} matches)",
        ms(t),
        r.matches.len()
    );

    let t = Instant::now();
    let r = svc
        .search(
            &c,
            SearchInput {
                pattern: Some("docs/07/*.md".into()),
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(r.matches.len(), N / 50);
    println!(
        "search_glob_10k: {:.2} ms ({} matches)",
        ms(t),
        r.matches.len()
    );

    let t = Instant::now();
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = svc
            .list(
                &c,
                ListInput {
                    limit: Some(1000),
                    cursor: cursor.take(),
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        seen += page.objects.len();
        match page.next_cursor {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, N);
    println!("list_10k_paginated_1000: {:.2} ms", ms(t));

    let t = Instant::now();
    let second = service(dir.path()).await;
    let r = second
        .list(
            &c,
            ListInput {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("cold list");
    assert_eq!(r.objects.len(), 1);
    println!(
        "cold_index_rebuild_10k: {:.0} ms (list store + open 10k info blocks)",
        ms(t)
    );
}
