//! Attacks on sealed envelopes: every one must fail to open, with no plaintext returned.
//! Failures are `CryptoError::Integrity`, except where the bytes no longer parse as a
//! header at all (`Format`) or name a KEK id the keyring lacks (`UnknownKek`).

use std::collections::BTreeMap;

use bitatlas::crypto::{
    self, Algorithm, Context, CryptoError, Keyring, Layout, format::CHUNK_SIZE,
};

use crate::support::envelope::{ctx, pattern};

const ALGS: [Algorithm; 2] = [Algorithm::Aes256Gcm, Algorithm::XChaCha20Poly1305];
const STRIDE: usize = CHUNK_SIZE + 16;

fn seal(ring: &Keyring, key: &str, pt: &[u8]) -> Vec<u8> {
    let meta = BTreeMap::from([("owner".to_owned(), "someone".to_owned())]);
    crypto::seal(ring, &ctx(key), Some("text/plain"), &meta, pt).unwrap()
}

/// Opens `env` in memory (borrowed and owned) and streaming; all must fail. Returns the in-memory error.
fn must_fail(ring: &Keyring, c: &Context, env: &[u8], what: &str) -> CryptoError {
    let err = match crypto::open(ring, c, env) {
        Ok(_) => panic!("{what}: tampered envelope opened"),
        Err(e) => e,
    };
    assert!(err.is_bad_envelope(), "{what}: unexpected error {err:?}");
    match crypto::open_owned(ring, c, env.to_vec()) {
        Ok(_) => panic!("{what}: tampered envelope opened in place"),
        Err(owned) => assert_eq!(
            format!("{owned:?}"),
            format!("{err:?}"),
            "{what}: in-place open fails the same way"
        ),
    }
    let mut sink = Vec::new();
    let mut reader = env;
    let streamed = crypto::open_stream(ring, c, &mut reader, &mut sink);
    assert!(streamed.is_err(), "{what}: streaming open accepted it");
    err
}

fn must_fail_integrity(ring: &Keyring, c: &Context, env: &[u8], what: &str) {
    let err = must_fail(ring, c, env, what);
    assert!(
        matches!(err, CryptoError::Integrity),
        "{what}: expected Integrity, got {err:?}"
    );
}

#[test]
fn every_single_byte_flip_in_a_small_object_fails() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        let pt = pattern(2048);
        let env = seal(&ring, "small", &pt);
        let header_len = Layout::parse(&env).unwrap().header_len() as usize;
        for i in 0..env.len() {
            for mask in [0x01u8, 0x80] {
                let mut bad = env.clone();
                bad[i] ^= mask;
                let err = must_fail(&ring, &ctx("small"), &bad, &format!("{alg} flip {i}"));
                if i >= header_len {
                    assert!(
                        matches!(err, CryptoError::Integrity),
                        "{alg} flip {i}: {err:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn byte_flips_in_the_prefix_and_around_every_chunk_tag_of_a_multi_chunk_object_fail() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        let pt = pattern(130 * 1024); // 3 chunks, the last one partial
        let env = seal(&ring, "multi", &pt);
        let layout = Layout::parse(&env).unwrap();
        let prefix = layout.prefix_len() as usize;
        let mut positions: Vec<usize> = (0..prefix).collect();
        for k in 0..3 {
            let start = prefix + k * STRIDE;
            let end = (start + STRIDE).min(env.len());
            positions.extend(start..start + 24); // chunk start
            positions.extend(end - 40..end); // end of chunk body and its tag
            positions.push(start + (end - start) / 2);
        }
        for i in positions {
            let mut bad = env.clone();
            bad[i] ^= 0x04;
            let err = must_fail(&ring, &ctx("multi"), &bad, &format!("{alg} flip {i}"));
            if i >= layout.header_len() as usize {
                assert!(
                    matches!(err, CryptoError::Integrity),
                    "{alg} flip {i}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn truncation_anywhere_fails() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        let pt = pattern(130 * 1024);
        let env = seal(&ring, "t", &pt);
        let prefix = Layout::parse(&env).unwrap().prefix_len() as usize;
        let mut cuts = vec![
            0,
            1,
            7,
            8,
            20,
            prefix - 1,
            prefix,
            prefix + 1,
            env.len() - 1,
        ];
        for k in 1..=2 {
            cuts.extend([
                prefix + k * STRIDE - 1,
                prefix + k * STRIDE,
                prefix + k * STRIDE + 1,
            ]);
            cuts.extend([prefix + k * STRIDE + 16, prefix + k * STRIDE + 17]);
        }
        // Inside the last chunk.
        let last_start = prefix + 2 * STRIDE;
        cuts.extend((last_start..env.len()).step_by(997));
        cuts.extend(env.len() - 17..env.len());
        for cut in cuts {
            must_fail(
                &ring,
                &ctx("t"),
                &env[..cut],
                &format!("{alg} cut at {cut}"),
            );
        }
        // Cutting inside the payload is always an integrity failure, never a format one.
        for k in 0..=2 {
            must_fail_integrity(
                &ring,
                &ctx("t"),
                &env[..prefix + k * STRIDE],
                &format!("{alg} cut at chunk boundary {k}"),
            );
        }
    }
}

#[test]
fn an_object_that_ends_on_a_chunk_boundary_cannot_be_shortened_to_it() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let env = seal(&ring, "b", &pattern(2 * CHUNK_SIZE));
    let prefix = Layout::parse(&env).unwrap().prefix_len() as usize;
    assert_eq!(env.len(), prefix + 2 * STRIDE);
    must_fail_integrity(
        &ring,
        &ctx("b"),
        &env[..prefix + STRIDE],
        "drop final full chunk",
    );
}

fn chunks(env: &[u8], prefix: usize) -> Vec<Vec<u8>> {
    env[prefix..].chunks(STRIDE).map(<[u8]>::to_vec).collect()
}

fn assemble(prefix: &[u8], parts: &[&Vec<u8>]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn reordered_duplicated_dropped_or_appended_chunks_fail() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        let env = seal(&ring, "r", &pattern(4 * CHUNK_SIZE + 999)); // 5 chunks
        let prefix_len = Layout::parse(&env).unwrap().prefix_len() as usize;
        let prefix = &env[..prefix_len];
        let c = chunks(&env, prefix_len);
        assert_eq!(c.len(), 5);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "swap 0,1",
                assemble(prefix, &[&c[1], &c[0], &c[2], &c[3], &c[4]]),
            ),
            (
                "swap 2,3",
                assemble(prefix, &[&c[0], &c[1], &c[3], &c[2], &c[4]]),
            ),
            (
                "duplicate 1",
                assemble(prefix, &[&c[0], &c[1], &c[1], &c[2], &c[3], &c[4]]),
            ),
            (
                "duplicate last",
                assemble(prefix, &[&c[0], &c[1], &c[2], &c[3], &c[4], &c[4]]),
            ),
            (
                "drop middle",
                assemble(prefix, &[&c[0], &c[1], &c[3], &c[4]]),
            ),
            (
                "drop first",
                assemble(prefix, &[&c[1], &c[2], &c[3], &c[4]]),
            ),
            (
                "last moved first",
                assemble(prefix, &[&c[4], &c[0], &c[1], &c[2], &c[3]]),
            ),
            ("only last", assemble(prefix, &[&c[4]])),
        ];
        for (what, bad) in cases {
            must_fail_integrity(&ring, &ctx("r"), &bad, &format!("{alg} {what}"));
        }
        let junk16 = [0u8; 16];
        let full_junk = vec![0x42u8; STRIDE];
        for (what, extra) in [
            ("1 byte", &vec![0u8][..]),
            ("16 bytes", &junk16[..]),
            ("a chunk of junk", &full_junk[..]),
            ("a copy of chunk 0", &c[0][..]),
        ] {
            let mut bad = env.clone();
            bad.extend_from_slice(extra);
            must_fail_integrity(&ring, &ctx("r"), &bad, &format!("{alg} appended {what}"));
        }
    }
}

#[test]
fn chunks_cannot_move_between_objects_even_with_the_same_key() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let a = seal(&ring, "same", &pattern(2 * CHUNK_SIZE + 5));
    let b = seal(&ring, "same", &pattern(2 * CHUNK_SIZE + 5));
    let pa = Layout::parse(&a).unwrap().prefix_len() as usize;
    let pb = Layout::parse(&b).unwrap().prefix_len() as usize;
    // a's prefix with b's payload, and a's chunk 0 inside b.
    must_fail_integrity(
        &ring,
        &ctx("same"),
        &[&a[..pa], &b[pb..]].concat(),
        "prefix swap",
    );
    let mut mixed = b.clone();
    mixed[pb..pb + STRIDE].copy_from_slice(&a[pa..pa + STRIDE]);
    must_fail_integrity(&ring, &ctx("same"), &mixed, "chunk from another object");
    // a's header with b's info block.
    let ha = Layout::parse(&a).unwrap().header_len() as usize;
    let spliced = [&a[..ha], &b[ha..pb], &a[pa..]].concat();
    must_fail_integrity(
        &ring,
        &ctx("same"),
        &spliced,
        "info block from another object",
    );
}

#[test]
fn wrong_context_fails() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        let env = seal(&ring, "invoices/1.pdf", &pattern(70_000));
        let good = ctx("invoices/1.pdf");
        assert!(crypto::open(&ring, &good, &env).is_ok());
        for (tenant, store, key) in [
            ("acme", "eu-par", "invoices/2.pdf"),
            ("acme", "eu-par", "invoices/1.pdf "),
            ("other", "eu-par", "invoices/1.pdf"),
            // Same concatenation, different field split: length prefixes tell them apart.
            ("acm", "eu-par", "einvoices/1.pdf"),
            ("acmeinvoices/", "eu-par", "1.pdf"),
        ] {
            let c = Context { tenant, store, key };
            must_fail_integrity(&ring, &c, &env, &format!("{alg} {tenant}/{store}/{key}"));
        }
        // Version 2 is not bound to the store: the tenant's replicas hold the same envelope.
        let replica = Context {
            store: "eu-ams",
            ..good
        };
        assert!(crypto::open(&ring, &replica, &env).is_ok());
    }
}

#[test]
fn a_version_1_envelope_stays_bound_to_its_store() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let mut rng = bitatlas::crypto::OsRandom;
    let good = ctx("invoices/1.pdf");
    let env =
        crypto::seal_v1_with_rng(&ring, &good, None, &BTreeMap::new(), b"old", &mut rng).unwrap();
    assert_eq!(crypto::open(&ring, &good, &env).unwrap().data, b"old");
    for (tenant, store) in [("acme", "eu-ams"), ("acm", "eeu-par"), ("other", "eu-par")] {
        let c = Context {
            tenant,
            store,
            ..good
        };
        must_fail_integrity(&ring, &c, &env, &format!("v1 {tenant}/{store}"));
    }
}

#[test]
fn wrong_keyring_or_wrong_kek_fails() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let env = seal(&ring, "k", b"payload");
    // A different keyring does not know the KEK id.
    let other = Keyring::generate(Algorithm::Aes256Gcm);
    assert!(matches!(
        must_fail(&other, &ctx("k"), &env, "other keyring"),
        CryptoError::UnknownKek(_)
    ));
    // Same KEK id, different key bytes (a re-keyed keyring): integrity failure.
    let mut doc: serde_json::Value = serde_json::from_str(&ring.to_json()).unwrap();
    let other_doc: serde_json::Value = serde_json::from_str(&other.to_json()).unwrap();
    doc["keys"][0]["key"] = other_doc["keys"][0]["key"].clone();
    let rekeyed = Keyring::from_json(&doc.to_string()).unwrap();
    must_fail_integrity(&rekeyed, &ctx("k"), &env, "same id, other key");
    // Same KEK id and bytes, but the keyring claims the other algorithm.
    let mut doc: serde_json::Value = serde_json::from_str(&ring.to_json()).unwrap();
    doc["keys"][0]["algorithm"] = "xchacha20-poly1305".into();
    let realg = Keyring::from_json(&doc.to_string()).unwrap();
    must_fail_integrity(&realg, &ctx("k"), &env, "same key, other algorithm");
}

/// Offsets of header fields (see docs/envelope-format.md).
const ALG_AT: usize = 9;
const CHUNK_AT: std::ops::Range<usize> = 10..14;

#[test]
fn header_downgrades_fail() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        let pt = pattern(3 * 4096 + 10);
        let env = seal(&ring, "h", &pt);
        let other_alg = match alg {
            Algorithm::Aes256Gcm => Algorithm::XChaCha20Poly1305,
            Algorithm::XChaCha20Poly1305 => Algorithm::Aes256Gcm,
        };
        // Algorithm id switched.
        let mut bad = env.clone();
        bad[ALG_AT] = other_alg.id();
        must_fail(&ring, &ctx("h"), &bad, &format!("{alg} algorithm switched"));
        // Chunk size changed to other sizes a reader accepts: still authenticated.
        for size in [4096u32, 16384, 32768, 131072, 1 << 20] {
            let mut bad = env.clone();
            bad[CHUNK_AT.clone()].copy_from_slice(&size.to_be_bytes());
            assert!(Layout::parse(&bad).is_ok(), "size {size} parses");
            must_fail_integrity(&ring, &ctx("h"), &bad, &format!("{alg} chunk size {size}"));
        }
        // Both changed together.
        let mut bad = env.clone();
        bad[ALG_AT] = other_alg.id();
        bad[CHUNK_AT.clone()].copy_from_slice(&4096u32.to_be_bytes());
        must_fail(
            &ring,
            &ctx("h"),
            &bad,
            &format!("{alg} algorithm and chunk size"),
        );
        // Version: downgraded to 1 (another key schedule), or one no reader knows.
        let mut bad = env.clone();
        bad[8] = 1;
        must_fail_integrity(&ring, &ctx("h"), &bad, "downgraded to version 1");
        let mut bad = env.clone();
        bad[8] = 3;
        assert!(matches!(
            must_fail(&ring, &ctx("h"), &bad, "version"),
            CryptoError::Format(_)
        ));
        let mut bad = env.clone();
        bad[0] = b'X';
        assert!(matches!(
            must_fail(&ring, &ctx("h"), &bad, "magic"),
            CryptoError::Format(_)
        ));
    }
}

#[test]
fn a_keyring_holding_both_algorithms_still_rejects_a_switched_header() {
    // The rotated keyring has one KEK of each algorithm; switching the header's algorithm id
    // must not let the envelope open under the other KEK's algorithm.
    let mut ring = Keyring::generate(Algorithm::Aes256Gcm);
    let env = seal(&ring, "x", b"data");
    ring.rotate_to(Algorithm::XChaCha20Poly1305).unwrap();
    assert!(crypto::open(&ring, &ctx("x"), &env).is_ok());
    let mut bad = env.clone();
    bad[ALG_AT] = Algorithm::XChaCha20Poly1305.id();
    must_fail(&ring, &ctx("x"), &bad, "switched algorithm");
}

#[test]
fn garbage_and_empty_inputs_fail_cleanly() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    for input in [
        &b""[..],
        b"BITATLAS",
        b"BITATLAS\x01",
        &[0u8; 300][..],
        &[0xffu8; 20_000][..],
    ] {
        must_fail(&ring, &ctx("g"), input, "garbage");
    }
}
