//! What the audit trail costs a call: 1 KiB put/get through the service on a local store,
//! once with the real file sink (intents fdatasync'ed) and once with an in-memory sink.
//!
//! Run: `cargo bench --bench audit_overhead`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitatlas::audit::{AuditSink, FileSink, MemorySink};
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;

const CALLS: usize = 2000;

async fn run(label: &str, sink: Box<dyn AuditSink>, dir: &std::path::Path) -> (f64, f64) {
    let cfg = runtime::with_defaults(ConfigFile::default(), dir);
    let svc = runtime::build_with_sink(&cfg, dir, sink)
        .await
        .expect("runtime")
        .service;
    let c = Caller {
        tenant: "default".into(),
    };
    let text = "x".repeat(1024);
    let mut puts = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let t = Instant::now();
        svc.put(
            &c,
            PutInput {
                key: format!("k/{i}"),
                text: Some(text.clone()),
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
        svc.get(
            &c,
            GetInput {
                key: format!("k/{i}"),
                range: None,
            },
        )
        .await
        .expect("get");
        gets.push(t.elapsed());
    }
    let p50 = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    let (p, g) = (p50(&mut puts), p50(&mut gets));
    println!("{label}: put_1KiB p50={p:.0}us get_1KiB p50={g:.0}us ({CALLS} calls each)");
    (p, g)
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("audit_overhead: run with `cargo bench --bench audit_overhead`");
        return;
    }
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let (mp, mg) = run(
        "memory_sink",
        Box::new(Arc::new(MemorySink::default())),
        a.path(),
    )
    .await;
    let file = FileSink::open(&runtime::audit_path(b.path())).expect("audit file");
    let (fp, fg) = run("file_sink", Box::new(file), b.path()).await;
    println!(
        "audit_overhead: put x{:.2} (+{:.0}us), get x{:.2} (+{:.0}us) file sink vs memory sink",
        fp / mp,
        fp - mp,
        fg / mg,
        fg - mg
    );
}
