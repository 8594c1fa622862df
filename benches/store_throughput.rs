//! Encrypted put/get through the service against raw object_store put/get of the same bytes on
//! the same local directory: the cost of sealing, the guard, the index and the audit trail.
//! The service is measured twice: with bytes, and with the base64 text the MCP tools carry
//! (decoded before `put`, encoded after `get`, as the tools do), which adds the wire encoding.
//!
//! Run: `cargo bench --bench store_throughput`

#[path = "support/report.rs"]
mod report;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bitatlas::audit::FileSink;
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;
use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use report::{Better, Report};

const RUNS: usize = 5;

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / (1024.0 * 1024.0)
}

fn get_input(key: &str) -> GetRequest {
    GetRequest::whole(key)
}

fn put_input(key: &str, data: Bytes) -> PutRequest {
    PutRequest {
        key: key.to_owned(),
        data,
        ..Default::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !report::benchmarking("store_throughput") {
        return;
    }
    let mut report = Report::new("store_throughput");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = runtime::with_defaults(ConfigFile::default(), dir.path());
    cfg.server.max_inline_bytes = Some(256 << 20);
    let sink = FileSink::open(&runtime::audit_path(dir.path())).expect("audit");
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(sink))
        .await
        .expect("runtime")
        .service;
    let c = Caller::new("default".into());
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir_all(&raw_dir).unwrap();
    let raw = Arc::new(LocalFileSystem::new_with_prefix(&raw_dir).unwrap());

    for size in [1usize << 20, 16 << 20, 64 << 20, 256 << 20] {
        let data = Bytes::from((0..size).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
        let path = Path::from(format!("obj-{size}"));
        let key = format!("bench/{size}");
        let label = if size >= 1 << 20 {
            format!("{} MiB", size >> 20)
        } else {
            format!("{} KiB", size >> 10)
        };

        // Dirty pages left by the previous size would throttle whichever side runs next.
        let _ = std::process::Command::new("sync").status();
        // Baseline and service runs alternate, so both see the same machine state; the best
        // of RUNS is kept for each.
        let [
            mut raw_put,
            mut put,
            mut put_b64,
            mut raw_get,
            mut get,
            mut get_b64,
        ] = [Duration::MAX; 6];
        for _ in 0..RUNS {
            let t = Instant::now();
            raw.put(&path, PutPayload::from(data.clone()))
                .await
                .unwrap();
            raw_put = raw_put.min(t.elapsed());

            let t = Instant::now();
            svc.put(&c, put_input(&key, data.clone())).await.unwrap();
            put = put.min(t.elapsed());

            let t = Instant::now();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .unwrap();
            svc.put(&c, put_input(&key, decoded.into())).await.unwrap();
            put_b64 = put_b64.min(t.elapsed());

            let t = Instant::now();
            let got = raw.get(&path).await.unwrap().bytes().await.unwrap();
            raw_get = raw_get.min(t.elapsed());
            assert_eq!(got.len(), size);

            let t = Instant::now();
            let out = svc.get(&c, get_input(&key)).await.unwrap();
            get = get.min(t.elapsed());
            assert_eq!(out.data.len(), size);

            let t = Instant::now();
            let out = svc.get(&c, get_input(&key)).await.unwrap();
            let encoded = base64::engine::general_purpose::STANDARD.encode(&out.data);
            get_b64 = get_b64.min(t.elapsed());
            assert_eq!(encoded.len(), b64.len());
        }
        // Checked once, outside the timed runs.
        let out = svc.get(&c, get_input(&key)).await.unwrap();
        assert!(out.data == data, "round trip");

        let raw_put_rate = mib_s(size, raw_put);
        let raw_get_rate = mib_s(size, raw_get);
        for (name, d, baseline) in [
            (format!("put {label} service"), put, raw_put_rate),
            (format!("get {label} service"), get, raw_get_rate),
            (
                format!("put {label} service, base64 in"),
                put_b64,
                raw_put_rate,
            ),
            (
                format!("get {label} service, base64 out"),
                get_b64,
                raw_get_rate,
            ),
        ] {
            report.compare(
                &name,
                mib_s(size, d),
                "MiB/s",
                "raw object_store local",
                baseline,
                Better::Higher,
            );
        }
    }
    report.save();
}
