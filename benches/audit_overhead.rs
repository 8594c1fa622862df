//! What the audit trail costs a call: 1 KiB put/get through the service on a local store,
//! once with the real file sink (intents fdatasync'ed) and once with an in-memory sink.
//!
//! Run: `cargo bench --bench audit_overhead`

#[path = "support/report.rs"]
mod report;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitatlas::audit::{AuditSink, FileSink, MemorySink};
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;
use report::{Better, Report};

const CALLS: usize = 2000;

/// p50 and p99 of 1 KiB put and get, in microseconds: `[put p50, put p99, get p50, get p99]`.
async fn run(sink: Box<dyn AuditSink>, dir: &std::path::Path) -> [f64; 4] {
    let cfg = runtime::with_defaults(ConfigFile::default(), dir);
    let svc = runtime::build_with_sink(&cfg, dir, sink)
        .await
        .expect("runtime")
        .service;
    let c = Caller::new("default".into());
    let text = "x".repeat(1024);
    let mut puts = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let t = Instant::now();
        svc.put(
            &c,
            PutRequest {
                key: format!("k/{i}"),
                data: bytes::Bytes::from(text.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("put");
        puts.push(t.elapsed());
    }
    let mut gets = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let t = Instant::now();
        let got = svc
            .get(
                &c,
                GetRequest {
                    key: format!("k/{i}"),
                    range: None,
                },
            )
            .await
            .expect("get");
        gets.push(t.elapsed());
        assert_eq!(got.data, text.as_bytes());
    }
    puts.sort();
    gets.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    [
        us(report::percentile(&puts, 0.5)),
        us(report::percentile(&puts, 0.99)),
        us(report::percentile(&gets, 0.5)),
        us(report::percentile(&gets, 0.99)),
    ]
}

#[tokio::main]
async fn main() {
    if !report::benchmarking("audit_overhead") {
        return;
    }
    let mut report = Report::new("audit_overhead");
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let memory = run(Box::new(Arc::new(MemorySink::default())), a.path()).await;
    let file = FileSink::open(&runtime::audit_path(b.path())).expect("audit file");
    let file = run(Box::new(file), b.path()).await;
    let names = [
        "put 1 KiB p50",
        "put 1 KiB p99",
        "get 1 KiB p50",
        "get 1 KiB p99",
    ];
    for ((name, f), m) in names.iter().zip(file).zip(memory) {
        report.compare(
            &format!("{name}, file audit sink"),
            f,
            "us",
            "in-memory audit sink",
            m,
            Better::Lower,
        );
    }
    report.save();
}
