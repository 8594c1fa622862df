//! The audit trail written by a real service is verified by `bitatlas audit verify`, and every
//! kind of tampering — edit, delete, swap, insert, truncate, forged checkpoint — is caught and
//! named.

use std::path::{Path, PathBuf};
use std::process::Command;

use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;

const SECRET_TEXT: &str = "AUDIT-PLAINTEXT-MARKER";

async fn session(dir: &Path) {
    let cfg = runtime::with_defaults(ConfigFile::default(), dir);
    let rt = runtime::build(&cfg, dir).await.expect("runtime");
    let c = Caller {
        tenant: rt.stdio_tenant.clone(),
    };
    for i in 0..5 {
        rt.service
            .put(
                &c,
                PutRequest {
                    key: format!("k/{SECRET_TEXT}-{i}"),
                    data: format!("{SECRET_TEXT} body {i}").into(),
                    metadata: [("m".to_string(), SECRET_TEXT.to_string())].into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let _ = rt.service.get(&c, GetRequest::whole("missing")).await;
    rt.service.shutdown();
}

fn verify(file: &Path, key: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bitatlas"))
        .args(["audit", "verify"])
        .arg(file)
        .arg("--key")
        .arg(key)
        .output()
        .expect("run verify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout),
    )
}

type Edit = Box<dyn FnOnce(&mut Vec<String>)>;

/// Copies trail + side file to a fresh place, applies `edit` to the trail's lines.
fn tampered(src: &Path, name: &str, edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let dir = src.parent().unwrap().join(format!("t-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("audit.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    edit(&mut lines);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    std::fs::copy(
        bitatlas::audit::checkpoint_path(src),
        bitatlas::audit::checkpoint_path(&file),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_and_located() {
    let dir = tempfile::tempdir().unwrap();
    session(dir.path()).await;
    // A second run continues the same chain.
    session(dir.path()).await;
    let file = runtime::audit_path(dir.path());
    let key = runtime::audit_key_path(dir.path());
    let (code, out) = verify(&file, &key);
    assert_eq!(code, 0, "intact trail: {out}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(SECRET_TEXT),
        "plaintext, key or metadata in the audit trail"
    );
    assert!(
        !text.contains("\"default\""),
        "raw tenant id in the audit trail"
    );
    let n = text.lines().count();
    assert!(n > 20, "every call is recorded ({n} lines)");

    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "edit",
            Box::new(|l: &mut Vec<String>| l[4] = l[4].replace("\"OK\"", "\"NOT_FOUND\"")),
            "record 5",
        ),
        (
            "delete",
            Box::new(|l: &mut Vec<String>| {
                l.remove(6);
            }),
            "records 7..7 are missing",
        ),
        (
            "swap",
            Box::new(|l: &mut Vec<String>| l.swap(8, 9)),
            "record 10",
        ),
        (
            "insert",
            Box::new(|l: &mut Vec<String>| {
                let copy = l[3].clone();
                l.insert(4, copy)
            }),
            "record 4",
        ),
        (
            "truncate",
            Box::new(|l: &mut Vec<String>| l.truncate(l.len() - 2)),
            "truncated",
        ),
        (
            "forge-checkpoint",
            Box::new(|l: &mut Vec<String>| {
                let last = l.len() - 1;
                let rec: serde_json::Value = serde_json::from_str(&l[last]).unwrap();
                let mac = rec["mac"].as_str().unwrap().to_owned();
                let forged: String = mac.chars().rev().collect();
                l[last] = l[last].replace(&mac, &forged);
            }),
            "MAC",
        ),
        (
            "garbage",
            Box::new(|l: &mut Vec<String>| l[2] = "{\"seq\": 3".into()),
            "line 3",
        ),
    ];
    for (name, edit, expect) in cases {
        let f = tampered(&file, name, edit);
        let (code, out) = verify(&f, &key);
        assert_eq!(code, 4, "{name} must be detected: {out}");
        assert!(out.contains(expect), "{name}: expected {expect:?} in {out}");
    }
}

#[test]
fn a_second_process_cannot_append_to_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = runtime::audit_path(dir.path());
    let first = bitatlas::audit::FileSink::open(&path).expect("first");
    let second = bitatlas::audit::FileSink::open(&path);
    assert!(second.is_err(), "the trail is locked by the first sink");
    drop(first);
    assert!(bitatlas::audit::FileSink::open(&path).is_ok());
}
