//! `bitatlas serve` start-up contracts: the zero-config banner, attested countries, and
//! refusal to start on a store that fails the guard.

use std::io::Write;

use crate::support::bin::{self, s, serve_once};
use crate::support::config::Config;
use crate::support::server::Serve;
use crate::support::stdio::StdioServer;

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
        let out = serve_once(dir.path(), &["--attest-country", cc]);
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
    let out = serve_once(dir.path(), &["--config", cfg.to_str().unwrap()]);
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
    let logs = tempfile::tempdir().unwrap();
    // The client panics on anything but JSON-RPC on stdout.
    let server = StdioServer::start(dir.path(), &[], &logs.path().join("serve.stderr"));
    assert_eq!(server.initialize_result()["serverInfo"]["name"], "bitatlas");
    let icon = &server.initialize_result()["serverInfo"]["icons"][0];
    assert_eq!(icon["mimeType"], "image/svg+xml", "{icon}");
    assert!(
        icon["src"]
            .as_str()
            .is_some_and(|s| s.starts_with("data:image/svg+xml;base64,")),
        "{icon}"
    );
    let (_, banner) = server.finish();
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

/// `GET path` over plain HTTP/1.1: the status code, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

#[test]
fn http_takes_a_bare_port_or_localhost() {
    for form in ["{port}", "localhost:{port}"] {
        let mut server = Serve::new().http_as(form).spawn();
        let port = server.port();
        let arg = form.replace("{port}", &port.to_string());
        let banner = server.wait_for_line("serving on");
        assert!(
            banner.contains(&format!("serving on http://127.0.0.1:{port}/mcp")),
            "--http {arg}: {banner}"
        );
        assert_eq!(http_status(port, "/readyz"), Some(200), "--http {arg}");
    }
    // Host names other than localhost are refused as usage errors, not resolved.
    let dir = tempfile::tempdir().unwrap();
    let out = serve_once(dir.path(), &["--http", "example.com:8080"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_taken_port_fails_before_any_serving_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = serve_once(dir.path(), &["--http", &port.to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("serving"), "{err}");
    // Nothing was started: no audit trail, no keyring.
    assert!(!dir.path().join("keys").exists());
}

/// `bitatlas serve ARGS` on stdio with info logs; stdin is closed, so it ends at once.
fn serve_logged(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    let mut cmd = bin::serve_command(data_dir, args);
    cmd.env("BITATLAS_LOG", "info");
    bin::output(cmd)
}

#[test]
fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = serve_logged(&[], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store admitted"),
        "info logs were written: {err}"
    );
    assert!(!err.contains('\u{1b}'), "ANSI escape in {err:?}");
}

#[test]
fn json_log_format_makes_the_banner_and_errors_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = serve_logged(&["--log-format", "json"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l:?}")))
        .collect();
    let banner = lines
        .iter()
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("serving on stdio"))
        })
        .unwrap_or_else(|| panic!("no banner in {err}"));
    assert_eq!(banner["level"], "INFO");
    assert_eq!(banner["fields"]["transport"], "stdio");
    assert!(banner["fields"]["details"].as_array().is_some_and(|d| {
        d.iter()
            .any(|l| l.as_str().is_some_and(|l| l.starts_with("store local:")))
    }));

    let denied = serve_once(
        dir.path(),
        &["--log-format", "json", "--attest-country", "GB"],
    );
    assert_eq!(denied.status.code(), Some(3));
    let text = String::from_utf8_lossy(&denied.stderr);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("error line is not JSON: {text}"));
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["fields"]["code"], "POLICY_NON_EEA_REGION");
    assert!(
        last["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("store local"))
    );
}

#[test]
fn a_keyring_error_names_the_tenant_and_says_keyring_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .local_store("disk", &dir.path().join("objects"), "DE")
        .tenant("t", "disk")
        .set("tenants.t", "keyring_env", "BITATLAS_TEST_BAD_KEYRING")
        .write_in(dir.path());
    let mut cmd = bin::serve_command(dir.path(), &["--config", s(&cfg)]);
    cmd.env("BITATLAS_TEST_BAD_KEYRING", "not a keyring");
    let out = bin::output(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("tenant t: keyring"), "{err}");
    // Said once: neither a doubled prefix nor the cause printed again after the message.
    assert!(!err.contains("keyring: keyring:"), "{err}");
    assert_eq!(err.matches("keyring:").count(), 1, "{err}");
    assert_eq!(err.matches("not a valid keyring").count(), 1, "{err}");
}

#[test]
fn configuration_errors_exit_1_and_residency_refusals_3() {
    let dir = tempfile::tempdir().unwrap();
    let store = Config::new().local_store("disk", &dir.path().join("objects"), "DE");
    for (config, want, code) in [
        // A policy that does not exist: the configuration is wrong, nothing was denied.
        (
            store.clone().set("stores.disk", "policy", "nope"),
            "POLICY_UNKNOWN",
            1,
        ),
        // A policy that pins France refuses the German store.
        (
            store
                .clone()
                .set("stores.disk", "policy", "fr")
                .policy("fr", "countries", vec!["FR"]),
            "POLICY_COUNTRY_NOT_ALLOWED",
            3,
        ),
    ] {
        let cfg = config.write_in(dir.path());
        let out = serve_once(dir.path(), &["--config", cfg.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains("store disk") && err.contains(want), "{err}");
    }
    // A tenant name that is not a plain identifier.
    let cfg = store
        .merge("[tenants.\"bad name!\"]\nstore = \"disk\"\n")
        .write_in(dir.path());
    let out = serve_once(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad name!"), "{err}");
}

fn tokens(args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = bin::bitatlas(&["tokens"]);
    cmd.args(args);
    bin::run_with_input(cmd, stdin.as_bytes())
}

#[test]
fn tokens_refuse_invalid_tenant_names_and_garbage() {
    for bad in ["bad name!", "", "a.b", "x]\nevil = 1"] {
        let out = tokens(&["create", "--tenant", bad], "");
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty(), "no token printed for {bad:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("[tenants."));
    }
    let out = tokens(&["create", "--tenant", "acme-2"], "");
    assert_eq!(out.status.code(), Some(0));
    let token = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // What it prints for the configuration is valid TOML naming the tenant.
    let snippet: String = err
        .lines()
        .skip_while(|l| !l.starts_with("[tenants."))
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: toml::Table = toml::from_str(&snippet).unwrap_or_else(|e| panic!("{e}: {snippet}"));
    let line = parsed["tenants"]["acme-2"]["tokens"][0]
        .as_str()
        .unwrap()
        .to_owned();

    // `tokens hash` gives the same line for the token, and refuses anything else.
    let out = tokens(&["hash"], &token);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), line);
    for garbage in [
        "garbage\n",
        "bat_\n",
        "bat_short\n",
        &format!("x{token}"),
        "\n",
    ] {
        let out = tokens(&["hash"], garbage);
        assert_eq!(out.status.code(), Some(2), "{garbage:?}");
        assert!(out.stdout.is_empty(), "{garbage:?}");
    }
}

#[test]
fn file_roots_from_the_config_and_the_flag_are_listed_in_the_banner() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let (from_config, from_flag) = (base.join("docs"), base.join("inbox"));
    std::fs::create_dir(&from_config).unwrap();
    std::fs::create_dir(&from_flag).unwrap();
    let cfg = Config::new()
        .set("files", "roots", vec![from_config.display().to_string()])
        .write_in(&base);
    // A relative --files-root is taken against the current directory, as a shell means it.
    let mut cmd = bin::serve_command(
        &base.join("data"),
        &["--files-root", "inbox", "--config", s(&cfg)],
    );
    cmd.current_dir(&base);
    let out = bin::output(cmd);
    // stdin is closed at once, so serve stops after its banner (with a handshake error).
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "local files: {}, {}",
        from_config.display(),
        from_flag.display()
    );
    assert!(err.contains(&want), "{err}");

    // Without a root, local files are off and the banner says nothing of them.
    let out = serve_once(&base.join("data"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("serving on stdio"), "{err}");
    assert!(!err.contains("local files"), "{err}");
}

#[test]
fn a_bad_file_root_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(base.join("plain.txt"), "x").unwrap();
    let missing = base.join("missing");
    let plain = base.join("plain.txt");
    let relative = Config::new()
        .set("files", "roots", vec!["relative/dir"])
        .write_in(&base);
    let cases: [(Vec<&str>, &str, &str); 3] = [
        (
            vec!["--files-root", missing.to_str().unwrap()],
            missing.to_str().unwrap(),
            "does not exist",
        ),
        (
            vec!["--files-root", plain.to_str().unwrap()],
            plain.to_str().unwrap(),
            "is not a directory",
        ),
        (
            vec!["--config", relative.to_str().unwrap()],
            "relative/dir",
            "is not an absolute path",
        ),
    ];
    for (args, root, why) in cases {
        let data = base.join("data");
        let out = serve_once(&data, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("file root {root}: {why}")),
            "{args:?}: {err}"
        );
        assert!(err.contains("--files-root"), "{err}");
        assert!(!err.contains("serving on"), "{err}");
        // Refused before the data directory (stores, keyrings, audit trail) is touched.
        assert!(!data.exists(), "{args:?}");
    }
}
