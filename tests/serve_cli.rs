//! `bitatlas serve` start-up contracts: the zero-config banner, attested countries, and
//! refusal to start on a store that fails the guard.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn serve(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bitatlas"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run serve")
}

#[test]
fn non_eea_attestation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (cc, code) in [
        ("GB", "POLICY_NON_EEA_REGION"),
        ("CH", "POLICY_NON_EEA_REGION"),
        ("US", "POLICY_NON_EEA_REGION"),
        ("gb", "POLICY_ATTESTATION_REQUIRED"),
        ("", "POLICY_ATTESTATION_REQUIRED"),
    ] {
        let out = serve(&["--attest-country", cc], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{cc}: {err}");
        assert!(
            err.contains("store local") && err.contains(code),
            "{cc}: {err}"
        );
        assert!(out.stdout.is_empty(), "nothing on stdout");
    }
}

#[test]
fn a_config_naming_a_london_bucket_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bitatlas.toml");
    std::fs::write(
        &cfg,
        r#"
[stores.london]
provider = "aws"
region = "eu-west-2"
endpoint = "https://s3.eu-west-2.amazonaws.com"
bucket = "b"
credentials = { access_key_id_env = "X_ID", secret_access_key_env = "X_SECRET" }

[tenants.t]
store = "london"
"#,
    )
    .unwrap();
    let out = serve(&["--config", cfg.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("store london") && err.contains("POLICY_NON_EEA_REGION"),
        "{err}"
    );
}

#[test]
fn zero_config_banner_and_stdio_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitatlas"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"t","version":"0"}}}}}}"#
    )
    .unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).expect("stdout carries JSON-RPC only");
    assert_eq!(v["result"]["serverInfo"]["name"], "bitatlas");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let banner = String::from_utf8_lossy(&out.stderr);
    assert!(banner.contains("in DE (operator-attested"), "{banner}");
    assert!(banner.contains("audit"), "{banner}");
    let keyring = dir.path().join("keys").join("default.keyring");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keyring).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "keyring created 0600");
    }
}
