//! What a replica costs: put and get latency (1 KiB) and throughput (16 MiB) through the
//! service for a tenant with no replica and for one with a replica, same run, on local stores
//! (two directories of the same disk, so the figures show the fan-out's own cost, not a
//! network's). Reads are served by the home store either way.
//!
//! Run: `cargo bench --bench replicas`

#[path = "support/report.rs"]
mod report;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitatlas::audit::MemorySink;
use bitatlas::config::{ConfigFile, StoreConfig, TenantConfig};
use bitatlas::runtime;
use bitatlas::service::*;
use report::{Better, Report, percentile};

const SMALL: usize = 1024;
const LARGE: usize = 16 << 20;
const SMALL_CALLS: usize = 300;
const LARGE_CALLS: usize = 5;

fn store(dir: &Path, name: &str) -> StoreConfig {
    StoreConfig {
        provider: "local".into(),
        path: Some(dir.join(name)),
        country: Some("DE".into()),
        ..Default::default()
    }
}

async fn service(dir: &Path, replica: bool) -> Service {
    let mut c = ConfigFile::default();
    c.stores.insert("home".into(), store(dir, "home"));
    c.stores.insert("copy".into(), store(dir, "copy"));
    c.tenants.insert(
        "t".into(),
        TenantConfig {
            store: "home".into(),
            policy: None,
            keyring: None,
            keyring_env: None,
            tokens: Vec::new(),
            tools: None,
            key_provider: None,
            replicas: if replica {
                vec!["copy".into()]
            } else {
                Vec::new()
            },
        },
    );
    c.server.max_inline_bytes = Some(LARGE as u64 + 1024);
    runtime::build_with_sink(&c, dir, Box::new(Arc::new(MemorySink::default())))
        .await
        .expect("runtime")
        .service
}

struct Figures {
    put_p50: Duration,
    get_p50: Duration,
    put_mib_s: f64,
    get_mib_s: f64,
}

async fn measure(svc: &Service) -> Figures {
    let caller = Caller::new("t".into());
    let small = bytes::Bytes::from(vec![1u8; SMALL]);
    let large = bytes::Bytes::from(vec![2u8; LARGE]);
    let (mut puts, mut gets) = (Vec::new(), Vec::new());
    for i in 0..SMALL_CALLS {
        let key = format!("s/{i}");
        let t = Instant::now();
        svc.put(
            &caller,
            PutRequest {
                key: key.clone(),
                data: small.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("put");
        puts.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(svc.get(&caller, GetRequest::whole(key)).await.expect("get"));
        gets.push(t.elapsed());
    }
    puts.sort();
    gets.sort();
    let (mut put_best, mut get_best) = (Duration::MAX, Duration::MAX);
    for i in 0..LARGE_CALLS {
        let key = format!("l/{i}");
        let t = Instant::now();
        svc.put(
            &caller,
            PutRequest {
                key: key.clone(),
                data: large.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("put");
        put_best = put_best.min(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(svc.get(&caller, GetRequest::whole(key)).await.expect("get"));
        get_best = get_best.min(t.elapsed());
    }
    let mib = LARGE as f64 / (1 << 20) as f64;
    Figures {
        put_p50: percentile(&puts, 0.5),
        get_p50: percentile(&gets, 0.5),
        put_mib_s: mib / put_best.as_secs_f64(),
        get_mib_s: mib / get_best.as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    if !report::benchmarking("replicas") {
        return;
    }
    let mut report = Report::new("replicas");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let none = measure(&service(a.path(), false).await).await;
    let one = measure(&service(b.path(), true).await).await;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let base = "no replica";
    report.compare(
        "put 1 KiB p50, one replica",
        ms(one.put_p50),
        "ms",
        base,
        ms(none.put_p50),
        Better::Lower,
    );
    report.compare(
        "get 1 KiB p50, one replica",
        ms(one.get_p50),
        "ms",
        base,
        ms(none.get_p50),
        Better::Lower,
    );
    report.compare(
        "put 16 MiB, one replica",
        one.put_mib_s,
        "MiB/s",
        base,
        none.put_mib_s,
        Better::Higher,
    );
    report.compare(
        "get 16 MiB, one replica",
        one.get_mib_s,
        "MiB/s",
        base,
        none.get_mib_s,
        Better::Higher,
    );
    report.save();
}
