//! Checked-in test vectors (`tests/vectors/envelope-v1.json` and `envelope-v2.json`): known
//! KEK, DEK and nonce, plaintext -> exact envelope bytes. A change to the format breaks these
//! tests. Version 1 is no longer written by the server but must stay readable.
//!
//! The files are frozen. To write the vectors of a new format version (never to rewrite an
//! existing file), run
//! `BITATLAS_WRITE_VECTORS=N cargo test --test it envelope_vectors -- --ignored`.
//!
//! The second half of this file is an independent decoder written only from
//! `docs/envelope-format.md`, using the AEAD/HKDF crates directly. It reads every vector, which
//! checks that the spec is complete enough to implement.

use std::collections::BTreeMap;

use bitatlas::crypto::{self, Algorithm, Context, FixedRandom, Keyring};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const VERSIONS: [u8; 2] = [1, 2];

fn path(version: u8) -> String {
    format!(
        "{}/tests/vectors/envelope-v{version}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn seq(start: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| start.wrapping_add(i as u8)).collect()
}

/// The plaintext of the pattern vectors as `docs/envelope-format.md` defines it (byte `i` =
/// `i mod 251`); part of the frozen vectors, so not the shared envelope fixture.
fn spec_pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn keyring_doc(alg: Algorithm) -> Value {
    let (id, kek) = match alg {
        Algorithm::Aes256Gcm => ("kek-vector-aes", seq(0x00, 32)),
        Algorithm::XChaCha20Poly1305 => ("kek-vector-xchacha", seq(0x20, 32)),
    };
    json!({
        "format": "bitatlas-keyring/1",
        "naming_key": b64(&seq(0x40, 32)),
        "keys": [{
            "id": id,
            "algorithm": alg.as_str(),
            "created": "2026-01-01T00:00:00Z",
            "primary": true,
            "key": b64(&kek),
        }]
    })
}

struct Case {
    name: &'static str,
    alg: Algorithm,
    key: &'static str,
    content_type: Option<&'static str>,
    metadata: BTreeMap<String, String>,
    plaintext: Plain,
}

enum Plain {
    Hex(Vec<u8>),
    Pattern(usize),
}

impl Plain {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Plain::Hex(b) => b.clone(),
            Plain::Pattern(n) => spec_pattern(*n),
        }
    }
}

fn cases() -> Vec<Case> {
    let meta = BTreeMap::from([
        ("author".to_owned(), "ada".to_owned()),
        ("dept".to_owned(), "r&d".to_owned()),
    ]);
    let mut out = Vec::new();
    for alg in [Algorithm::Aes256Gcm, Algorithm::XChaCha20Poly1305] {
        out.push(Case {
            name: "empty",
            alg,
            key: "empty.bin",
            content_type: None,
            metadata: BTreeMap::new(),
            plaintext: Plain::Hex(Vec::new()),
        });
        out.push(Case {
            name: "short text with metadata",
            alg,
            key: "notes/hello.txt",
            content_type: Some("text/plain"),
            metadata: meta.clone(),
            plaintext: Plain::Hex(b"hello, world\n".to_vec()),
        });
        out.push(Case {
            name: "two chunks (65537 bytes, byte i = i mod 251)",
            alg,
            key: "data/big.bin",
            content_type: Some("application/octet-stream"),
            metadata: BTreeMap::new(),
            plaintext: Plain::Pattern(65537),
        });
    }
    out
}

const TENANT: &str = "acme";
const STORE: &str = "eu-par";

fn randomness(alg: Algorithm) -> (Vec<u8>, Vec<u8>) {
    (seq(0x80, 32), seq(0xa0, alg.nonce_len()))
}

fn seal_case(c: &Case, version: u8) -> Vec<u8> {
    let ring = Keyring::from_json(&keyring_doc(c.alg).to_string()).unwrap();
    let (dek, nonce) = randomness(c.alg);
    let mut rng = FixedRandom::new([dek, nonce].concat());
    let ctx = Context {
        tenant: TENANT,
        store: STORE,
        key: c.key,
    };
    let seal = if version == 1 {
        crypto::seal_v1_with_rng
    } else {
        crypto::seal_with_rng
    };
    seal(
        &ring,
        &ctx,
        c.content_type,
        &c.metadata,
        &c.plaintext.bytes(),
        &mut rng,
    )
    .unwrap()
}

#[test]
#[ignore = "writes tests/vectors/envelope-vN.json; only for a new format version"]
fn write_vectors() {
    let Some(version) = std::env::var("BITATLAS_WRITE_VECTORS")
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
    else {
        return;
    };
    let mut vectors = Vec::new();
    for c in cases() {
        let env = seal_case(&c, version);
        let (dek, nonce) = randomness(c.alg);
        let ring = Keyring::from_json(&keyring_doc(c.alg).to_string()).unwrap();
        let mut v = json!({
            "name": c.name,
            "algorithm": c.alg.as_str(),
            "keyring": keyring_doc(c.alg),
            "tenant": TENANT,
            "store": STORE,
            "key": c.key,
            "content_type": c.content_type,
            "metadata": c.metadata,
            "dek": hex::encode(&dek),
            "wrap_nonce": hex::encode(&nonce),
            "object_name": ring.object_name(TENANT, c.key),
            "envelope_len": env.len(),
            "envelope_sha256": hex::encode(Sha256::digest(&env)),
        });
        match &c.plaintext {
            Plain::Hex(b) => {
                v["plaintext_hex"] = hex::encode(b).into();
                v["envelope_hex"] = hex::encode(&env).into();
            }
            Plain::Pattern(n) => {
                v["plaintext_pattern_len"] = (*n).into();
                let prefix = crypto::Layout::parse(&env).unwrap().prefix_len() as usize;
                v["envelope_prefix_hex"] = hex::encode(&env[..prefix]).into();
                v["envelope_tail_hex"] = hex::encode(&env[env.len() - 64..]).into();
            }
        }
        vectors.push(v);
    }
    let doc = json!({
        "format": format!("BitAtlas envelope v{version} test vectors (see docs/envelope-format.md)"),
        "randomness": "the sealer draws the 32-byte DEK, then the wrap nonce",
        "vectors": vectors,
    });
    std::fs::write(
        path(version),
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
    .unwrap();
}

fn load(version: u8) -> Vec<Value> {
    let text = std::fs::read_to_string(path(version)).expect("the vectors file");
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

fn vector_plaintext(v: &Value) -> Vec<u8> {
    match v.get("plaintext_hex") {
        Some(h) => hex::decode(h.as_str().unwrap()).unwrap(),
        None => spec_pattern(v["plaintext_pattern_len"].as_u64().unwrap() as usize),
    }
}

fn check_envelope(v: &Value, env: &[u8]) {
    let name = v["name"].as_str().unwrap();
    assert_eq!(
        env.len() as u64,
        v["envelope_len"].as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        hex::encode(Sha256::digest(env)),
        v["envelope_sha256"].as_str().unwrap(),
        "{name}"
    );
    if let Some(h) = v.get("envelope_hex") {
        assert_eq!(hex::encode(env), h.as_str().unwrap(), "{name}");
    }
    if let Some(h) = v.get("envelope_prefix_hex") {
        assert!(hex::encode(env).starts_with(h.as_str().unwrap()), "{name}");
    }
}

#[test]
fn the_sealer_reproduces_every_vector_byte_for_byte() {
    for version in VERSIONS {
        sealer_reproduces(version);
    }
}

fn sealer_reproduces(version: u8) {
    let vectors = load(version);
    assert_eq!(vectors.len(), 6);
    let cs = cases();
    for (c, v) in cs.iter().zip(&vectors) {
        assert_eq!(c.name, v["name"].as_str().unwrap());
        assert_eq!(c.alg.as_str(), v["algorithm"].as_str().unwrap());
        assert_eq!(c.plaintext.bytes(), vector_plaintext(v));
        let env = seal_case(c, version);
        check_envelope(v, &env);
        if version != crypto::format::VERSION {
            continue;
        }
        // The streaming sealer writes the same bytes.
        let ring = Keyring::from_json(&keyring_doc(c.alg).to_string()).unwrap();
        let (dek, nonce) = randomness(c.alg);
        let mut rng = FixedRandom::new([dek, nonce].concat());
        let ctx = Context {
            tenant: TENANT,
            store: STORE,
            key: c.key,
        };
        let mut streamed = Vec::new();
        crypto::seal_stream_with_rng(
            &ring,
            &ctx,
            c.content_type,
            &c.metadata,
            &mut &c.plaintext.bytes()[..],
            &mut streamed,
            &mut rng,
        )
        .unwrap();
        assert_eq!(streamed, env, "{}", c.name);
    }
}

#[test]
fn the_opener_reads_every_vector_and_names_are_stable() {
    for (version, v) in VERSIONS
        .into_iter()
        .flat_map(|n| load(n).into_iter().map(move |v| (n, v)))
    {
        let ring = Keyring::from_json(&v["keyring"].to_string()).unwrap();
        let key = v["key"].as_str().unwrap();
        let ctx = Context {
            tenant: v["tenant"].as_str().unwrap(),
            store: v["store"].as_str().unwrap(),
            key,
        };
        // Rebuild the envelope from the vector (for pattern vectors, via the sealer, which
        // the previous test pins to the recorded hash).
        let env = match v.get("envelope_hex") {
            Some(h) => hex::decode(h.as_str().unwrap()).unwrap(),
            None => {
                let c = cases()
                    .into_iter()
                    .find(|c| c.name == v["name"] && c.alg.as_str() == v["algorithm"])
                    .unwrap();
                seal_case(&c, version)
            }
        };
        assert_eq!(env[8], version);
        let opened = crypto::open(&ring, &ctx, &env).unwrap();
        assert_eq!(opened.data, vector_plaintext(&v));
        assert_eq!(opened.info.key, key);
        assert_eq!(
            opened.info.content_type.as_deref(),
            v["content_type"].as_str()
        );
        assert_eq!(
            ring.object_name(ctx.tenant, key),
            v["object_name"].as_str().unwrap()
        );
        let indep = independent::decode(&v, &env);
        assert_eq!(indep.plaintext, vector_plaintext(&v));
        assert_eq!(indep.key, key);
        assert_eq!(indep.content_type.as_deref(), v["content_type"].as_str());
        let meta: BTreeMap<String, String> = serde_json::from_value(v["metadata"].clone()).unwrap();
        assert_eq!(indep.metadata, meta);
        assert_eq!(indep.object_name, v["object_name"].as_str().unwrap());
    }
}

/// A from-the-spec decoder. Deliberately shares no code with `bitatlas::crypto`.
mod independent {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    use serde_json::Value;
    use sha2::{Digest, Sha256};
    use std::collections::BTreeMap;

    pub struct Decoded {
        pub plaintext: Vec<u8>,
        pub key: String,
        pub content_type: Option<String>,
        pub metadata: BTreeMap<String, String>,
        pub object_name: String,
    }

    fn lp(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn aead_open(alg: u8, key: &[u8], nonce: &[u8], ad: &[u8], ct: &[u8]) -> Vec<u8> {
        let p = Payload { msg: ct, aad: ad };
        match alg {
            1 => aes_gcm::Aes256Gcm::new_from_slice(key)
                .unwrap()
                .decrypt(nonce.into(), p)
                .unwrap(),
            2 => chacha20poly1305::XChaCha20Poly1305::new_from_slice(key)
                .unwrap()
                .decrypt(nonce.into(), p)
                .unwrap(),
            _ => panic!("algorithm"),
        }
    }

    fn u16_at(b: &[u8], at: &mut usize) -> usize {
        let v = u16::from_be_bytes([b[*at], b[*at + 1]]) as usize;
        *at += 2;
        v
    }

    fn str_at(b: &[u8], at: &mut usize) -> String {
        let n = u16_at(b, at);
        let s = String::from_utf8(b[*at..*at + n].to_vec()).unwrap();
        *at += n;
        s
    }

    pub fn decode(v: &Value, env: &[u8]) -> Decoded {
        let b64 = base64::engine::general_purpose::STANDARD;
        let kr = &v["keyring"];
        let naming = b64.decode(kr["naming_key"].as_str().unwrap()).unwrap();
        let tenant = v["tenant"].as_str().unwrap();
        let store = v["store"].as_str().unwrap();
        let object_key = v["key"].as_str().unwrap();

        // Header. Version 2 binds the info block and payload to the first 18 bytes only and
        // drops the store from every binding.
        assert_eq!(&env[0..8], b"BITATLAS");
        let version = env[8];
        assert!(version == 1 || version == 2, "version {version}");
        let v = |one: &'static str, two: &'static str| if version == 1 { one } else { two };
        let alg = env[9];
        let nonce_len = if alg == 1 { 12 } else { 24 };
        let chunk = u32::from_be_bytes(env[10..14].try_into().unwrap()) as usize;
        assert_eq!(chunk, 65536);
        let info_len = u32::from_be_bytes(env[14..18].try_into().unwrap()) as usize;
        let id_len = env[18] as usize;
        let kek_id = std::str::from_utf8(&env[19..19 + id_len]).unwrap();
        let kek = kr["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == kek_id)
            .expect("the header names a KEK of the keyring");
        let kek = b64.decode(kek["key"].as_str().unwrap()).unwrap();
        let nonce_at = 19 + id_len;
        let wrapped_at = nonce_at + nonce_len;
        let header_len = wrapped_at + 48;
        let header = &env[..header_len];
        let bound = if version == 1 { header } else { &env[..18] };

        // DEK.
        let mut ad = v("bitatlas/v1/dek-wrap", "bitatlas/v2/dek-wrap")
            .as_bytes()
            .to_vec();
        ad.extend_from_slice(&env[..wrapped_at]);
        lp(&mut ad, tenant);
        if version == 1 {
            lp(&mut ad, store);
        }
        let dek = aead_open(
            alg,
            &kek,
            &env[nonce_at..wrapped_at],
            &ad,
            &env[wrapped_at..header_len],
        );

        // Subkeys.
        let salt = Sha256::digest(bound);
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&salt), &dek);
        let mut info_key = [0u8; 32];
        hk.expand(
            v("bitatlas/v1/info-key", "bitatlas/v2/info-key").as_bytes(),
            &mut info_key,
        )
        .unwrap();
        let mut payload_info = v("bitatlas/v1/payload-key", "bitatlas/v2/payload-key")
            .as_bytes()
            .to_vec();
        lp(&mut payload_info, tenant);
        if version == 1 {
            lp(&mut payload_info, store);
        }
        lp(&mut payload_info, object_key);
        let mut payload_key = [0u8; 32];
        hk.expand(&payload_info, &mut payload_key).unwrap();

        // Info block.
        let mut info_ad = bound.to_vec();
        lp(&mut info_ad, tenant);
        if version == 1 {
            lp(&mut info_ad, store);
        }
        let zero = vec![0u8; nonce_len];
        let info = aead_open(
            alg,
            &info_key,
            &zero,
            &info_ad,
            &env[header_len..header_len + info_len],
        );
        assert_eq!(info.len() % 256, 0);
        assert_eq!(info[0], 1);
        let mut at = 1;
        let key = str_at(&info, &mut at);
        let content_type = match info[at] {
            0 => {
                at += 1;
                None
            }
            _ => {
                at += 1;
                Some(str_at(&info, &mut at))
            }
        };
        let count = u16_at(&info, &mut at);
        let mut metadata = BTreeMap::new();
        for _ in 0..count {
            let k = str_at(&info, &mut at);
            let val = str_at(&info, &mut at);
            metadata.insert(k, val);
        }
        assert!(info[at..].iter().all(|&b| b == 0));

        // Payload.
        let payload = &env[header_len + info_len..];
        let stride = chunk + 16;
        let n = payload.len().div_ceil(stride).max(1);
        let mut plaintext = Vec::new();
        for (i, c) in payload.chunks(stride).enumerate() {
            let mut nonce = vec![0u8; nonce_len];
            nonce[nonce_len - 9..nonce_len - 1].copy_from_slice(&(i as u64).to_be_bytes());
            nonce[nonce_len - 1] = u8::from(i + 1 == n);
            plaintext.extend(aead_open(alg, &payload_key, &nonce, &[], c));
        }
        if payload.is_empty() {
            panic!("an envelope has at least one chunk");
        }

        // Storage name.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&naming).unwrap();
        let mut msg = Vec::new();
        lp(&mut msg, tenant);
        lp(&mut msg, object_key);
        mac.update(&msg);
        let object_name = hex::encode(mac.finalize().into_bytes());

        Decoded {
            plaintext,
            key,
            content_type,
            metadata,
            object_name,
        }
    }
}

/// A v2 vector rewrapped under a second KEK: the independent decoder opens it with that KEK,
/// and everything after the key block is the vector's own bytes.
#[test]
fn a_rewrapped_v2_vector_decodes_independently() {
    let v = load(2)
        .into_iter()
        .find(|v| v.get("envelope_hex").is_some() && v["content_type"].is_string())
        .unwrap();
    let env = hex::decode(v["envelope_hex"].as_str().unwrap()).unwrap();
    let mut doc = v["keyring"].clone();
    doc["keys"][0]["primary"] = false.into();
    let second = json!({
        "id": "kek-vector-second",
        "algorithm": v["algorithm"],
        "created": "2026-06-01T00:00:00Z",
        "primary": true,
        "key": b64(&seq(0x60, 32)),
    });
    doc["keys"].as_array_mut().unwrap().push(second);
    let ring = Keyring::from_json(&doc.to_string()).unwrap();
    let alg = if v["algorithm"] == "aes-256-gcm" {
        Algorithm::Aes256Gcm
    } else {
        Algorithm::XChaCha20Poly1305
    };
    let mut rng = FixedRandom::new(seq(0xc0, alg.nonce_len()));
    let tenant = v["tenant"].as_str().unwrap();
    let store = v["store"].as_str().unwrap();
    let re = crypto::rewrap_with_rng(&ring, tenant, store, &env, &mut rng).unwrap();
    let mut out = re.header.clone();
    out.extend_from_slice(&env[re.old_header_len..]);
    assert_eq!(&out[re.header.len()..], &env[re.old_header_len..]);
    assert_eq!(&out[19..19 + 17], b"kek-vector-second");

    // Only the second KEK in the keyring the decoder sees.
    let mut only_second = v.clone();
    let mut doc2 = doc.clone();
    doc2["keys"].as_array_mut().unwrap().remove(0);
    only_second["keyring"] = doc2;
    let indep = independent::decode(&only_second, &out);
    assert_eq!(indep.plaintext, vector_plaintext(&v));
    assert_eq!(indep.key, v["key"].as_str().unwrap());
}
