//! Encrypted put/get through the service against raw object_store put/get of the same bytes on
//! the same local directory — the cost of sealing, the guard, the index and the audit trail.
//! Prints one line per size with the ratio measured in the same run.
//!
//! Run: `cargo bench --bench store_throughput`

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bitatlas::audit::FileSink;
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / (1024.0 * 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("store_throughput: run with `cargo bench --bench store_throughput`");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = runtime::with_defaults(ConfigFile::default(), dir.path());
    cfg.server.max_inline_bytes = Some(64 << 20);
    let sink = FileSink::open(&runtime::audit_path(dir.path())).expect("audit");
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(sink))
        .await
        .expect("runtime")
        .service;
    let c = Caller {
        tenant: "default".into(),
    };
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir_all(&raw_dir).unwrap();
    let raw = Arc::new(LocalFileSystem::new_with_prefix(&raw_dir).unwrap());

    for size in [1usize << 20, 16 << 20, 64 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
        let path = Path::from(format!("obj-{size}"));

        let mut raw_put = Duration::MAX;
        let mut raw_get = Duration::MAX;
        let mut svc_put = Duration::MAX;
        let mut svc_get = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            raw.put(&path, PutPayload::from(data.clone()))
                .await
                .unwrap();
            raw_put = raw_put.min(t.elapsed());
            let t = Instant::now();
            let got = raw.get(&path).await.unwrap().bytes().await.unwrap();
            raw_get = raw_get.min(t.elapsed());
            assert_eq!(got.len(), size);

            // The service's inputs are base64 text (as on the wire); decode cost included.
            let t = Instant::now();
            svc.put(
                &c,
                PutInput {
                    key: format!("bench/{size}"),
                    base64: Some(b64.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            svc_put = svc_put.min(t.elapsed());
            let t = Instant::now();
            let out = svc
                .get(
                    &c,
                    GetInput {
                        key: format!("bench/{size}"),
                        range: None,
                    },
                )
                .await
                .unwrap();
            svc_get = svc_get.min(t.elapsed());
            assert_eq!(out.size as usize, size);
        }
        println!(
            "put {:>3} MiB: service {:>7.0} MiB/s vs raw object_store {:>7.0} MiB/s = {:.2}x",
            size >> 20,
            mib_s(size, svc_put),
            mib_s(size, raw_put),
            raw_put.as_secs_f64() / svc_put.as_secs_f64()
        );
        println!(
            "get {:>3} MiB: service {:>7.0} MiB/s vs raw object_store {:>7.0} MiB/s = {:.2}x",
            size >> 20,
            mib_s(size, svc_get),
            mib_s(size, raw_get),
            raw_get.as_secs_f64() / svc_get.as_secs_f64()
        );
    }
}
