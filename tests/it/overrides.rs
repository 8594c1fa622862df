//! Break-glass grants: a tenant pinned to France with a replica in the Netherlands does not
//! start; `bitatlas override grant --allow-country NL` lets it, every call it makes carries the
//! grant id in the audit trail, and `override revoke` (or expiry) ends it in a running server.
//! Grants never leave the EEA, never last over 72 h and always say why; a forged or edited
//! grant counts for nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitatlas::audit::MemorySink;
use bitatlas::runtime;
use bitatlas::service::*;

use crate::support::bin;
use crate::support::config::Config;

fn config_text(dir: &Path) -> Config {
    Config::new()
        .local_store("par", &dir.join("par"), "FR")
        .local_store("ams", &dir.join("ams"), "NL")
        .tenant_with_policy("acme", "par", "fr")
        .policy("fr", "countries", vec!["FR".to_owned()])
        .set("tenants.acme", "replicas", vec!["ams".to_owned()])
}

fn config(dir: &Path) -> bitatlas::config::ConfigFile {
    config_text(dir).file()
}

/// `residency report --json` for the test's configuration: the exit code and the rows.
fn report(dir: &Path) -> (Option<i32>, Vec<serde_json::Value>) {
    let cfg = config_text(dir).write(&dir.join("bitatlas.toml"));
    let data = dir.join("data");
    let out = bin::run(&[
        "residency",
        "report",
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ]);
    let rows = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code(), rows)
}

fn grant(dir: &Path, args: &[&str]) -> std::process::Output {
    let data = dir.join("data");
    let mut all = vec!["override", "grant", "--tenant", "acme", "--data-dir"];
    all.push(data.to_str().unwrap());
    all.extend_from_slice(args);
    bin::run(&all)
}

async fn start(dir: &Path) -> Result<(Service, Arc<MemorySink>), String> {
    let sink = Arc::new(MemorySink::default());
    runtime::build_with_sink(&config(dir), &dir.join("data"), Box::new(Arc::clone(&sink)))
        .await
        .map(|r| (r.service, sink))
        .map_err(|e| e.to_string())
}

fn put(key: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        data: bytes::Bytes::from_static(b"x"),
        ..Default::default()
    }
}

fn caller() -> Caller {
    Caller::new("acme".into())
}

#[tokio::test]
async fn a_grant_admits_an_nl_replica_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let err = start(dir.path())
        .await
        .err()
        .expect("refused without a grant");
    assert!(err.contains("POLICY_COUNTRY_NOT_ALLOWED"), "{err}");

    // Refused grants: outside the EEA, too long, no reason.
    for args in [
        &["--allow-country", "US", "--for", "1h", "--reason", "x"][..],
        &["--allow-country", "CH", "--for", "1h", "--reason", "x"],
        &["--allow-country", "NL", "--for", "73h", "--reason", "x"],
        &["--allow-country", "NL", "--for", "1h", "--reason", "  "],
        &["--allow-country", "NL", "--for", "1h"],
    ] {
        let out = grant(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    assert!(start(dir.path()).await.is_err(), "no refused grant counts");

    let out = grant(
        dir.path(),
        &[
            "--allow-country",
            "NL",
            "--for",
            "1h",
            "--reason",
            "fr-par outage drill",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(id.starts_with("gr_") && id.len() == 27, "{id}");

    // The report shows the replica row admitted under the grant.
    let (code, rows) = report(dir.path());
    assert_eq!(code, Some(0), "{rows:?}");
    let replica = rows
        .iter()
        .find(|r| r["tenant"] == "acme" && r["copy"] == "replica")
        .expect("a row for the replica");
    assert_eq!(replica["store"], "ams");
    assert_eq!(replica["grant"], id.as_str());

    let (svc, sink) = start(dir.path()).await.expect("starts under the grant");
    svc.put(&caller(), put("a.txt")).await.unwrap();
    assert!(dir.path().join("ams").read_dir().unwrap().next().is_some());
    let lines = sink.lines();
    let puts: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"tool\":\"put\""))
        .collect();
    assert_eq!(puts.len(), 2, "intent and outcome");
    assert!(
        puts.iter()
            .all(|l| l.contains(&format!("\"grant\":\"{id}\"")))
    );

    // Revoked: the running server stops honouring it within its reload interval.
    let out = bin::run(&[
        "override",
        "revoke",
        &id,
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        match svc.put(&caller(), put("b.txt")).await {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Ok(_) => panic!("a revoked grant is still honoured after 15 s"),
        }
    };
    assert_eq!(refused.code, ErrorCode::PolicyCountryNotAllowed);
    assert!(
        svc.get(&caller(), GetRequest::whole("a.txt"))
            .await
            .is_err(),
        "reads stop too"
    );
    assert!(
        start(dir.path()).await.is_err(),
        "a revoked grant never counts again"
    );
}

#[tokio::test]
async fn a_grant_ends_by_itself_and_a_forged_one_counts_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(start(dir.path()).await.is_err());
    let out = grant(
        dir.path(),
        &[
            "--allow-store",
            "ams",
            "--for",
            "3s",
            "--reason",
            "short drill",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (svc, _) = start(dir.path()).await.expect("starts under the grant");
    svc.put(&caller(), put("a.txt")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let refused = svc.put(&caller(), put("b.txt")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::PolicyCountryNotAllowed);

    // The same grant with a later expiry, its MAC unchanged: not a grant.
    let path = dir.path().join("data/grants").join(format!("{id}.json"));
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["expires_at"] = "2099-01-01T00:00:00Z".into();
    std::fs::write(&path, doc.to_string()).unwrap();
    let err = start(dir.path())
        .await
        .err()
        .expect("an edited grant is refused");
    assert!(err.contains("POLICY_COUNTRY_NOT_ALLOWED"), "{err}");
}
