//! Keyring files: permissions, atomic creation, rotation, parsing, naming key.

use std::collections::BTreeMap;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use bitatlas::crypto::{self, Algorithm, CryptoError, Keyring};

use crate::support::envelope::ctx;

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
#[cfg(unix)]
fn created_files_are_0600_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.json");
    let ring = Keyring::create_file(&path, Algorithm::XChaCha20Poly1305).unwrap();
    assert_eq!(mode(&path), 0o600);
    let before = std::fs::read(&path).unwrap();
    let err = Keyring::create_file(&path, Algorithm::Aes256Gcm).unwrap_err();
    assert!(matches!(err, CryptoError::Keyring(_)));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "existing keyring untouched"
    );
    let loaded = Keyring::load(&path).unwrap();
    assert_eq!(loaded.entries(), ring.entries());
    assert_eq!(loaded.primary_algorithm(), Algorithm::XChaCha20Poly1305);
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
#[cfg(unix)]
fn group_or_world_accessible_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.json");
    Keyring::create_file(&path, Algorithm::Aes256Gcm).unwrap();
    for m in [0o644, 0o640, 0o604, 0o660, 0o601, 0o610] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
        let err = Keyring::load(&path).unwrap_err();
        assert!(matches!(err, CryptoError::Keyring(_)), "{m:o}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(Keyring::load(&path).is_ok());
}

#[test]
#[cfg(unix)]
fn load_or_create_makes_a_private_directory_then_reuses_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/keys/default.keyring");
    let (a, created) = Keyring::load_or_create(&path, Algorithm::Aes256Gcm).unwrap();
    assert!(created);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let (b, created) = Keyring::load_or_create(&path, Algorithm::XChaCha20Poly1305).unwrap();
    assert!(!created);
    assert_eq!(a.entries(), b.entries());
    assert_eq!(a.object_name("t", "k"), b.object_name("t", "k"));
}

#[test]
fn rotation_keeps_old_keys_and_the_naming_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.json");
    let mut ring = Keyring::create_file(&path, Algorithm::Aes256Gcm).unwrap();
    let old_env = crypto::seal(&ring, &ctx("a"), None, &BTreeMap::new(), b"old").unwrap();
    let old_primary = ring.primary_id().to_owned();
    let name_before = ring.object_name("t", "a");

    let entry = ring.rotate().unwrap();
    assert_ne!(entry.id, old_primary);
    assert!(entry.primary);
    ring.save(&path).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    let ring = Keyring::load(&path).unwrap();
    let entries = ring.entries();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries.iter().filter(|e| e.primary).count(), 1);
    assert_eq!(ring.primary_id(), entry.id);
    assert_eq!(ring.object_name("t", "a"), name_before);
    // Old envelopes still open; new ones use the new KEK.
    assert_eq!(
        crypto::open(&ring, &ctx("a"), &old_env).unwrap().data,
        b"old"
    );
    let new_env = crypto::seal(&ring, &ctx("a"), None, &BTreeMap::new(), b"new").unwrap();
    assert_eq!(
        crypto::Layout::parse(&new_env).unwrap().kek_id(),
        entry.id.as_str()
    );
    // Rotation to the other algorithm.
    let mut ring = ring;
    ring.rotate_to(Algorithm::XChaCha20Poly1305).unwrap();
    let x = crypto::seal(&ring, &ctx("a"), None, &BTreeMap::new(), b"x").unwrap();
    assert_eq!(
        crypto::Layout::parse(&x).unwrap().algorithm(),
        Algorithm::XChaCha20Poly1305
    );
    assert_eq!(
        crypto::open(&ring, &ctx("a"), &old_env).unwrap().data,
        b"old"
    );
    assert_eq!(
        crypto::open(&ring, &ctx("a"), &new_env).unwrap().data,
        b"new"
    );
}

#[test]
fn object_names_are_fixed_length_hex_and_unambiguous() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let n = ring.object_name("acme", "invoices/2026/01.pdf");
    assert_eq!(n.len(), 64);
    assert!(
        n.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(n, ring.object_name("acme", "invoices/2026/01.pdf"));
    assert_ne!(n, ring.object_name("acme", "invoices/2026/02.pdf"));
    assert_ne!(n, ring.object_name("acme2", "invoices/2026/01.pdf"));
    // Length prefixes: ("ab","c") and ("a","bc") differ.
    assert_ne!(ring.object_name("ab", "c"), ring.object_name("a", "bc"));
    assert!(!n.contains("invoices"));
    assert!(ring.object_name_matches("acme", "invoices/2026/01.pdf", &n));
    assert!(!ring.object_name_matches("acme", "invoices/2026/02.pdf", &n));
    assert!(!ring.object_name_matches("acme", "invoices/2026/01.pdf", &n[..63]));
    // Another keyring names the same key differently.
    let other = Keyring::generate(Algorithm::Aes256Gcm);
    assert_ne!(other.object_name("acme", "invoices/2026/01.pdf"), n);
}

#[test]
fn documents_round_trip_and_bad_documents_are_rejected() {
    let ring = Keyring::generate(Algorithm::XChaCha20Poly1305);
    let json = ring.to_json();
    let back = Keyring::from_json(&json).unwrap();
    assert_eq!(back.entries(), ring.entries());
    assert_eq!(back.object_name("t", "k"), ring.object_name("t", "k"));

    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut d = doc.clone();
        f(&mut d);
        Keyring::from_json(&d.to_string())
    };
    let bad: Vec<(&str, Result<Keyring, CryptoError>)> = vec![
        ("format", mutate(&|d| d["format"] = "other/1".into())),
        (
            "short key",
            mutate(&|d| d["keys"][0]["key"] = "AAAA".into()),
        ),
        (
            "no primary",
            mutate(&|d| d["keys"][0]["primary"] = false.into()),
        ),
        (
            "bad alg",
            mutate(&|d| d["keys"][0]["algorithm"] = "rot13".into()),
        ),
        ("bad id", mutate(&|d| d["keys"][0]["id"] = "a b".into())),
        (
            "bad date",
            mutate(&|d| d["keys"][0]["created"] = "yesterday".into()),
        ),
        ("naming", mutate(&|d| d["naming_key"] = "!!".into())),
        ("extra field", mutate(&|d| d["extra"] = 1.into())),
        ("no keys", mutate(&|d| d["keys"] = serde_json::json!([]))),
    ];
    for (what, r) in bad {
        let err = r.expect_err(what);
        assert!(matches!(err, CryptoError::Keyring(_)), "{what}: {err:?}");
        // Errors never echo key material.
        let secret = doc["keys"][0]["key"].as_str().unwrap();
        assert!(!err.to_string().contains(secret), "{what}");
    }
    assert!(Keyring::from_json("not json").is_err());
}

/// `std::env::set_var` is `unsafe` in edition 2024 and the crate forbids unsafe code, so this
/// test re-runs itself as a child process with the variable set.
#[test]
fn keyring_from_an_environment_variable() {
    const VAR: &str = "BITATLAS_TEST_KEYRING_DOC";
    const EXPECT: &str = "BITATLAS_TEST_KEYRING_EXPECT_ID";
    if let Some(expected) = std::env::var_os(EXPECT) {
        let loaded = Keyring::from_env(VAR).unwrap();
        assert_eq!(loaded.primary_id(), expected.to_str().unwrap());
        return;
    }
    assert!(matches!(
        Keyring::from_env("BITATLAS_TEST_KEYRING_UNSET"),
        Err(CryptoError::Keyring(_))
    ));
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    // The harness names tests by their path below the crate: `keyring_file::...`.
    let name = concat!(module_path!(), "::keyring_from_an_environment_variable");
    let name = name.split_once("::").map_or(name, |(_crate, path)| path);
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name])
        .env(VAR, ring.to_json().as_str())
        .env(EXPECT, ring.primary_id());
    let output = crate::support::bin::output(cmd);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
}

// ----- losing a keyring, backing it up and restoring it (the real binary) ---------------

use std::path::Path;

use serde_json::json;

use crate::support::bin::{self, s};
use crate::support::config::Config;
use crate::support::stdio::StdioServer;

const PASS_VAR: &str = "BITATLAS_TEST_BACKUP_PASSPHRASE";
const PASSPHRASE: &str = "a long test passphrase, not a secret";

/// `bitatlas serve` with stdin closed: the exit status and stderr (start-up refusals happen
/// before stdin is read).
fn serve_once(data_dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = bin::serve_once(data_dir, extra);
    assert!(out.stdout.is_empty(), "nothing on stdout");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Puts `keys` (each holding `body-of-<key>`) through a stdio server and closes it.
fn put_all(data_dir: &Path, extra: &[&str], keys: &[&str]) -> String {
    let mut s = StdioServer::start(data_dir, extra, &data_dir.with_extension("stderr"));
    for k in keys {
        s.call("put", json!({"key": k, "text": format!("body-of-{k}")}))
            .unwrap_or_else(|e| panic!("put {k}: {e}"));
    }
    let (status, stderr) = s.finish();
    assert!(status.success(), "{stderr}");
    stderr
}

/// Every key can be read back with its body, and `list` shows exactly `keys`.
fn assert_all_readable(data_dir: &Path, extra: &[&str], keys: &[&str]) -> String {
    let mut s = StdioServer::start(data_dir, extra, &data_dir.with_extension("stderr"));
    for k in keys {
        let got = s
            .call("get", json!({"key": k}))
            .unwrap_or_else(|e| panic!("get {k}: {e}"));
        assert_eq!(got.data(), format!("body-of-{k}"), "{k}");
    }
    let mut listed = s.call("list", json!({})).expect("list").keys();
    listed.sort();
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(listed, want);
    s.finish().1
}

fn keys_cmd(args: &[&str], keyring: &Path, stdin: Option<&[u8]>) -> std::process::Output {
    let mut cmd = bin::bitatlas(&["keys"]);
    cmd.args(args)
        .args(["--keyring", s(keyring)])
        .args(["--passphrase-env", PASS_VAR])
        .env(PASS_VAR, PASSPHRASE);
    match stdin {
        Some(bytes) => bin::run_with_input(cmd, bytes),
        None => bin::output(cmd),
    }
}

fn store_config(dir: &Path, store: &Path, tenants: &[&str]) -> std::path::PathBuf {
    let mut config = Config::new().local_store("disk", store, "DE");
    for t in tenants {
        config = config.tenant(t, "disk");
    }
    if let Some(first) = tenants.first() {
        config = config.server("stdio_tenant", *first);
    }
    config.write(&dir.join(format!("bitatlas-{}.toml", tenants.join("-"))))
}

#[test]
fn a_lost_keyring_stops_the_server_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = ["notes/a.txt", "notes/b.txt", "c"];
    let banner = put_all(&data, &[], &keys);
    let keyring = data.join("keys").join("default.keyring");
    assert!(
        banner.contains(&format!("keyring default: {}", keyring.display())),
        "the banner names the keyring: {banner}"
    );
    let saved = dir.path().join("saved.keyring");
    std::fs::rename(&keyring, &saved).unwrap();

    // Objects in the store and puts in the trail: refused, naming the file and the way back.
    let (code, err) = serve_once(&data, &[]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains(&keyring.display().to_string()), "{err}");
    assert!(err.contains("KEYRING_MISSING"), "{err}");
    assert!(err.contains("bitatlas keys import"), "{err}");
    assert!(!keyring.exists(), "no new keyring was generated");

    // Either piece of evidence alone is enough: the store without the trail...
    let trail = data.join("audit");
    let trail_saved = dir.path().join("audit-saved");
    std::fs::rename(&trail, &trail_saved).unwrap();
    let (code, err) = serve_once(&data, &[]);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("store local holds 3 sealed object(s)"),
        "{err}"
    );
    assert!(!keyring.exists());
    std::fs::remove_dir_all(&trail).ok();
    std::fs::rename(&trail_saved, &trail).unwrap();

    // ... and the trail without the objects.
    let objects = data.join("objects");
    std::fs::rename(&objects, dir.path().join("objects-saved")).unwrap();
    let (code, err) = serve_once(&data, &[]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("records 3 successful put(s)"), "{err}");
    assert!(!keyring.exists());
    std::fs::remove_dir_all(&objects).ok();
    std::fs::rename(dir.path().join("objects-saved"), &objects).unwrap();

    // Putting the keyring back restores everything, nothing was hidden meanwhile.
    std::fs::rename(&saved, &keyring).unwrap();
    assert_all_readable(&data, &[], &keys);
}

#[test]
fn a_new_tenant_beside_other_tenants_objects_still_gets_a_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = dir.path().join("store");
    let two = store_config(dir.path(), &store, &["acme", "beta"]);
    put_all(&data, &["--config", two.to_str().unwrap()], &["x", "y"]);
    // Every folder in the store belongs to a keyring that loads: a third tenant may start.
    let three = store_config(dir.path(), &store, &["acme", "beta", "gamma"]);
    let banner = put_all(&data, &["--config", three.to_str().unwrap()], &[]);
    assert!(
        banner.contains(&format!(
            "keyring gamma: {} (new)",
            data.join("keys/gamma.keyring").display()
        )),
        "{banner}"
    );
    // But acme's objects are orphans once acme's keyring is gone.
    std::fs::remove_file(data.join("keys/acme.keyring")).unwrap();
    let (code, err) = serve_once(&data, &["--config", three.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("tenant acme: KEYRING_MISSING"), "{err}");
    assert!(err.contains("acme.keyring"), "{err}");
}

#[test]
#[cfg(unix)]
fn export_then_import_into_a_fresh_data_directory_restores_every_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let cfg = store_config(dir.path(), &store, &["default"]);
    let cfg_arg = ["--config", cfg.to_str().unwrap()];
    let first = dir.path().join("first");
    let keys: Vec<String> = (0..6).map(|i| format!("docs/{i}.txt")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_all(&first, &cfg_arg, &keys);
    let keyring = first.join("keys/default.keyring");

    let export = keys_cmd(&["export"], &keyring, None);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let bundle = export.stdout;
    let text = String::from_utf8(bundle.clone()).expect("armoured text");
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    // No key material in clear, on stdout or stderr.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keyring).unwrap()).unwrap();
    let secrets = [
        doc["naming_key"].as_str().unwrap().to_owned(),
        doc["keys"][0]["key"].as_str().unwrap().to_owned(),
    ];
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()));
        assert!(!String::from_utf8_lossy(&export.stderr).contains(secret.as_str()));
    }
    assert!(!text.contains(PASSPHRASE));

    // A fresh data directory on the same store refuses until the keyring is imported.
    let second = dir.path().join("second");
    let restored = second.join("keys/default.keyring");
    let (code, err) = serve_once(&second, &cfg_arg);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains(&restored.display().to_string()), "{err}");

    let mut wrong = bin::bitatlas(&["keys", "import", "--keyring", s(&restored)]);
    wrong
        .args(["--passphrase-env", PASS_VAR])
        .env(PASS_VAR, "not the passphrase")
        .stdin(std::fs::File::open(write_tmp(dir.path(), &bundle)).unwrap());
    let wrong = bin::output_with_stdin(wrong);
    assert_eq!(
        wrong.status.code(),
        Some(4),
        "a wrong passphrase opens nothing"
    );
    assert!(!restored.exists());

    let import = keys_cmd(&["import"], &restored, Some(&bundle));
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(import.stdout.is_empty());
    assert_eq!(mode(&restored), 0o600);
    assert_eq!(
        std::fs::read_dir(restored.parent().unwrap())
            .unwrap()
            .count(),
        1,
        "no temporary file left beside the keyring"
    );
    assert_eq!(
        Keyring::load(&restored).unwrap().entries(),
        Keyring::load(&keyring).unwrap().entries()
    );
    assert_all_readable(&second, &cfg_arg, &keys);

    // Importing the same keyring again is a no-op; a different one is refused.
    let before = std::fs::read(&restored).unwrap();
    let again = keys_cmd(&["import"], &restored, Some(&bundle));
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to do"));
    let other_ring = dir.path().join("other.keyring");
    Keyring::create_file(&other_ring, Algorithm::Aes256Gcm).unwrap();
    let other = keys_cmd(&["export"], &other_ring, None);
    assert!(other.status.success());
    let refused = keys_cmd(&["import"], &restored, Some(&other.stdout));
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("different keyring"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(std::fs::read(&restored).unwrap(), before, "left untouched");

    // Not a bundle at all.
    let garbage = keys_cmd(
        &["import"],
        &dir.path().join("g.keyring"),
        Some(b"garbage\n"),
    );
    assert_eq!(garbage.status.code(), Some(1));
    assert!(!dir.path().join("g.keyring").exists());
}

fn write_tmp(dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join("bundle.age");
    std::fs::write(&p, bytes).unwrap();
    p
}
