//! What a tenant's key provider costs a `get`: 1 KiB gets through the service with the keyring
//! file and with OpenBao Transit (a real `bao server -dev`, the binary `tests/tools/setup.sh`
//! installs), each warm (the keyring cached, `key_cache_ttl_secs = 60`) and cold
//! (`key_cache_ttl_secs = 0`: every get loads the keyring again, from the file or through one
//! `transit/decrypt`). All four in one run, warm keyring file as the baseline.
//!
//! Run: `cargo bench --bench keys_transit` (after `bash tests/tools/setup.sh`).

#[path = "support/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitatlas::audit::MemorySink;
use bitatlas::config::{ConfigFile, KeyProviderConfig, StoreConfig, TenantConfig};
use bitatlas::runtime;
use bitatlas::service::*;
use report::{Better, Report, percentile};

const GETS: usize = 400;
const TOKEN_VAR: &str = "BITATLAS_BENCH_BAO_TOKEN";
const TOKEN: &str = "bitatlas-bench-root";

fn bao_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BITATLAS_BENCH_BAO") {
        return Some(p.into());
    }
    let paths = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.tools/paths.env");
    let text = std::fs::read_to_string(paths).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("BAO="))
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

struct Bao {
    child: Child,
    addr: String,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bao_request(addr: &str, method: &str, path: &str, body: &str) -> bool {
    Command::new("curl")
        .args(["-sf", "-X", method, "-H"])
        .arg(format!("X-Vault-Token: {TOKEN}"))
        .args(["-d", body])
        .arg(format!("{addr}/v1/{path}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_bao(bin: &Path) -> Bao {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(bin)
        .args(["server", "-dev"])
        .arg(format!("-dev-root-token-id={TOKEN}"))
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bao server -dev");
    let bao = Bao {
        child,
        addr: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bao_request(&bao.addr, "GET", "sys/health", "") {
        assert!(Instant::now() < deadline, "bao did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(bao_request(
        &bao.addr,
        "POST",
        "sys/mounts/transit",
        r#"{"type":"transit"}"#
    ));
    assert!(bao_request(&bao.addr, "POST", "transit/keys/bench", "{}"));
    bao
}

fn config(dir: &Path, ttl: u64, transit: Option<&str>) -> ConfigFile {
    let mut c = ConfigFile::default();
    c.stores.insert(
        "disk".into(),
        StoreConfig {
            provider: "local".into(),
            path: Some(dir.join("objects")),
            country: Some("DE".into()),
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
            key_provider: transit.map(|addr| KeyProviderConfig {
                kind: "transit".into(),
                address: Some(addr.into()),
                token_env: Some(TOKEN_VAR.into()),
                key: Some("bench".into()),
                ..Default::default()
            }),
            replicas: Vec::new(),
        },
    );
    c.server.key_cache_ttl_secs = Some(ttl);
    c
}

async fn service(dir: &Path, ttl: u64, transit: Option<&str>) -> Service {
    runtime::build_with_sink(
        &config(dir, ttl, transit),
        dir,
        Box::new(Arc::new(MemorySink::default())),
    )
    .await
    .expect("runtime")
    .service
}

/// The time of each of [`GETS`] gets of `key`.
async fn gets(svc: &Service, key: &str) -> Vec<Duration> {
    let caller = Caller::new("t".into());
    let mut out = Vec::with_capacity(GETS);
    for _ in 0..GETS {
        let t = Instant::now();
        let got = svc.get(&caller, GetRequest::whole(key)).await.expect("get");
        out.push(t.elapsed());
        std::hint::black_box(got);
    }
    out
}

#[tokio::main]
async fn main() {
    if !report::benchmarking("keys_transit") {
        return;
    }
    // The provider reads its token from the environment: run again with it set.
    if std::env::var_os(TOKEN_VAR).is_none() {
        let status = Command::new(std::env::current_exe().expect("own path"))
            .args(std::env::args().skip(1))
            .env(TOKEN_VAR, TOKEN)
            .status()
            .expect("re-run");
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut report = Report::new("keys_transit");
    let Some(bin) = bao_binary() else {
        report.skipped("get 1 KiB with Transit", "no bao: run tests/tools/setup.sh");
        report.save();
        return;
    };
    let bao = start_bao(&bin);
    let file_dir = tempfile::tempdir().expect("tempdir");
    let transit_dir = tempfile::tempdir().expect("tempdir");
    let data = bytes::Bytes::from(vec![7u8; 1024]);
    for (dir, transit) in [(&file_dir, None), (&transit_dir, Some(bao.addr.as_str()))] {
        let svc = service(dir.path(), 60, transit).await;
        svc.put(
            &Caller::new("t".into()),
            PutRequest {
                key: "k.bin".into(),
                data: data.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("put");
    }
    let mut runs = Vec::new();
    for (name, dir, ttl, transit) in [
        ("keyring file, warm", &file_dir, 60, None),
        ("keyring file, cold", &file_dir, 0, None),
        ("Transit, warm", &transit_dir, 60, Some(bao.addr.as_str())),
        ("Transit, cold", &transit_dir, 0, Some(bao.addr.as_str())),
    ] {
        let svc = service(dir.path(), ttl, transit).await;
        gets(&svc, "k.bin").await; // warm-up: page cache, connections
        let mut ms = gets(&svc, "k.bin").await;
        ms.sort();
        let msec = |d: Duration| d.as_secs_f64() * 1e3;
        runs.push((
            name,
            msec(percentile(&ms, 0.5)),
            msec(percentile(&ms, 0.99)),
        ));
    }
    let (base, base_p50, base_p99) = runs[0];
    for (name, p50, p99) in &runs {
        report.compare(
            &format!("get 1 KiB p50, {name}"),
            *p50,
            "ms",
            base,
            base_p50,
            Better::Lower,
        );
        report.compare(
            &format!("get 1 KiB p99, {name}"),
            *p99,
            "ms",
            base,
            base_p99,
            Better::Lower,
        );
    }
    report.save();
}
