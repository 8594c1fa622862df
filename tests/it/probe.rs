//! `bitatlas probe` and the periodic probe of `serve --http`, on local directories and a real
//! Garage node: a round trip passes where the store works, fails naming the store and the step
//! where it does not, leaves nothing behind, and `/metrics` and `/readyz` follow it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::bin::{self, s};
use crate::support::config::Config;
use crate::support::garage::shared_bucket;
use crate::support::server::Serve;

/// `bitatlas probe --json` with `cfg`; returns the exit code and the parsed report.
fn probe_json(cfg: &Path, data: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["probe", "--json", "--config", s(cfg), "--data-dir", s(data)];
    args.extend_from_slice(extra);
    let out = bin::run(&args);
    let text = bin::text(&out);
    let report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text} / {}", bin::stderr(&out)));
    (out.status.code(), report)
}

fn store<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stores"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["store"] == name))
        .unwrap_or_else(|| panic!("no report for {name}: {report}"))
}

/// Files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn probe_round_trips_every_store_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    let bucket = shared_bucket("fr-par");
    let cfg = Config::new()
        .local_store("disk", &disk, "DE")
        .merge(&bucket.store_toml("eu", "FR"))
        .tenant("acme", "disk")
        .write_in(dir.path());
    let (code, report) = probe_json(&cfg, &dir.path().join("data"), &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true, "{report}");
    for name in ["disk", "eu"] {
        let r = store(&report, name);
        assert_eq!(r["ok"], true, "{r}");
        for step in ["put_ms", "list_ms", "get_ms", "delete_ms"] {
            let ms = r["steps"][step].as_f64().unwrap_or(-1.0);
            assert!(ms >= 0.0, "{name} {step}: {r}");
        }
        assert!(r.get("error").is_none(), "{r}");
    }
    // Nothing is left in the local store, nor in the bucket.
    let left = files_under(&disk);
    assert!(left.iter().all(|f| !f.contains("probe")), "{left:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listed = rt.block_on(async {
        use futures::TryStreamExt as _;
        use object_store::ObjectStore as _;
        bucket
            .raw_client()
            .list(Some(&object_store::path::Path::from("probe")))
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    });
    assert!(listed.is_empty(), "left in the bucket: {listed:?}");

    // `--store` picks one; an unknown name is a usage error.
    let (code, report) = probe_json(&cfg, &dir.path().join("data"), &["--store", "disk"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        report["stores"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let out = bin::run(&["probe", "--config", s(&cfg), "--store", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", bin::stderr(&out));
}

#[test]
fn a_failing_store_fails_the_probe_naming_store_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    let cfg = Config::new()
        .local_store("good", &good, "DE")
        .local_store("bad", &bad, "DE")
        .tenant("acme", "good")
        .write_in(dir.path());
    // A file where the probe's directory should be: every write under it fails.
    std::fs::create_dir_all(bad.join("probe")).unwrap();
    std::fs::write(bad.join("probe").join("rt"), b"in the way").unwrap();
    let (code, report) = probe_json(&cfg, &dir.path().join("data"), &[]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(store(&report, "good")["ok"], true, "{report}");
    let b = store(&report, "bad");
    assert_eq!(b["ok"], false, "{b}");
    assert_eq!(b["failed_step"], "put", "{b}");
    assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{b}");

    // The text form says the same, one line per store.
    let out = bin::run(&[
        "probe",
        "--config",
        s(&cfg),
        "--data-dir",
        s(&dir.path().join("data")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = bin::text(&out);
    assert!(text.contains("store good: ok in "), "{text}");
    assert!(text.contains("store bad: FAILED after "), "{text}");
    assert!(text.contains("put: "), "{text}");
}

#[test]
fn a_store_refused_by_the_guard_is_a_policy_denial() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .local_store("ch", &dir.path().join("ch"), "CH")
        .tenant("acme", "ch")
        .write_in(dir.path());
    let out = bin::run(&["probe", "--config", s(&cfg), "--data-dir", s(dir.path())]);
    assert_eq!(out.status.code(), Some(3), "{}", bin::stderr(&out));
    assert!(!dir.path().join("ch").join("probe").exists());
}

/// The periodic probe of `serve --http`: its gauges appear in `/metrics` per store, and
/// `/readyz` turns 503 after `unready_after` failures in a row and 200 once it passes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exports_probe_gauges_and_readyz_follows_repeated_failures() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    let cfg = Config::new()
        .local_store("disk", &disk, "DE")
        .tenant("acme", "disk")
        .set("probe", "interval_secs", 1i64)
        .set("probe", "unready_after", 2i64)
        .write_in(dir.path());
    let server = Serve::on(&dir.path().join("data"))
        .http()
        .config(&cfg)
        .spawn();
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let url = format!("{}{path}", server.base());
        let http = http.clone();
        async move {
            match http.get(url).timeout(Duration::from_secs(5)).send().await {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(_) => (0, String::new()),
            }
        }
    };
    let wait_until = |what: &'static str, path: &'static str, pred: fn(u16, &str) -> bool| {
        let get = &get;
        let server = &server;
        async move {
            let start = Instant::now();
            loop {
                let (status, body) = get(path).await;
                if pred(status, &body) {
                    return start.elapsed();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "{what}: last {status} {body}\n{}",
                    server.log_text()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_until("probe passes", "/metrics", |_, m| {
        m.contains("bitatlas_probe_success{store=\"disk\"} 1\n")
            && m.contains("bitatlas_probe_duration_seconds{store=\"disk\"} ")
    })
    .await;
    assert_eq!(get("/readyz").await.0, 200);

    // Break writes under the probe's prefix only (the readiness HEAD still answers).
    std::fs::create_dir_all(disk.join("probe")).unwrap();
    std::fs::write(disk.join("probe").join("rt"), b"in the way").unwrap();
    wait_until("probe fails", "/metrics", |_, m| {
        m.contains("bitatlas_probe_success{store=\"disk\"} 0\n")
    })
    .await;
    let down = wait_until("readyz 503", "/readyz", |s, _| s == 503).await;
    let (_, why) = get("/readyz").await;
    assert!(why.contains("synthetic round trips"), "{why}");
    eprintln!(
        "readyz: 503 {} ms after the first failure",
        down.as_millis()
    );

    std::fs::remove_file(disk.join("probe").join("rt")).unwrap();
    wait_until("readyz 200 again", "/readyz", |s, _| s == 200).await;
    let (_, m) = get("/metrics").await;
    assert!(
        m.contains("bitatlas_probe_success{store=\"disk\"} 1\n"),
        "{m}"
    );
    // P2 only: the tenant's name never appears in the figures.
    assert!(!m.contains("acme"), "{m}");
}
