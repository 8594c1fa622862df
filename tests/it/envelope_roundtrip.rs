//! Round trips (in memory and streaming, both algorithms), ranged reads, overhead, nonce
//! freshness and redaction of the envelope API.

use std::collections::{BTreeMap, HashSet};

use bitatlas::crypto::{self, Algorithm, CryptoError, Keyring, Layout, format::CHUNK_SIZE};
use proptest::prelude::*;

use crate::support::envelope::{ctx, pattern};

const ALGS: [Algorithm; 2] = [Algorithm::Aes256Gcm, Algorithm::XChaCha20Poly1305];

fn meta() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("author".to_owned(), "Ada Lovelace".to_owned()),
        ("lang".to_owned(), "fr".to_owned()),
    ])
}

const SIZES: [usize; 7] = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE,
    5 * CHUNK_SIZE + 777,
];

#[test]
fn in_memory_round_trip_all_sizes_both_algorithms() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        for size in SIZES {
            let pt = pattern(size);
            let env =
                crypto::seal(&ring, &ctx("docs/a.txt"), Some("text/plain"), &meta(), &pt).unwrap();
            let layout = Layout::parse(&env).unwrap();
            assert_eq!(layout.algorithm(), alg);
            assert_eq!(layout.plaintext_len(env.len() as u64).unwrap(), size as u64);
            let opened = crypto::open(&ring, &ctx("docs/a.txt"), &env).unwrap();
            assert_eq!(opened.data, pt, "{alg} size {size}");
            assert_eq!(opened.info.key, "docs/a.txt");
            assert_eq!(opened.info.content_type.as_deref(), Some("text/plain"));
            assert_eq!(opened.info.metadata, meta());
            let owned = crypto::open_owned(&ring, &ctx("docs/a.txt"), env.clone()).unwrap();
            assert_eq!(owned.data, pt, "{alg} size {size}, opened in place");
            assert_eq!(owned.info.key, "docs/a.txt");
            let expected_chunks = size.div_ceil(CHUNK_SIZE).max(1) as u64;
            assert_eq!(
                layout.chunk_count(env.len() as u64).unwrap(),
                expected_chunks
            );
            assert_eq!(
                env.len() as u64,
                layout.prefix_len() + size as u64 + 16 * expected_chunks
            );
        }
    }
}

/// A reader that returns data in small irregular pieces, to exercise short reads.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7919 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn streaming_round_trip_matches_in_memory_format() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        for size in SIZES {
            let pt = pattern(size);
            let mut env = Vec::new();
            let n = crypto::seal_stream(
                &ring,
                &ctx("k"),
                None,
                &BTreeMap::new(),
                &mut Trickle { data: &pt, step: 0 },
                &mut env,
            )
            .unwrap();
            assert_eq!(n, size as u64);
            // The in-memory opener reads what the streaming sealer wrote ...
            assert_eq!(crypto::open(&ring, &ctx("k"), &env).unwrap().data, pt);
            // ... and the streaming opener reads what the in-memory sealer wrote.
            let env2 = crypto::seal(&ring, &ctx("k"), None, &BTreeMap::new(), &pt).unwrap();
            let mut out = Vec::new();
            let (info, n) = crypto::open_stream(
                &ring,
                &ctx("k"),
                &mut Trickle {
                    data: &env2,
                    step: 3,
                },
                &mut out,
            )
            .unwrap();
            assert_eq!(n, size as u64);
            assert_eq!(out, pt, "{alg} size {size}");
            assert_eq!(info.key, "k");
            assert_eq!(info.content_type, None);
        }
    }
}

#[test]
fn overhead_is_below_a_tenth_of_a_percent() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    for size in [1usize << 20, 16 << 20] {
        let pt = vec![0x5a; size];
        let env = crypto::seal(
            &ring,
            &ctx("big"),
            Some("application/octet-stream"),
            &meta(),
            &pt,
        )
        .unwrap();
        let overhead = (env.len() - size) as f64 / size as f64;
        assert!(overhead < 0.001, "{size}: overhead {overhead}");
    }
}

#[test]
fn info_block_is_padded_and_metadata_is_not_in_clear() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let small = crypto::seal(&ring, &ctx("a"), None, &BTreeMap::new(), b"x").unwrap();
    let larger = crypto::seal(
        &ring,
        &ctx("a-much-longer-object-key/with/folders.txt"),
        Some("text/markdown"),
        &meta(),
        b"x",
    )
    .unwrap();
    // Both info blocks fit in one 256-byte padding unit: same envelope length.
    assert_eq!(small.len(), larger.len());
    for needle in [
        &b"Ada Lovelace"[..],
        b"text/markdown",
        b"with/folders",
        b"author",
    ] {
        assert!(!larger.windows(needle.len()).any(|w| w == needle));
    }
}

#[test]
fn oversized_metadata_is_rejected_before_sealing() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let big = BTreeMap::from([("blob".to_owned(), "x".repeat(20_000))]);
    let err = crypto::seal(&ring, &ctx("k"), None, &big, b"").unwrap_err();
    assert!(matches!(err, CryptoError::InvalidInput(_)), "{err:?}");
}

#[test]
fn prefix_fits_the_fixed_maximum_even_with_large_metadata() {
    let ring = Keyring::generate(Algorithm::XChaCha20Poly1305);
    let m = BTreeMap::from([("note".to_owned(), "y".repeat(15_000))]);
    let env = crypto::seal(&ring, &ctx("k"), Some("text/plain"), &m, b"abc").unwrap();
    let layout =
        Layout::parse(&env[..64.min(env.len())]).unwrap_or_else(|_| Layout::parse(&env).unwrap());
    assert!(layout.prefix_len() as usize <= Layout::PREFIX_MAX);
    let (info, _) = crypto::open_info(
        &ring,
        "acme",
        "eu-par",
        &env[..Layout::PREFIX_MAX.min(env.len())],
    )
    .unwrap();
    assert_eq!(info.metadata, m);
}

#[test]
fn layout_parse_reports_how_many_bytes_it_needs() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let env = crypto::seal(&ring, &ctx("k"), None, &BTreeMap::new(), b"hello").unwrap();
    let mut needed = 0;
    loop {
        match Layout::parse(&env[..needed]) {
            Ok(l) => {
                assert_eq!(l.plaintext_len(env.len() as u64).unwrap(), 5);
                break;
            }
            Err(CryptoError::TooShort { needed: n }) => {
                assert!(n > needed);
                needed = n;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(needed < 128, "the header alone is small: {needed}");
    // open_info needs the info block too.
    let err = crypto::open_info(&ring, "acme", "eu-par", &env[..needed]).unwrap_err();
    assert!(matches!(err, CryptoError::TooShort { .. }));
}

#[test]
fn open_info_learns_the_key_without_knowing_it() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let pt = pattern(3 * CHUNK_SIZE);
    let env = crypto::seal(
        &ring,
        &ctx("secret/report.pdf"),
        Some("application/pdf"),
        &meta(),
        &pt,
    )
    .unwrap();
    let (info, opener) = crypto::open_info(&ring, "acme", "eu-par", &env).unwrap();
    assert_eq!(info.key, "secret/report.pdf");
    assert_eq!(info.metadata, meta());
    let span = opener
        .layout()
        .chunk_span(env.len() as u64, 0..pt.len() as u64)
        .unwrap();
    let bytes = &env[span.ciphertext.start as usize..span.ciphertext.end as usize];
    let got = opener
        .open_span(&ctx("secret/report.pdf"), &span, bytes, 0..pt.len() as u64)
        .unwrap();
    assert_eq!(got, pt);
    // A context with another key is refused even though the info block opened.
    assert!(matches!(
        opener.open_span(&ctx("other"), &span, bytes, 0..pt.len() as u64),
        Err(CryptoError::Integrity)
    ));
    // The info block is bound to the tenant (not to the store: replicas share envelopes).
    assert!(crypto::open_info(&ring, "other-tenant", "eu-par", &env).is_err());
    assert!(crypto::open_info(&ring, "acme", "other-store", &env).is_ok());
}

fn ranged(ring: &Keyring, env: &[u8], key: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let layout = Layout::parse(&env[..Layout::PREFIX_MAX.min(env.len())]).unwrap();
    let span = layout.chunk_span(env.len() as u64, range.clone()).unwrap();
    let (_, opener) = crypto::open_info(
        ring,
        "acme",
        "eu-par",
        &env[..Layout::PREFIX_MAX.min(env.len())],
    )
    .unwrap();
    let bytes = &env[span.ciphertext.start as usize..span.ciphertext.end as usize];
    opener.open_span(&ctx(key), &span, bytes, range).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn ranged_reads_equal_the_plaintext_slice(
        size in 0usize..(4 * CHUNK_SIZE + 100),
        a in any::<u64>(),
        b in any::<u64>(),
        xchacha in any::<bool>(),
    ) {
        let alg = if xchacha { Algorithm::XChaCha20Poly1305 } else { Algorithm::Aes256Gcm };
        let ring = Keyring::generate(alg);
        let pt = pattern(size);
        let env = crypto::seal(&ring, &ctx("r"), None, &BTreeMap::new(), &pt).unwrap();
        let (x, y) = (a % (size as u64 + 1), b % (size as u64 + 1));
        let range = x.min(y)..x.max(y);
        let got = ranged(&ring, &env, "r", range.clone());
        prop_assert_eq!(&got[..], &pt[range.start as usize..range.end as usize]);
    }
}

#[test]
fn ranges_at_chunk_edges() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let size = 3 * CHUNK_SIZE + 10;
    let pt = pattern(size);
    let env = crypto::seal(&ring, &ctx("r"), None, &BTreeMap::new(), &pt).unwrap();
    let c = CHUNK_SIZE as u64;
    for r in [
        0..0,
        0..1,
        c - 1..c + 1,
        c..2 * c,
        2 * c..size as u64,
        size as u64 - 1..size as u64,
        size as u64..size as u64,
        0..size as u64,
    ] {
        assert_eq!(
            ranged(&ring, &env, "r", r.clone()),
            &pt[r.start as usize..r.end as usize],
            "{r:?}"
        );
    }
    let layout = Layout::parse(&env).unwrap();
    assert!(matches!(
        layout.chunk_span(env.len() as u64, 0..size as u64 + 1),
        Err(CryptoError::InvalidRange { .. })
    ));
}

#[test]
fn ranged_read_far_into_a_large_object_touches_only_its_chunks() {
    let ring = Keyring::generate(Algorithm::XChaCha20Poly1305);
    let size = 64 * CHUNK_SIZE + 123; // 4 MiB + 123: 65 chunks
    let pt = pattern(size);
    let mut env = crypto::seal(&ring, &ctx("big"), None, &BTreeMap::new(), &pt).unwrap();
    let total = env.len() as u64;
    let layout = Layout::parse(&env[..Layout::PREFIX_MAX]).unwrap();
    let range = (60 * CHUNK_SIZE as u64 - 5)..(60 * CHUNK_SIZE as u64 + 5);
    let span = layout.chunk_span(total, range.clone()).unwrap();
    assert_eq!(span.first_chunk, 59);
    assert_eq!(span.chunk_count, 2);
    assert_eq!(span.total_chunks, 65);
    assert_eq!(
        span.ciphertext.end - span.ciphertext.start,
        2 * (CHUNK_SIZE as u64 + 16)
    );
    // Destroy every payload byte outside the span: the ranged read must not need them.
    let prefix = layout.prefix_len() as usize;
    let (s, e) = (span.ciphertext.start as usize, span.ciphertext.end as usize);
    for (i, b) in env.iter_mut().enumerate() {
        if i >= prefix && (i < s || i >= e) {
            *b = 0;
        }
    }
    let (_, opener) = crypto::open_info(&ring, "acme", "eu-par", &env[..prefix]).unwrap();
    let got = opener
        .open_span(&ctx("big"), &span, &env[s..e], range.clone())
        .unwrap();
    assert_eq!(got, &pt[range.start as usize..range.end as usize]);
    // The whole object no longer opens.
    assert!(matches!(
        crypto::open(&ring, &ctx("big"), &env),
        Err(CryptoError::Integrity)
    ));
}

#[test]
fn ranged_read_of_the_tail_detects_truncation_at_a_chunk_boundary() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let pt = pattern(3 * CHUNK_SIZE + 50);
    let env = crypto::seal(&ring, &ctx("t"), None, &BTreeMap::new(), &pt).unwrap();
    let layout = Layout::parse(&env).unwrap();
    let cut = (layout.prefix_len() + 2 * (CHUNK_SIZE as u64 + 16)) as usize;
    let truncated = &env[..cut];
    // The truncated object now claims 2 chunks; reading its "last" chunk must fail.
    let len = layout.plaintext_len(cut as u64).unwrap();
    let span = layout.chunk_span(cut as u64, len - 1..len).unwrap();
    let (_, opener) = crypto::open_info(&ring, "acme", "eu-par", truncated).unwrap();
    let bytes = &truncated[span.ciphertext.start as usize..span.ciphertext.end as usize];
    assert!(matches!(
        opener.open_span(&ctx("t"), &span, bytes, len - 1..len),
        Err(CryptoError::Integrity)
    ));
}

#[test]
fn sealing_the_same_input_never_repeats_a_dek_or_nonce() {
    for alg in ALGS {
        let ring = Keyring::generate(alg);
        let mut envelopes = HashSet::new();
        let mut nonces = HashSet::new();
        let mut wrapped = HashSet::new();
        for _ in 0..1000 {
            let env =
                crypto::seal(&ring, &ctx("same"), None, &BTreeMap::new(), b"same input").unwrap();
            let layout = Layout::parse(&env).unwrap();
            let h = layout.header_len() as usize;
            let n = alg.nonce_len();
            nonces.insert(env[h - 48 - n..h - 48].to_vec());
            wrapped.insert(env[h - 48..h].to_vec());
            envelopes.insert(env);
        }
        assert_eq!(envelopes.len(), 1000);
        assert_eq!(nonces.len(), 1000, "wrap nonces repeated for {alg}");
        assert_eq!(wrapped.len(), 1000, "wrapped DEKs repeated for {alg}");
    }
}

#[test]
fn debug_output_never_shows_secrets_or_plaintext() {
    let ring = Keyring::generate(Algorithm::Aes256Gcm);
    let json = ring.to_json();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let secret = doc["keys"][0]["key"].as_str().unwrap().to_owned();
    let naming = doc["naming_key"].as_str().unwrap().to_owned();
    let dbg = format!("{ring:?}");
    assert!(!dbg.contains(&secret) && !dbg.contains(&naming));
    assert!(dbg.contains("redacted"));

    let env = crypto::seal(
        &ring,
        &ctx("private/key"),
        Some("text/x-secret"),
        &meta(),
        b"TOPSECRETDATA",
    )
    .unwrap();
    let opened = crypto::open(&ring, &ctx("private/key"), &env).unwrap();
    let dbg = format!("{opened:?}");
    for s in ["TOPSECRETDATA", "private/key", "Ada", "text/x-secret"] {
        assert!(!dbg.contains(s), "{dbg}");
    }
    let err = crypto::open(&ring, &ctx("zz-wrong-key"), &env).unwrap_err();
    assert_eq!(err.code(), "INTEGRITY_FAILURE");
    assert!(!format!("{err} {err:?}").contains("zz-wrong-key"));
}

#[test]
fn object_key_and_content_type_survive_unicode() {
    let ring = Keyring::generate(Algorithm::XChaCha20Poly1305);
    let key = "dossiers/élève/Łódź 日本.txt";
    let m = BTreeMap::from([
        ("clé".to_owned(), "välue ✓".to_owned()),
        (String::new(), String::new()),
    ]);
    let env = crypto::seal(
        &ring,
        &ctx(key),
        Some("text/plain; charset=utf-8"),
        &m,
        b"ok",
    )
    .unwrap();
    let opened = crypto::open(&ring, &ctx(key), &env).unwrap();
    assert_eq!(opened.info.key, key);
    assert_eq!(opened.info.metadata, m);
}

#[test]
fn rewrap_changes_the_key_block_only_and_the_old_kek_can_go() {
    let mut ring = Keyring::generate(Algorithm::Aes256Gcm);
    let meta = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    let pt = pattern(3 * 65536 + 11);
    let c = ctx("docs/a.bin");
    let env = crypto::seal(&ring, &c, Some("text/plain"), &meta, &pt).unwrap();
    let old_kek = ring.primary_id().to_owned();
    let new_kek = ring.rotate().unwrap().id;

    let re = crypto::rewrap(&ring, c.tenant, c.store, &env).unwrap();
    let mut rewrapped = re.header.clone();
    rewrapped.extend_from_slice(&env[re.old_header_len..]);
    // Info block and every chunk are the same bytes; only the key block changed.
    assert_eq!(&rewrapped[..18], &env[..18]);
    assert_eq!(&rewrapped[re.header.len()..], &env[re.old_header_len..]);
    assert_ne!(&rewrapped[..re.header.len()], &env[..re.old_header_len]);
    let layout = Layout::parse(&rewrapped).unwrap();
    assert_eq!(layout.kek_id(), new_kek);

    ring.retire(&old_kek).unwrap();
    let opened = crypto::open(&ring, &c, &rewrapped).unwrap();
    assert_eq!(opened.data, pt);
    assert_eq!(opened.info.metadata, meta);
    // The original needs the retired KEK.
    assert!(matches!(
        crypto::open(&ring, &c, &env),
        Err(CryptoError::UnknownKek(_))
    ));
    // The primary cannot be retired, an unknown id is named.
    assert!(ring.retire(&new_kek).is_err());
    assert!(ring.retire("kek-nope").is_err());
}

#[test]
fn rewrap_refuses_version_1_tampering_and_another_tenant() {
    let ring = Keyring::generate(Algorithm::XChaCha20Poly1305);
    let c = ctx("k");
    let v1 = crypto::seal_v1_with_rng(
        &ring,
        &c,
        None,
        &BTreeMap::new(),
        b"old",
        &mut bitatlas::crypto::OsRandom,
    )
    .unwrap();
    assert!(matches!(
        crypto::rewrap(&ring, c.tenant, c.store, &v1),
        Err(CryptoError::Format(_))
    ));
    let env = crypto::seal(&ring, &c, None, &BTreeMap::new(), b"new").unwrap();
    assert!(crypto::rewrap(&ring, "other", c.store, &env).is_err());
    let mut bad = env.clone();
    let info_at = Layout::parse(&env).unwrap().header_len() as usize;
    bad[info_at + 3] ^= 1;
    assert!(matches!(
        crypto::rewrap(&ring, c.tenant, c.store, &bad),
        Err(CryptoError::Integrity)
    ));
}
