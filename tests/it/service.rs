//! The service driven in-process over a real local directory store: round trips, folder
//! semantics, tenant isolation, fail-closed audit, tamper detection, nothing in clear.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bitatlas::audit::MemorySink;
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;

use crate::support::config::Config;

const MARKER: &str = "PLAINTEXT-MARKER-7f3a";

fn config(dir: &Path, tenants: &[&str]) -> ConfigFile {
    let mut c = Config::new().local_store("disk", &dir.join("objects"), "FR");
    for t in tenants {
        c = c.tenant(t, "disk");
    }
    c.server("index_max_age_ms", 0).file()
}

async fn start(dir: &Path, tenants: &[&str]) -> (Service, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let rt = runtime::build_with_sink(&config(dir, tenants), dir, Box::new(Arc::clone(&sink)))
        .await
        .expect("runtime");
    (rt.service, sink)
}

fn caller(t: &str) -> Caller {
    Caller::new(t.to_owned())
}

fn put_text(key: &str, text: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        data: bytes::Bytes::copy_from_slice(text.as_bytes()),
        content_type: Some("text/plain; charset=utf-8".into()),
        ..Default::default()
    }
}

fn get(key: &str) -> GetRequest {
    GetRequest::whole(key)
}

fn text(o: Object) -> String {
    String::from_utf8(o.data).expect("utf-8")
}

#[tokio::test]
async fn text_binary_and_ranges_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = start(dir.path(), &["a"]).await;
    let c = caller("a");
    let out = svc
        .put(&c, put_text("notes/ü.txt", "héllo wörld"))
        .await
        .unwrap();
    assert_eq!(out.size, "héllo wörld".len() as u64);
    assert_eq!(out.placement.country, "FR");
    let got = svc.get(&c, get("notes/ü.txt")).await.unwrap();
    assert_eq!(got.content_type, "text/plain; charset=utf-8");
    assert_eq!(text(got), "héllo wörld");

    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut md = BTreeMap::new();
    md.insert("kind".to_string(), "blob".to_string());
    svc.put(
        &c,
        PutRequest {
            key: "bin/blob".into(),
            data: bytes.clone().into(),
            metadata: md.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = svc.get(&c, get("bin/blob")).await.unwrap();
    assert_eq!(got.data, bytes);
    assert_eq!(got.metadata, md);
    assert_eq!(got.content_type, "application/octet-stream");

    for (s, e) in [
        (0u64, 1u64),
        (65_535, 65_537),
        (70_000, 200_000),
        (199_999, 200_000),
    ] {
        let part = svc
            .get(
                &c,
                GetRequest {
                    key: "bin/blob".into(),
                    range: Some(ByteRange {
                        start: s,
                        end: Some(e),
                    }),
                },
            )
            .await
            .unwrap();
        assert_eq!(part.data, &bytes[s as usize..e as usize], "range {s}..{e}");
        assert_eq!(
            part.range,
            Some(ByteRange {
                start: s,
                end: Some(e)
            })
        );
        assert_eq!(part.size, 200_000);
    }
    let beyond = svc
        .get(
            &c,
            GetRequest {
                key: "bin/blob".into(),
                range: Some(ByteRange {
                    start: 300_000,
                    end: None,
                }),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(beyond.code, ErrorCode::InvalidRange);
}

#[tokio::test]
async fn nothing_identifying_is_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = start(dir.path(), &["a"]).await;
    let mut md = BTreeMap::new();
    md.insert("owner".to_string(), format!("{MARKER}-meta"));
    svc.put(
        &caller("a"),
        PutRequest {
            key: format!("people/{MARKER}-key.txt"),
            data: format!("{MARKER}-content").into(),
            content_type: Some("text/x-marker".into()),
            metadata: md,
        },
    )
    .await
    .unwrap();
    let mut stack = vec![dir.path().to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            let name = p.to_string_lossy().to_string();
            assert!(!name.contains(MARKER), "marker in a file name: {name}");
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&p).unwrap();
            for needle in [MARKER.as_bytes(), b"x-marker".as_slice(), b"people/"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} contains {:?}",
                    p.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }
    assert!(files >= 2, "expected the object and a keyring on disk");
}

#[tokio::test]
async fn folders_pagination_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = start(dir.path(), &["a"]).await;
    let c = caller("a");
    for k in ["a/1", "a/2", "a-evil/x", "ab", "a/sub/3"] {
        svc.put(&c, put_text(k, "v")).await.unwrap();
    }
    let l = svc
        .list(
            &c,
            ListRequest {
                prefix: Some("a".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let keys: Vec<_> = l.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a/1", "a/2", "a/sub/3"]);

    for i in 0..25 {
        let mut md = BTreeMap::new();
        md.insert("parity".to_string(), (i % 2).to_string());
        svc.put(
            &c,
            PutRequest {
                key: format!("docs/{i:02}.md"),
                data: "x".into(),
                metadata: md,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = svc
            .search(
                &c,
                SearchRequest {
                    pattern: Some("docs/*.md".into()),
                    metadata: [("parity".to_string(), "1".to_string())].into(),
                    limit: Some(5),
                    cursor: cursor.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(page.objects.into_iter().map(|m| m.key));
        match page.next_cursor {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("docs/{i:02}.md"))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = start(dir.path(), &["alice", "bob"]).await;
    let (a, b) = (caller("alice"), caller("bob"));
    svc.put(&a, put_text("shared/name", "alice's"))
        .await
        .unwrap();
    assert_eq!(
        svc.get(&b, get("shared/name")).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    svc.put(&b, put_text("shared/name", "bob's")).await.unwrap();
    assert_eq!(
        text(svc.get(&a, get("shared/name")).await.unwrap()),
        "alice's"
    );
    assert_eq!(
        text(svc.get(&b, get("shared/name")).await.unwrap()),
        "bob's"
    );
    let listed = svc.list(&b, ListRequest::default()).await.unwrap();
    assert_eq!(listed.objects.len(), 1);
    assert!(!svc.delete(&b, "other").await.unwrap().deleted);
    assert_eq!(
        text(svc.get(&a, get("shared/name")).await.unwrap()),
        "alice's"
    );

    for i in 0..3 {
        svc.put(&a, put_text(&format!("p/{i}"), "x")).await.unwrap();
    }
    let page = svc
        .list(
            &a,
            ListRequest {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let foreign = svc
        .list(
            &b,
            ListRequest {
                limit: Some(1),
                cursor: page.next_cursor,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(foreign.code, ErrorCode::InvalidArgument);
    let unknown = svc
        .get(&caller("mallory"), get("shared/name"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::Unauthorized);
}

#[tokio::test]
async fn writes_fail_closed_when_audit_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, sink) = start(dir.path(), &["a"]).await;
    let c = caller("a");
    svc.put(&c, put_text("kept", "1")).await.unwrap();
    sink.set_failing(true);
    let e = svc.put(&c, put_text("lost", "2")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AuditUnavailable);
    let e = svc.delete(&c, "kept").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AuditUnavailable);
    let e = svc.get(&c, get("kept")).await.unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::AuditUnavailable,
        "reads fail closed by default"
    );
    sink.set_failing(false);
    assert_eq!(
        svc.get(&c, get("lost")).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(text(svc.get(&c, get("kept")).await.unwrap()), "1");
    // Every call left records; intents precede outcomes and share a request id.
    let lines = sink.lines();
    let recs: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let puts: Vec<_> = recs.iter().filter(|r| r["tool"] == "put").collect();
    assert_eq!(puts.len(), 2, "intent and outcome of the first put");
    assert_eq!(puts[0]["phase"], "intent");
    assert_eq!(puts[1]["phase"], "outcome");
    assert_eq!(puts[0]["request_id"], puts[1]["request_id"]);
    for l in &lines {
        assert!(
            !l.contains("kept") && !l.contains("lost"),
            "object key in audit: {l}"
        );
    }
}

#[tokio::test]
async fn tampered_objects_return_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = start(dir.path(), &["a"]).await;
    let c = caller("a");
    svc.put(&c, put_text("victim", &"secret ".repeat(1000)))
        .await
        .unwrap();
    let mut stack = vec![dir.path().join("objects")];
    let mut object = None;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                object = Some(p)
            }
        }
    }
    let object = object.expect("stored object");
    let mut bytes = std::fs::read(&object).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    std::fs::write(&object, &bytes).unwrap();
    let e = svc.get(&c, get("victim")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::IntegrityFailure);
    assert!(!e.message.contains("secret"));
}

/// Large objects are read in pieces while earlier pieces are opened: a flipped byte in any
/// piece, or a cut envelope, still returns no data, and the object above the inline limit is
/// refused before any piece is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_large_objects_return_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["a"]);
    cfg.server.max_inline_bytes = Some(16 << 20);
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .unwrap()
        .service;
    let c = caller("a");
    let len = (9 << 20) + 5;
    let data: bytes::Bytes = (0..len).map(|i| (i % 251) as u8).collect();
    let put = |key: &str, data: bytes::Bytes| PutRequest {
        key: key.into(),
        data,
        ..Default::default()
    };
    for (key, cut) in [
        ("flip/first", 0.1),
        ("flip/middle", 0.5),
        ("flip/last", 0.99),
    ] {
        svc.put(&c, put(key, data.clone())).await.unwrap();
        let object = only_new_file(dir.path(), |bytes| {
            let at = (bytes.len() as f64 * cut) as usize;
            bytes[at] ^= 0x40;
        });
        let e = svc.get(&c, get(key)).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::IntegrityFailure, "{key}: {e}");
        std::fs::remove_file(object).unwrap();
    }
    svc.put(&c, put("cut", data.clone())).await.unwrap();
    only_new_file(dir.path(), |bytes| bytes.truncate(bytes.len() - 1000));
    let e = svc.get(&c, get("cut")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::IntegrityFailure, "{e}");

    let big: bytes::Bytes = (0..(17u32 << 20)).map(|i| (i % 7) as u8).collect();
    let mut roomy = cfg.clone();
    roomy.server.max_inline_bytes = Some(32 << 20);
    let writer = runtime::build_with_sink(&roomy, dir.path(), Box::new(MemorySink::default()))
        .await
        .unwrap()
        .service;
    writer.put(&c, put("too/big", big)).await.unwrap();
    let e = svc.get(&c, get("too/big")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge, "{e}");
}

/// Applies `edit` to the one object file written since the last call (the newest under
/// `objects/`), returning its path.
fn only_new_file(dir: &Path, edit: impl FnOnce(&mut Vec<u8>)) -> std::path::PathBuf {
    let mut stack = vec![dir.join("objects")];
    let mut newest: Option<(std::time::SystemTime, std::path::PathBuf)> = None;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let t = std::fs::metadata(&p).unwrap().modified().unwrap();
            if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                newest = Some((t, p));
            }
        }
    }
    let (_, path) = newest.expect("an object file");
    let mut bytes = std::fs::read(&path).unwrap();
    edit(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    path
}

#[tokio::test]
async fn objects_written_elsewhere_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = start(dir.path(), &["a"]).await;
    first
        .put(&caller("a"), put_text("from/first", "1"))
        .await
        .unwrap();
    // A second instance over the same store and keyring.
    let (second, _) = start(dir.path(), &["a"]).await;
    second
        .put(&caller("a"), put_text("from/second", "2"))
        .await
        .unwrap();
    let keys: Vec<String> = first
        .list(&caller("a"), ListRequest::default())
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["from/first", "from/second"]);
    second.delete(&caller("a"), "from/first").await.unwrap();
    let after = first
        .list(&caller("a"), ListRequest::default())
        .await
        .unwrap();
    assert_eq!(after.objects.len(), 1);
}

#[tokio::test]
async fn reads_can_be_configured_to_fail_open_but_writes_never() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["a"]);
    cfg.audit.reads_fail_open = true;
    let sink = Arc::new(MemorySink::default());
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(Arc::clone(&sink)))
        .await
        .unwrap()
        .service;
    let c = caller("a");
    svc.put(&c, put_text("kept", "1")).await.unwrap();
    sink.set_failing(true);
    assert_eq!(text(svc.get(&c, get("kept")).await.unwrap()), "1");
    let e = svc.put(&c, put_text("lost", "2")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AuditUnavailable);
}

/// A payload large enough to be sealed and written part by part round-trips on the local
/// store, whole and by range, and replaces the previous object completely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_puts_are_written_in_parts_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["acme"]);
    cfg.server.max_inline_bytes = Some(64 << 20);
    let sink = Arc::new(MemorySink::default());
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(sink))
        .await
        .unwrap()
        .service;
    let c = caller("acme");
    for (seed, len) in [(1u32, 40u32 << 20), (2, (17 << 20) + 3)] {
        let data: bytes::Bytes = (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect();
        let put = PutRequest {
            key: "big/file.bin".into(),
            data: data.clone(),
            ..Default::default()
        };
        assert_eq!(svc.put(&c, put).await.unwrap().size, len as u64);
        let whole = GetRequest::whole("big/file.bin");
        assert!(svc.get(&c, whole).await.unwrap().data == data);
        let start = 16 << 20;
        let part = GetRequest {
            key: "big/file.bin".into(),
            range: Some(ByteRange {
                start,
                end: Some(start + 70_000),
            }),
        };
        let got = svc.get(&c, part).await.unwrap().data;
        assert_eq!(got, &data[start as usize..start as usize + 70_000]);
    }
}

/// A progress listener that records what it hears and cancels after `cancel_after` reports.
struct Listener {
    heard: std::sync::Mutex<Vec<(u64, Option<u64>)>>,
    cancel_after: usize,
}

impl Progress for Listener {
    fn advanced(&self, done: u64, total: Option<u64>) {
        self.heard.lock().unwrap().push((done, total));
    }
    fn cancelled(&self) -> bool {
        self.heard.lock().unwrap().len() >= self.cancel_after
    }
}

/// Large inline puts and gets report each part or piece, and a cancelled one stops with
/// `CANCELLED`, leaving the previous object whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_inline_calls_report_progress_and_stop_when_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["a"]);
    cfg.server.max_inline_bytes = Some(64 << 20);
    let svc = runtime::build_with_sink(&cfg, dir.path(), Box::new(MemorySink::default()))
        .await
        .unwrap()
        .service;
    let c = caller("a");
    let old: bytes::Bytes = (0..(20u32 << 20)).map(|i| (i % 13) as u8).collect();
    let new: bytes::Bytes = (0..(20u32 << 20)).map(|i| (i % 17) as u8).collect();
    let put = |data: &bytes::Bytes| PutRequest {
        key: "v/big".into(),
        data: data.clone(),
        ..Default::default()
    };
    let all = Listener {
        heard: Default::default(),
        cancel_after: usize::MAX,
    };
    svc.put_reporting(&c, put(&old), Some(&all)).await.unwrap();
    let heard = all.heard.into_inner().unwrap();
    assert!(heard.len() >= 4, "{heard:?}");
    assert!(heard.windows(2).all(|w| w[0].0 < w[1].0), "{heard:?}");
    assert_eq!(
        heard.last(),
        Some(&(old.len() as u64, Some(old.len() as u64)))
    );

    let early = Listener {
        heard: Default::default(),
        cancel_after: 1,
    };
    let e = svc
        .put_reporting(&c, put(&new), Some(&early))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Cancelled, "{e}");
    assert!(svc.get(&c, get("v/big")).await.unwrap().data == old);

    let reading = Listener {
        heard: Default::default(),
        cancel_after: usize::MAX,
    };
    let got = svc
        .get_reporting(&c, get("v/big"), Some(&reading))
        .await
        .unwrap();
    assert!(got.data == old);
    let heard = reading.heard.into_inner().unwrap();
    assert!(heard.len() >= 4 && heard.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(heard.last().unwrap().0, old.len() as u64);
    let stop = Listener {
        heard: Default::default(),
        cancel_after: 2,
    };
    let e = svc
        .get_reporting(&c, get("v/big"), Some(&stop))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Cancelled, "{e}");
    let listed = svc.list(&c, ListRequest::default()).await.unwrap().objects;
    assert_eq!(listed.len(), 1, "listed once");
}
