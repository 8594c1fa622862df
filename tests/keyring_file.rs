//! Keyring files: permissions, atomic creation, rotation, parsing, naming key.

use std::collections::BTreeMap;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use bitatlas::crypto::{self, Algorithm, Context, CryptoError, Keyring};

fn ctx(key: &str) -> Context<'_> {
    Context {
        tenant: "t",
        store: "s",
        key,
    }
}

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
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "keyring_from_an_environment_variable"])
        .env(VAR, ring.to_json().as_str())
        .env(EXPECT, ring.primary_id())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
}
