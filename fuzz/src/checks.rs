//! The per-target fuzz checks, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`,
//! where this file is the `bitatlas_fuzz` library) and by the stable replay test
//! (`tests/it/fuzz_replay.rs`, which includes this file as a module), so that a corpus file
//! exercises exactly the same code in both.
//!
//! Each check takes the raw input bytes, feeds them to one parser of outside data through its
//! public entry point, and asserts properties that must hold for every input (round trips,
//! agreement between two paths to the same answer, the guarantees the parser exists for). A
//! panic is a finding. Each returns whether the input was *accepted* (parsed, opened, decoded),
//! which the replay test uses to check that the corpora still hold valid inputs.
//!
//! [`seeds`] builds the valid seed inputs of every target deterministically (fixed keys, fixed
//! randomness); `fuzz/README.md` says how they are written to `fuzz/corpus/`.
//!
//! The keys used here are fuzzing fixtures, made of repeated bytes on purpose: they protect
//! nothing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use bitatlas::audit::{AuditKeys, AuditLog, AuditSink, verify};
use bitatlas::config::ConfigFile;
use bitatlas::crypto::{
    Context, CryptoError, FixedRandom, Keyring, Layout, open, open_info, open_owned, open_stream,
    open_token, seal_with_rng,
};
use bitatlas::mcp::{BitAtlasMcp, Identity};
use bitatlas::residency::endpoint::{Endpoint, check_presigned, parse_endpoint};
use bitatlas::residency::{
    self, Catalog, DataClass, EEA_POLICY, Guard, LocationEvidence, Policies, Policy, StoreSpec,
};
use bitatlas::runtime;
use bitatlas::service::{
    Caller, Limits, ListRequest, ObjectKey, PutRequest, SearchRequest, Service, Tenant,
};
use bitatlas_adapters::{Adapter, is_location_value, parse_location};

/// One input's check: `true` when the input was accepted (it parsed, opened or ran), `false`
/// when it was refused with a typed error; a panic is the bug a fuzzer looks for.
pub type Check = fn(&[u8]) -> bool;

/// The fuzz targets, each with its check: the replay test walks `fuzz/corpus/<name>/` and
/// `fuzz/regressions/<name>/` for every entry.
pub const TARGETS: &[(&str, Check)] = &[
    ("envelope", envelope),
    ("keyring", keyring),
    ("endpoint", endpoint),
    ("location", location),
    ("cursor", cursor),
    ("config", config),
    ("tool_args", tool_args),
    ("audit_line", audit_line),
];

// ----- fixtures ------------------------------------------------------------------------------

/// KEK ids of the fixed keyring: one per algorithm.
const AES_KEK: &str = "kek-fuzz-aes";
const XCHACHA_KEK: &str = "kek-fuzz-xchacha";

/// The fixed keyring document, with `primary` as its primary KEK.
fn keyring_json(primary: &str) -> String {
    let key = |byte: u8| B64.encode([byte; 32]);
    let entry = |id: &str, algorithm: &str, byte: u8| {
        json!({
            "id": id,
            "algorithm": algorithm,
            "created": "2026-01-01T00:00:00Z",
            "primary": id == primary,
            "key": key(byte),
        })
    };
    let doc = json!({
        "format": "bitatlas-keyring/1",
        "naming_key": key(0x11),
        "keys": [entry(AES_KEK, "aes-256-gcm", 0x22), entry(XCHACHA_KEK, "xchacha20-poly1305", 0x33)],
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

/// The keyring every target opens with (primary: the AES-256-GCM KEK). Both KEKs open.
fn fixed_keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| Keyring::from_json(&keyring_json(AES_KEK)).expect("fixture keyring"))
}

/// A copy of the keyring the envelope seeds open with (for the replay test).
pub fn seed_keyring() -> Keyring {
    fixed_keyring().clone()
}

/// Where the envelope seeds were sealed, and where the check opens them.
pub const ENVELOPE_CTX: Context<'static> = Context {
    tenant: "acme",
    store: "eu",
    key: "docs/report.txt",
};

/// The plaintexts of the envelope seeds. No other envelope can open under the fixed keyring
/// (nobody else holds its keys), so the envelope check asserts every opened plaintext is one
/// of these.
pub const ENVELOPE_PLAINTEXTS: [&[u8]; 3] = [
    b"",
    b"hello, fuzzer\n",
    b"The quick brown fox jumps over the lazy dog. 0123456789 ~!@#$%^&*() \
      The quick brown fox jumps over the lazy dog. 0123456789 ~!@#$%^&*()\n",
];

/// Tenant of the MCP and cursor checks.
const TENANT: &str = "acme";

/// The audit secret of the fixtures.
const AUDIT_SECRET: [u8; 32] = [0x44; 32];

fn audit_keys() -> &'static AuditKeys {
    static KEYS: OnceLock<AuditKeys> = OnceLock::new();
    KEYS.get_or_init(|| AuditKeys::derive(&AUDIT_SECRET))
}

/// An audit sink that keeps nothing (the fuzzers run millions of calls).
struct NullSink;

impl AuditSink for NullSink {
    fn append(&self, _line: &str, _durable: bool) -> std::io::Result<()> {
        Ok(())
    }
    fn describe(&self) -> String {
        "null".into()
    }
}

/// An audit sink that keeps the trail and its checkpoint side file (for the audit seeds).
#[derive(Clone, Default)]
struct KeepSink {
    trail: Arc<std::sync::Mutex<Vec<String>>>,
    side: Arc<std::sync::Mutex<Vec<String>>>,
}

impl AuditSink for KeepSink {
    fn append(&self, line: &str, _durable: bool) -> std::io::Result<()> {
        self.trail
            .lock()
            .expect("not poisoned")
            .push(line.to_owned());
        Ok(())
    }
    fn append_checkpoint(&self, line: &str) -> std::io::Result<()> {
        self.side
            .lock()
            .expect("not poisoned")
            .push(line.to_owned());
        Ok(())
    }
    fn describe(&self) -> String {
        "kept".into()
    }
}

/// A service with one tenant, [`TENANT`], on a fresh in-memory store admitted by the
/// residency guard like any other, sealing with the fixed keyring.
fn memory_service(sink: Box<dyn AuditSink>) -> Service {
    let spec = StoreSpec {
        name: "mem".into(),
        provider: "memory".into(),
        attested_country: Some("DE".into()),
        ..Default::default()
    };
    let decision = residency::check(Catalog::builtin(), &Policy::eea_default(), &spec);
    let adapter: Arc<dyn Adapter> = Arc::new(bitatlas_adapters::memory());
    let store = Guard::admit(
        decision,
        adapter,
        LocationEvidence::Attested {
            country: "DE".into(),
        },
    )
    .expect("the memory store is admitted");
    let tenant = Tenant::new(
        TENANT,
        Arc::new(fixed_keyring().clone()),
        Arc::new(store),
        false,
    )
    .expect("tenant");
    let audit =
        AuditLog::open(sink, "fuzz".into(), AuditKeys::derive(&AUDIT_SECRET)).expect("audit log");
    let service = Service::new(vec![tenant], audit, Limits::default());
    service.set_link_base("http://127.0.0.1:9/".into());
    service
}

fn caller() -> Caller {
    Caller::new(TENANT.into())
}

thread_local! {
    /// One runtime per thread, built once (a fuzz target runs millions of inputs).
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}

/// Eight bytes of `data` counted from its end, skipping `skip`, as a number (0 if too short).
fn tail_u64(data: &[u8], skip: usize) -> u64 {
    let Some(end) = data.len().checked_sub(skip) else {
        return 0;
    };
    let start = end.saturating_sub(8);
    data[start..end]
        .iter()
        .fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

// ----- envelope ----------------------------------------------------------------------------

/// Envelope bytes from a store: the header parser and layout arithmetic (also over sizes and
/// ranges taken from the input's last bytes), `open_info`, and the three ways to open a whole
/// envelope (`open`, `open_owned`, `open_stream`), which must agree; an envelope that opens
/// must be a seed (nothing else is sealed under the fixture keys), must not open for another
/// key, and must open by ranges to the same bytes.
pub fn envelope(data: &[u8]) -> bool {
    let ring = fixed_keyring();
    let ctx = ENVELOPE_CTX;
    match Layout::parse(data) {
        Ok(layout) => check_layout(&layout, data),
        Err(CryptoError::TooShort { needed }) => {
            assert!(needed > data.len(), "TooShort asks for no more bytes")
        }
        Err(_) => {}
    }
    let prefix = &data[..data.len().min(Layout::PREFIX_MAX)];
    let _ = open_info(ring, ctx.tenant, ctx.store, prefix);

    let whole = open(ring, &ctx, data);
    let owned = open_owned(ring, &ctx, data.to_vec());
    let mut streamed = Vec::new();
    let stream = open_stream(ring, &ctx, &mut &data[..], &mut streamed);
    assert_eq!(
        whole.is_ok(),
        owned.is_ok(),
        "open and open_owned disagree: {:?} / {:?}",
        whole.as_ref().err(),
        owned.as_ref().err()
    );
    assert_eq!(
        whole.is_ok(),
        stream.is_ok(),
        "open and open_stream disagree: {:?} / {:?}",
        whole.as_ref().err(),
        stream.as_ref().err()
    );
    let (Ok(opened), Ok(owned), Ok((info, n))) = (whole, owned, stream) else {
        return false;
    };
    assert!(
        ENVELOPE_PLAINTEXTS.contains(&opened.data.as_slice()),
        "an envelope that is not a seed opened"
    );
    assert_eq!(opened.info.key, ctx.key);
    assert_eq!(owned.data, opened.data);
    assert_eq!(owned.info, opened.info);
    assert_eq!(streamed, opened.data);
    assert_eq!(info, opened.info);
    assert_eq!(n, opened.data.len() as u64);
    let other = Context {
        key: "docs/other.txt",
        ..ctx
    };
    assert!(open(ring, &other, data).is_err(), "opened for another key");

    // Ranged access: any range of the plaintext, through only the chunks it touches.
    let (_, opener) = open_info(ring, ctx.tenant, ctx.store, prefix).expect("info opens");
    let total = data.len() as u64;
    let len = opened.data.len() as u64;
    let a = tail_u64(data, 0) % (len + 1);
    let b = tail_u64(data, 8) % (len + 1);
    let (start, end) = (a.min(b), a.max(b));
    let span = opener
        .layout()
        .chunk_span(total, start..end)
        .expect("a range inside the plaintext has a span");
    let bytes = &data[span.ciphertext.start as usize..span.ciphertext.end as usize];
    let part = opener
        .open_span(&ctx, &span, bytes, start..end)
        .expect("the span of an envelope that opened opens");
    assert_eq!(part, &opened.data[start as usize..end as usize]);
    true
}

/// Layout arithmetic over the real size and sizes and ranges an attacker picks: no panic (no
/// overflow), and spans that stay inside the envelope.
fn check_layout(layout: &Layout, data: &[u8]) {
    assert!(layout.prefix_len() > layout.header_len());
    assert!(layout.chunk_size().is_power_of_two());
    let totals = [
        data.len() as u64,
        tail_u64(data, 0),
        tail_u64(data, 8),
        layout.prefix_len(),
        u64::MAX,
    ];
    for total in totals {
        let Ok(n) = layout.chunk_count(total) else {
            continue;
        };
        assert!(n >= 1);
        let len = layout
            .plaintext_len(total)
            .expect("chunk_count succeeded, so plaintext_len does");
        assert!(len < total);
        let (x, y) = (tail_u64(data, 16), tail_u64(data, 24));
        for range in [0..len, (x % (len + 1))..len, x..y, 0..u64::MAX, len..len] {
            let Ok(span) = layout.chunk_span(total, range.clone()) else {
                continue;
            };
            assert!(range.start <= range.end && range.end <= len);
            assert!(span.ciphertext.start <= span.ciphertext.end);
            assert!(span.ciphertext.end <= total);
            assert!(span.ciphertext.start >= layout.prefix_len());
            assert_eq!(span.total_chunks, n);
            assert_eq!(span.plaintext_len, len);
            assert!(span.first_chunk + span.chunk_count <= n);
        }
    }
}

// ----- keyring -----------------------------------------------------------------------------

/// A keyring document (file or environment variable): a keyring that loads must write a
/// document that loads back to the same keys, with exactly one primary KEK.
pub fn keyring(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(ring) = Keyring::from_json(text) else {
        return false;
    };
    let entries = ring.entries();
    assert_eq!(entries.iter().filter(|e| e.primary).count(), 1);
    assert!(
        entries
            .iter()
            .any(|e| e.primary && e.id == ring.primary_id())
    );
    let doc = ring.to_json();
    let again = Keyring::from_json(&doc)
        .unwrap_or_else(|e| panic!("a loaded keyring writes a document that does not load: {e}"));
    assert!(
        again.same_keys(&ring),
        "the keyring changed in a round trip"
    );
    let name = ring.object_name("t", "k");
    assert!(name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()));
    true
}

// ----- endpoint ----------------------------------------------------------------------------

/// Endpoints from the configuration, then presigned URLs checked against them. Input: the
/// endpoint, and optionally `\n` presigned URL `\n` bucket. An accepted endpoint must round
/// trip through [`Endpoint::url`], be accepted for a self-hosted store when accepted for a
/// public provider, and accept a presigned URL on itself.
pub fn endpoint(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut parts = text.splitn(3, '\n');
    let raw = parts.next().unwrap_or_default();
    let presigned = parts.next();
    let bucket = parts.next();
    let mut accepted = false;
    for self_hosted in [false, true] {
        let parsed = parse_endpoint(raw, self_hosted);
        if let Ok(ep) = &parsed {
            accepted = true;
            assert_eq!(
                parse_endpoint(&ep.url(), self_hosted).as_ref(),
                Ok(ep),
                "an accepted endpoint does not round trip"
            );
            if !self_hosted {
                assert_eq!(
                    parse_endpoint(raw, true).as_ref(),
                    Ok(ep),
                    "accepted for a public provider, refused for a self-hosted store"
                );
            }
            let own = format!("{}/bucket/key?X-Amz-Signature=00", ep.url());
            assert_eq!(
                check_presigned(&own, ep, None, self_hosted),
                Ok(()),
                "a presigned URL on the endpoint itself is refused"
            );
        }
        if let Some(url) = presigned {
            let fallback = Endpoint {
                scheme: "https".into(),
                host: "s3.fr-par.scw.cloud".into(),
                port: None,
                is_ip: false,
                loopback: false,
            };
            let expected = parsed.unwrap_or(fallback);
            let _ = check_presigned(url, &expected, bucket, self_hosted);
            let _ = check_presigned(url, &expected, None, self_hosted);
        }
    }
    accepted
}

// ----- location ----------------------------------------------------------------------------

/// A `GetBucketLocation` answer body, through the adapter's parser and the guard's reading of
/// it. An accepted value must be a plain location value and parse again from its canonical
/// document; the guard must admit a store only on an answer naming its own region.
pub fn location(data: &[u8]) -> bool {
    let parsed = parse_location(data);
    if let Ok(v) = &parsed {
        assert!(is_location_value(v), "accepted a value that is not plain");
        let canonical = if v.is_empty() {
            "<LocationConstraint/>".to_owned()
        } else {
            format!("<LocationConstraint>{v}</LocationConstraint>")
        };
        assert_eq!(parse_location(canonical.as_bytes()).as_ref(), Ok(v));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let answer = residency::parse_location_answer(text);
        if text.starts_with('<') {
            assert_eq!(
                answer,
                parsed.clone().ok(),
                "guard and adapter read it differently"
            );
        }
        let decision = scaleway_fr_par();
        if residency::check_location_answer(decision, text).is_ok() {
            let value = answer.expect("an admitted answer parses");
            assert_eq!(value, "fr-par", "admitted an answer naming another region");
        }
    }
    parsed.is_ok()
}

/// The guard's decision for a public S3 store in Scaleway fr-par.
fn scaleway_fr_par() -> &'static residency::Decision {
    static DECISION: OnceLock<residency::Decision> = OnceLock::new();
    DECISION.get_or_init(|| {
        let spec = StoreSpec {
            name: "par".into(),
            provider: "scaleway".into(),
            region: Some("fr-par".into()),
            endpoint: Some("https://s3.fr-par.scw.cloud".into()),
            bucket: Some("acme".into()),
            attested_country: None,
        };
        let d = residency::check(Catalog::builtin(), &Policy::eea_default(), &spec);
        assert!(d.allowed, "fixture store refused: {}", d.message);
        d
    })
}

// ----- cursor ------------------------------------------------------------------------------

/// The service the cursor check lists: three objects under `docs/`, listed one per page.
fn cursor_service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let service = memory_service(Box::new(NullSink));
        block_on(async {
            for name in ["a", "b", "c"] {
                let mut metadata = BTreeMap::new();
                metadata.insert("team".to_owned(), "fuzz".to_owned());
                service
                    .put(
                        &caller(),
                        PutRequest {
                            key: format!("docs/{name}.txt"),
                            data: bytes::Bytes::from_static(b"cursor"),
                            metadata,
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("put");
            }
        });
        service
    })
}

fn cursor_list(cursor: Option<String>) -> ListRequest {
    ListRequest {
        prefix: Some("docs".into()),
        delimiter: false,
        limit: Some(1),
        cursor,
    }
}

fn cursor_search(cursor: Option<String>) -> SearchRequest {
    let mut metadata = BTreeMap::new();
    metadata.insert("team".to_owned(), "fuzz".to_owned());
    SearchRequest {
        prefix: Some("docs".into()),
        metadata,
        limit: Some(1),
        cursor,
        ..Default::default()
    }
}

/// A pagination cursor as a caller sends it back, through `list` and `search` (which decode
/// it against their own query) and through the token opener directly. A cursor is bound to
/// its query, so no cursor is accepted by both; an accepted one resumes inside the folder.
pub fn cursor(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let service = cursor_service();
    let (list, search) = block_on(async {
        let list = service
            .list(&caller(), cursor_list(Some(text.to_owned())))
            .await;
        let search = service
            .search(&caller(), cursor_search(Some(text.to_owned())))
            .await;
        (list, search)
    });
    if let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text) {
        let _ = open_token(fixed_keyring(), TENANT, "cursor", b"", &raw);
    }
    assert!(
        !(list.is_ok() && search.is_ok()),
        "one cursor accepted by two queries"
    );
    for page in [&list, &search].into_iter().flatten() {
        assert!(page.objects.len() <= 1);
        assert!(page.objects.iter().all(|o| o.key.starts_with("docs/")));
    }
    list.is_ok() || search.is_ok()
}

// ----- config ------------------------------------------------------------------------------

/// A `bitatlas.toml`, read as `bitatlas serve` reads it: parsed, completed with the defaults,
/// its policies built and every store and tenant judged by the residency guard. Whatever the
/// file says, an admitted store is in a country its policy allows.
pub fn config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(parsed) = toml::from_str::<ConfigFile>(text) else {
        return false;
    };
    let cfg = runtime::with_defaults(parsed, Path::new("/nonexistent/bitatlas-fuzz"));
    let _ = runtime::check_stdio_inline_limit(&cfg);
    for id in cfg.tenants.keys() {
        let _ = runtime::tenant_name_problem(id);
    }
    let Ok(policies) = Policies::from_config(&cfg) else {
        return true;
    };
    let judge = |name: &str, policy_name: Option<&str>| {
        let Some(sc) = cfg.stores.get(name) else {
            return;
        };
        let Some(policy) = policies.get(policy_name.or(sc.policy.as_deref()).unwrap_or(EEA_POLICY))
        else {
            return;
        };
        let d = residency::check(Catalog::builtin(), policy, &StoreSpec::from((name, sc)));
        if d.allowed {
            let country = d
                .country
                .as_deref()
                .expect("an admitted store has a country");
            assert!(
                policy.allows_class(DataClass::P0, country),
                "store {name} admitted in {country}, which policy {} refuses",
                policy.name()
            );
            assert!(policy.allows_owner(d.owner_jurisdiction.as_deref()));
        }
    };
    for name in cfg.stores.keys() {
        judge(name, None);
    }
    for t in cfg.tenants.values() {
        judge(&t.store, t.policy.as_deref());
    }
    true
}

// ----- tool_args ---------------------------------------------------------------------------

/// The tools called with the fuzzed arguments, in this order.
const TOOLS: [&str; 7] = [
    "put", "get", "list", "search", "presign", "transfer", "delete",
];
/// The tools whose `key` argument is an object key.
const KEYED: [&str; 5] = ["put", "get", "presign", "transfer", "delete"];

/// The arguments of an MCP `tools/call` (any JSON object), given to every tool of a fresh
/// server over an in-memory store through rmcp, as a client would: deserialized, converted to
/// the service request, run. Every call must get a tool result (never a protocol error, never
/// `INTERNAL`); no call with an invalid key may succeed; what a `put` stored, a `get` must
/// return unchanged.
pub fn tool_args(data: &[u8]) -> bool {
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(data) else {
        return false;
    };
    let args = Value::Object(args);
    let invalid_key = args
        .get("key")
        .and_then(Value::as_str)
        .is_some_and(|k| ObjectKey::parse(k).is_err());
    let mut succeeded = 0;
    block_on(async {
        let service = memory_service(Box::new(NullSink));
        // An object at the key already, so that reads, ranges and links find one.
        if let Some(key) = args.get("key").and_then(Value::as_str) {
            let _ = service
                .put(
                    &caller(),
                    PutRequest {
                        key: key.to_owned(),
                        data: bytes::Bytes::from_static(b"0123456789"),
                        ..Default::default()
                    },
                )
                .await;
        }
        let mut session = McpSession::start(service).await;
        for tool in TOOLS {
            let result = session.call(tool, &args).await;
            let failed = is_error(&result);
            if !failed {
                succeeded += 1;
            }
            if failed {
                let code = result["structuredContent"]["code"].as_str().unwrap_or("");
                assert!(
                    !code.is_empty() && code != "INTERNAL",
                    "{tool}: error without a code, or INTERNAL: {result}"
                );
            }
            if invalid_key && KEYED.contains(&tool) {
                assert!(failed, "{tool} succeeded with an invalid key: {result}");
            }
            if tool == "put" && !failed {
                check_put_reads_back(&mut session, &args).await;
            }
        }
        session.close().await;
    });
    succeeded > 0
}

/// After a successful `put` with `args`: `get` returns the bytes and metadata put.
async fn check_put_reads_back(session: &mut McpSession, args: &Value) {
    let key = args["key"].as_str().expect("put needs a key");
    let sent = match (args.get("text"), args.get("base64")) {
        (Some(Value::String(t)), _) => t.as_bytes().to_vec(),
        (_, Some(Value::String(b))) => B64.decode(b).expect("put accepted the base64"),
        _ => return,
    };
    let got = session.call("get", &json!({ "key": key })).await;
    assert!(!is_error(&got), "get after put failed: {got}");
    let s = &got["structuredContent"];
    let data = match s["data"].as_str() {
        Some(d) => d.to_owned(),
        // An image travels as the image content block.
        None => got["content"][0]["data"]
            .as_str()
            .expect("image block")
            .to_owned(),
    };
    let read = match s["encoding"].as_str() {
        Some("utf8") => data.into_bytes(),
        Some("base64") => B64.decode(&data).expect("get answers valid base64"),
        other => panic!("unknown encoding {other:?}"),
    };
    assert_eq!(read, sent, "get returned other bytes than put stored");
    let metadata = args.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if !metadata.is_null() {
        assert_eq!(s["metadata"], metadata, "metadata changed");
    }
}

fn is_error(result: &Value) -> bool {
    result["isError"].as_bool().unwrap_or(false)
}

/// Longest wait for the server's answer to one request.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A client talking JSON-RPC lines to a [`BitAtlasMcp`] over an in-memory pipe.
struct McpSession {
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    read: BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    server: tokio::task::JoinHandle<()>,
    next_id: u64,
}

impl McpSession {
    async fn start(service: Service) -> McpSession {
        use rmcp::ServiceExt as _;
        let (client, server) = tokio::io::duplex(1 << 20);
        let mcp = BitAtlasMcp::new(service, Identity::Fixed(TENANT.into()));
        let server = tokio::spawn(async move {
            if let Ok(running) = mcp.serve(tokio::io::split(server)).await {
                let _ = running.waiting().await;
            }
        });
        let (read, write) = tokio::io::split(client);
        let mut session = McpSession {
            write,
            read: BufReader::new(read),
            server,
            next_id: 1,
        };
        let init = session
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": { "name": "bitatlas-fuzz", "version": "0" },
                }),
            )
            .await;
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        session
            .send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        session
    }

    async fn send(&mut self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.write
            .write_all(line.as_bytes())
            .await
            .expect("the server reads");
    }

    /// Sends a request; returns its response (notifications in between are skipped).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        let mut line = String::new();
        loop {
            line.clear();
            // A handler that panics inside its task never answers: fail instead of hanging.
            let n = tokio::time::timeout(ANSWER_WITHIN, self.read.read_line(&mut line))
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within {ANSWER_WITHIN:?}"))
                .expect("the server writes");
            assert!(n > 0, "the server closed the session during {method}");
            let message: Value = serde_json::from_str(&line).expect("the server writes JSON");
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    }

    /// Calls `tool` with `args`; returns the tool result.
    async fn call(&mut self, tool: &str, args: &Value) -> Value {
        let response = self
            .request("tools/call", json!({ "name": tool, "arguments": args }))
            .await;
        match response.get("result") {
            Some(result) => result.clone(),
            None => panic!("{tool}: a protocol error instead of a tool result: {response}"),
        }
    }

    async fn close(self) {
        drop(self.write);
        drop(self.read);
        let _ = self.server.await;
    }
}

// ----- audit_line --------------------------------------------------------------------------

/// An audit trail as `bitatlas audit verify` reads it: the trail, optionally followed by a
/// NUL and the checkpoint side file. Verified with and without the audit keys: the keys only
/// add checks, and an intact trail counts every line as a record.
pub fn audit_line(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let (trail, side) = match text.split_once('\0') {
        Some((t, s)) => (t, Some(s)),
        None => (text, None),
    };
    let lines = trail.split_terminator('\n').count();
    let keyed = verify(trail, side, Some(audit_keys()));
    let unkeyed = verify(trail, side, None);
    for failure in [&keyed, &unkeyed]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
    {
        if let Some(line) = failure.line {
            assert!(
                (1..=lines + 1).contains(&line),
                "failure at line {line} of {lines}"
            );
        }
        let _ = failure.to_string();
    }
    match keyed {
        Ok(report) => {
            assert!(report.macs_verified);
            assert_eq!(report.records as usize, lines);
            let unkeyed = unkeyed.expect("valid with the keys, so valid without them");
            assert_eq!(unkeyed.records, report.records);
            true
        }
        Err(_) => false,
    }
}

// ----- seeds -------------------------------------------------------------------------------

/// The valid seed inputs of `target`, built deterministically where the format allows (the
/// cursor seeds carry random nonces). Each must be accepted by the target's check.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "envelope" => envelope_seeds(),
        "keyring" => vec![
            keyring_json(AES_KEK).into_bytes(),
            keyring_json(XCHACHA_KEK).into_bytes(),
        ],
        "endpoint" => [
            "https://s3.fr-par.scw.cloud",
            "https://s3.eu-central-1.amazonaws.com/\nhttps://acme.s3.eu-central-1.amazonaws.com/k?X-Amz-Expires=900\nacme",
            "http://127.0.0.1:3900\nhttp://127.0.0.1:3900/bitatlas/k?X-Amz-Signature=1",
            "https://[2001:db8::1]:9000/",
            "https://minio.example.internal:9000\nhttps://minio.example.internal:09000/b/k",
        ]
        .map(|s| s.as_bytes().to_vec())
        .to_vec(),
        "location" => [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">fr-par</LocationConstraint>",
            "<LocationConstraint>EU</LocationConstraint>",
            "<?xml version='1.0'?><LocationConstraint/>",
            "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>\n",
        ]
        .map(|s| s.as_bytes().to_vec())
        .to_vec(),
        "cursor" => cursor_seeds(),
        "config" => config_seeds(),
        "tool_args" => [
            r#"{"key":"notes/a.txt","text":"hello","metadata":{"team":"fuzz"}}"#,
            r#"{"key":"img/dot.png","base64":"iVBORw0KGgo=","content_type":"image/png"}"#,
            r#"{"key":"notes/a.txt","range":{"start":1,"end":3}}"#,
            r#"{"key":"notes/a.txt","method":"PUT","expires_in":60,"max_bytes":1024}"#,
            r#"{"prefix":"notes/","delimiter":true,"limit":5}"#,
            r#"{"pattern":"**/*.txt","metadata":{"team":"fuzz"},"modified_after":"2020-01-01","limit":10}"#,
        ]
        .map(|s| s.as_bytes().to_vec())
        .to_vec(),
        "audit_line" => audit_seeds(),
        other => panic!("no fuzz target {other}"),
    }
}

fn envelope_seeds() -> Vec<Vec<u8>> {
    let xchacha = Keyring::from_json(&keyring_json(XCHACHA_KEK)).expect("fixture keyring");
    let mut metadata = BTreeMap::new();
    metadata.insert("team".to_owned(), "fuzz".to_owned());
    let empty = BTreeMap::new();
    type Case<'a> = (
        &'a Keyring,
        Option<&'a str>,
        &'a BTreeMap<String, String>,
        &'a [u8],
    );
    let cases: [Case; 4] = [
        (fixed_keyring(), None, &empty, ENVELOPE_PLAINTEXTS[0]),
        (
            fixed_keyring(),
            Some("text/plain"),
            &metadata,
            ENVELOPE_PLAINTEXTS[1],
        ),
        (&xchacha, None, &empty, ENVELOPE_PLAINTEXTS[1]),
        (
            &xchacha,
            Some("text/plain"),
            &metadata,
            ENVELOPE_PLAINTEXTS[2],
        ),
    ];
    cases
        .iter()
        .enumerate()
        .map(|(i, (ring, content_type, metadata, plain))| {
            let mut rng = FixedRandom::new((0..128u8).map(|b| b.wrapping_add(i as u8)).collect());
            seal_with_rng(
                ring,
                &ENVELOPE_CTX,
                *content_type,
                metadata,
                plain,
                &mut rng,
            )
            .expect("seal")
        })
        .collect()
}

fn cursor_seeds() -> Vec<Vec<u8>> {
    let service = cursor_service();
    block_on(async {
        let list = service
            .list(&caller(), cursor_list(None))
            .await
            .expect("list");
        let search = service
            .search(&caller(), cursor_search(None))
            .await
            .expect("search");
        [list.next_cursor, search.next_cursor]
            .into_iter()
            .map(|c| c.expect("a next page").into_bytes())
            .collect()
    })
}

fn config_seeds() -> Vec<Vec<u8>> {
    [
        // The zero-config setup, spelled out.
        "[server]\nlocal_country = \"DE\"\n",
        "[stores.main]\nprovider = \"scaleway\"\nregion = \"fr-par\"\n\
         endpoint = \"https://s3.fr-par.scw.cloud\"\nbucket = \"acme\"\n\
         credentials = { access_key_id_env = \"K\", secret_access_key_env = \"S\" }\n\
         policy = \"france\"\n\n[policies.france]\ncountries = [\"FR\"]\nsovereign = true\n\n\
         [tenants.acme]\nstore = \"main\"\n",
        "[stores.garage]\nprovider = \"garage\"\nregion = \"fr-par\"\n\
         endpoint = \"http://127.0.0.1:3900\"\nbucket = \"bitatlas\"\ncountry = \"FR\"\n\n\
         [tenants.default]\nstore = \"garage\"\n\n[http]\nmax_in_flight_per_tenant = 8\n",
        "[stores.disk]\nprovider = \"local\"\npath = \"/srv/objects\"\ncountry = \"NL\"\n\n\
         [policies.uk]\ncountries = [\"GB\"]\nallow_adequacy = true\n\
         deny_regions = [\"aws:eu-west-2\"]\n\n[tenants.a]\nstore = \"disk\"\npolicy = \"uk\"\n",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec()
}

fn audit_seeds() -> Vec<Vec<u8>> {
    use bitatlas::audit::{AuditEvent, Phase};
    let sink = KeepSink::default();
    let log = AuditLog::open(
        Box::new(sink.clone()),
        "fuzz-1".into(),
        AuditKeys::derive(&AUDIT_SECRET),
    )
    .expect("audit log");
    let event = |phase, tool, object| AuditEvent {
        request_id: "r1",
        phase,
        tool,
        tenant: TENANT,
        object,
        subject: None,
        size: Some(5),
        placement: None,
        code: "OK",
        latency_us: None,
        grant: None,
    };
    log.record(&event(Phase::Intent, "put", Some("a.txt")))
        .expect("record");
    log.record(&event(Phase::Outcome, "put", Some("a.txt")))
        .expect("record");
    log.checkpoint().expect("checkpoint");
    log.record(&event(Phase::Outcome, "list", None))
        .expect("record");
    let trail = sink.trail.lock().expect("not poisoned").clone();
    let side = sink.side.lock().expect("not poisoned").clone();
    let lines = |l: &[String]| l.iter().map(|s| format!("{s}\n")).collect::<String>();
    vec![
        lines(&trail[..3]).into_bytes(),
        format!("{}\0{}", lines(&trail), lines(&side)).into_bytes(),
    ]
}
