//! The audit trail written by a real service is verified by `bitatlas audit verify`, and every
//! kind of tampering — edit, delete, swap, insert, truncate, forged checkpoint — is caught and
//! named.

use std::path::{Path, PathBuf};

use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;

use crate::support::bin::{self, text};
use crate::support::spawn;

const SECRET_TEXT: &str = "AUDIT-PLAINTEXT-MARKER";

// Held while a runtime runs in this process: no child process (which shares this process's
// open files until it execs, the audit file's lock included) starts meanwhile, so a runtime
// started after this one continues its chain instead of taking the next instance slot. Each
// test has its own runtime, so a test blocked on the guard never stalls the holder.
#[allow(clippy::await_holding_lock)]
async fn session(dir: &Path) {
    let _exclusive = spawn::exclusive();
    let cfg = runtime::with_defaults(ConfigFile::default(), dir);
    let rt = runtime::build(&cfg, dir).await.expect("runtime");
    let c = Caller::new(rt.stdio_tenant.clone());
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
    let out = bin::run(&["audit", "verify", bin::s(file), "--audit-key", bin::s(key)]);
    (out.status.code().unwrap_or(-1), bin::text(&out))
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
    // No child may hold a copy of the first sink's lock when it is reopened.
    let _exclusive = spawn::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let path = runtime::audit_path(dir.path());
    let first = bitatlas::audit::FileSink::open(&path).expect("first");
    let second = bitatlas::audit::FileSink::open(&path);
    assert!(second.is_err(), "the trail is locked by the first sink");
    drop(first);
    assert!(bitatlas::audit::FileSink::open(&path).is_ok());
}

/// Runs `bitatlas audit ARGS` with a clean environment (`HOME` empty, no BitAtlas variables)
/// plus `env`.
fn audit_cmd(args: &[&str], env: &[(&str, &Path)], home: &Path) -> std::process::Output {
    let mut cmd = bin::bitatlas(&["audit"]);
    cmd.args(args).env_remove("XDG_DATA_HOME").env("HOME", home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    bin::output(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_filters_by_object_with_the_documented_flags() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    session(dir.path()).await;
    let d = dir.path().to_str().unwrap();
    let key = format!("k/{SECRET_TEXT}-2");
    let out = audit_cmd(
        &[
            "query",
            "--data-dir",
            d,
            "--tenant",
            "default",
            "--object",
            &key,
        ],
        &[],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let recs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2, "intent and outcome of one put: {recs:?}");
    assert!(
        recs.iter()
            .all(|r| r["tool"] == "put" && r["object"] == recs[0]["object"])
    );
    // With the audit key named explicitly.
    let key_file = runtime::audit_key_path(dir.path());
    let out = audit_cmd(
        &[
            "query",
            "--data-dir",
            d,
            "--audit-key",
            key_file.to_str().unwrap(),
            "--tenant",
            "default",
            "--object",
            &key,
        ],
        &[],
        home.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    // The old spelling is refused with a pointer to the right flags.
    let out = audit_cmd(
        &[
            "query",
            "--data-dir",
            d,
            "--tenant",
            "default",
            "--key",
            &key,
        ],
        &[],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--object"), "{}", text(&out));
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_commands_find_the_trail_through_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    session(&data).await;
    let cfg = dir.path().join("bitatlas.toml");
    std::fs::write(
        &cfg,
        format!("[server]\ndata_dir = {:?}\n", data.display().to_string()),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    type Run<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a Path)>);
    let runs: Vec<Run> = vec![
        ("--config", vec!["--config", c], vec![]),
        (
            "BITATLAS_CONFIG",
            vec![],
            vec![("BITATLAS_CONFIG", cfg.as_path())],
        ),
        (
            "BITATLAS_DATA_DIR",
            vec![],
            vec![("BITATLAS_DATA_DIR", data.as_path())],
        ),
    ];
    for (how, args, env) in runs {
        for cmd in [
            vec!["verify"],
            vec!["tail", "-n", "3"],
            vec!["query", "--tenant", "default"],
        ] {
            let all: Vec<&str> = cmd.iter().chain(args.iter()).copied().collect();
            let out = audit_cmd(&all, &env, home.path());
            assert_eq!(out.status.code(), Some(0), "{how} {cmd:?}: {}", text(&out));
            assert!(!out.stdout.is_empty(), "{how} {cmd:?}: {}", text(&out));
        }
    }
    // Without any of them, the (empty) home directory has no trail: a clear failure.
    let out = audit_cmd(&["verify"], &[], home.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no audit trail"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_json_reports_tampering_and_truncation_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    session(dir.path()).await;
    let file = runtime::audit_path(dir.path());
    let key = runtime::audit_key_path(dir.path());
    let key = key.to_str().unwrap();
    let json = |f: &Path| {
        let out = audit_cmd(
            &["verify", f.to_str().unwrap(), "--audit-key", key, "--json"],
            &[],
            home.path(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("a JSON object on stdout: {}", text(&out)));
        (out.status.code(), v, text(&out))
    };
    let (code, v, _) = json(&file);
    assert_eq!(code, Some(0));
    assert_eq!(v["intact"], true);
    assert!(v["records"].as_u64().unwrap() > 10, "{v}");

    let edited = tampered(&file, "json-edit", |l| {
        l[4] = l[4].replace("\"OK\"", "\"NOT_FOUND\"")
    });
    let (code, v, _) = json(&edited);
    assert_eq!(code, Some(4), "{v}");
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["failure"]["seq"], 5, "{v}");
    assert_eq!(v["failure"]["line"], 5, "{v}");
    assert!(
        v["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("hash chain")
    );

    let mut kept = 0;
    let truncated = tampered(&file, "json-truncate", |l| {
        l.truncate(l.len() - 2);
        kept = l.len();
    });
    let (code, v, out) = json(&truncated);
    assert_eq!(code, Some(4), "{v}");
    let f = &v["failure"];
    assert_eq!(f["line"], kept + 1, "the first missing line: {v}");
    assert_eq!(f["seq"], kept + 1, "the first missing record: {v}");
    assert_eq!(f["checkpoint_line"], 1, "{v}");
    assert!(f["reason"].as_str().unwrap().contains("truncated"), "{v}");
    assert!(!out.contains("line 0"), "{out}");
    // The text report says the same.
    let (code, out) = verify(&truncated, Path::new(key));
    assert_eq!(code, 4);
    assert!(
        out.contains(&format!(
            "record {} (line {}, checkpoint file line 1)",
            kept + 1,
            kept + 1
        )),
        "{out}"
    );
    assert!(!out.contains("line 0"), "{out}");
}
