//! The conformance suite every adapter runs, in the spirit of object_store's own
//! integration functions. Each function panics with a message naming the broken rule.

use bytes::Bytes;

use tokio::sync::mpsc;

use crate::{Adapter, AdapterError, MIN_PART_SIZE, Part, StorageName};

fn name(s: &str) -> StorageName {
    StorageName::parse(s).expect("test names are valid")
}

/// Runs every conformance check against `adapter`, under the (empty) prefix `root`.
pub async fn run_all(adapter: &dyn Adapter, root: &str) {
    put_get_roundtrip(adapter, root).await;
    overwrite_replaces(adapter, root).await;
    ranges(adapter, root).await;
    missing_objects(adapter, root).await;
    delete_reports_existence(adapter, root).await;
    list_is_segment_scoped(adapter, root).await;
    empty_and_large_objects(adapter, root).await;
    streamed_puts(adapter, root).await;
    writes_report_their_identity(adapter, root).await;
}

/// A write reports the entity tag that head and list then show, and a rewrite of the same
/// size changes it: the identity the index compares to tell one write from another.
pub async fn writes_report_their_identity(a: &dyn Adapter, root: &str) {
    let n = name(&format!("{root}/etag/obj"));
    let first = a
        .put(&n, Bytes::from_static(b"same size A"))
        .await
        .expect("put");
    let Some(first) = first else {
        // A backend without entity tags reports none anywhere.
        assert_eq!(
            a.head(&n).await.expect("head").e_tag,
            None,
            "head has a tag put did not"
        );
        return;
    };
    assert_eq!(a.head(&n).await.expect("head").e_tag.as_ref(), Some(&first));
    let listed = a.list(&name(&format!("{root}/etag"))).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].e_tag.as_ref(),
        Some(&first),
        "list shows the written tag"
    );
    let second = a
        .put(&n, Bytes::from_static(b"same size B"))
        .await
        .expect("put");
    assert!(
        second.is_some() && second != Some(first),
        "a rewrite keeps its tag"
    );
    assert_eq!(a.head(&n).await.expect("head").e_tag, second);
    a.delete(&n).await.expect("delete");
}

/// Bytes written come back unchanged; head reports the size.
pub async fn put_get_roundtrip(a: &dyn Adapter, root: &str) {
    let n = name(&format!("{root}/rt/obj"));
    let data = Bytes::from_static(b"\x00\x01sealed bytes\xff");
    a.put(&n, data.clone()).await.expect("put");
    assert_eq!(
        a.get(&n).await.expect("get"),
        data,
        "get returns what put stored"
    );
    let meta = a.head(&n).await.expect("head");
    assert_eq!(meta.size, data.len() as u64, "head size");
    assert_eq!(meta.name, n, "head name");
}

/// A second put replaces the first entirely.
pub async fn overwrite_replaces(a: &dyn Adapter, root: &str) {
    let n = name(&format!("{root}/ow/obj"));
    a.put(&n, Bytes::from(vec![1u8; 1000]))
        .await
        .expect("put 1");
    a.put(&n, Bytes::from_static(b"short"))
        .await
        .expect("put 2");
    assert_eq!(a.get(&n).await.expect("get"), Bytes::from_static(b"short"));
}

/// Ranges return exactly the requested bytes, clamped at the end.
pub async fn ranges(a: &dyn Adapter, root: &str) {
    let n = name(&format!("{root}/rg/obj"));
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    a.put(&n, Bytes::from(data.clone())).await.expect("put");
    for (s, e) in [(0u64, 1u64), (5, 600), (9_999, 10_000), (4_000, 10_000)] {
        let got = a.get_range(&n, s..e).await.expect("range");
        assert_eq!(&got[..], &data[s as usize..e as usize], "range {s}..{e}");
    }
    let clamped = a.get_range(&n, 9_990..20_000).await.expect("clamped");
    assert_eq!(
        &clamped[..],
        &data[9_990..],
        "range past the end is clamped"
    );
    let empty = a.get_range(&n, 20_000..30_000).await.expect("beyond");
    assert!(empty.is_empty(), "range beyond the end is empty");
}

/// Reading a missing object is `NotFound`, never another error.
pub async fn missing_objects(a: &dyn Adapter, root: &str) {
    let n = name(&format!("{root}/missing/none"));
    assert!(
        matches!(a.get(&n).await, Err(AdapterError::NotFound)),
        "get missing"
    );
    assert!(
        matches!(a.head(&n).await, Err(AdapterError::NotFound)),
        "head missing"
    );
    assert!(
        matches!(a.get_range(&n, 0..10).await, Err(AdapterError::NotFound)),
        "range missing"
    );
}

/// Delete says whether the object existed, and deleting twice is not an error.
pub async fn delete_reports_existence(a: &dyn Adapter, root: &str) {
    let n = name(&format!("{root}/del/obj"));
    a.put(&n, Bytes::from_static(b"x")).await.expect("put");
    assert!(a.delete(&n).await.expect("delete"), "first delete finds it");
    assert!(
        !a.delete(&n).await.expect("delete again"),
        "second delete finds nothing"
    );
    assert!(
        matches!(a.get(&n).await, Err(AdapterError::NotFound)),
        "gone after delete"
    );
}

/// Listing `p` returns objects under the folder `p/`, never `p-evil/...`.
pub async fn list_is_segment_scoped(a: &dyn Adapter, root: &str) {
    let inside = [format!("{root}/ls/a/1"), format!("{root}/ls/a/sub/2")];
    let outside = [format!("{root}/ls/a-evil/3"), format!("{root}/ls/ab")];
    for n in inside.iter().chain(outside.iter()) {
        a.put(&name(n), Bytes::from_static(b"v"))
            .await
            .expect("put");
    }
    let mut got: Vec<String> = a
        .list(&name(&format!("{root}/ls/a")))
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.name.as_str().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, inside.to_vec(), "list is scoped to the folder");
}

/// Zero-byte and multi-megabyte objects round-trip.
pub async fn empty_and_large_objects(a: &dyn Adapter, root: &str) {
    let e = name(&format!("{root}/sz/empty"));
    a.put(&e, Bytes::new()).await.expect("put empty");
    assert!(a.get(&e).await.expect("get empty").is_empty());
    let l = name(&format!("{root}/sz/large"));
    let big: Vec<u8> = (0..(9 << 20)).map(|i: u32| (i % 251) as u8).collect();
    a.put(&l, Bytes::from(big.clone()))
        .await
        .expect("put large");
    assert_eq!(a.get(&l).await.expect("get large").len(), big.len());
    assert_eq!(a.head(&l).await.expect("head large").size, big.len() as u64);
}

/// Sends `parts` (then `Part::End` when `finish`) to `put_parts` on `n`.
async fn put_parts(
    a: &dyn Adapter,
    n: &StorageName,
    parts: Vec<Bytes>,
    finish: bool,
) -> Result<crate::Written, AdapterError> {
    let (tx, rx) = mpsc::channel(2);
    let send = async move {
        for p in parts {
            if tx.send(Part::Data(p)).await.is_err() {
                return;
            }
        }
        if finish {
            let _ = tx.send(Part::End).await;
        }
    };
    let (stored, ()) = tokio::join!(a.put_parts(n, rx), send);
    stored
}

/// A streamed put stores the concatenation of its parts, small parts included; one cut short
/// (its sender gone before `Part::End`) fails and leaves the previous object in place.
pub async fn streamed_puts(a: &dyn Adapter, root: &str) {
    let n = name(&format!("{root}/st/obj"));
    let piece = |seed: u8, len: usize| -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    };
    // Parts below the backend minimum are gathered; the last one may be small.
    let parts = vec![
        piece(1, MIN_PART_SIZE / 2 + 3),
        piece(2, MIN_PART_SIZE / 2 + 5),
        piece(3, MIN_PART_SIZE + 1),
        piece(4, 10),
    ];
    let whole: Vec<u8> = parts.concat();
    put_parts(a, &n, parts, true).await.expect("streamed put");
    assert_eq!(a.get(&n).await.expect("get"), whole, "parts in order");
    assert_eq!(a.head(&n).await.expect("head").size, whole.len() as u64);

    let cut = put_parts(a, &n, vec![piece(5, MIN_PART_SIZE + 7)], false).await;
    assert!(
        matches!(cut, Err(AdapterError::Unavailable(_))),
        "a put cut short fails: {cut:?}"
    );
    assert_eq!(
        a.get(&n).await.expect("get after cut"),
        whole,
        "a put cut short changes nothing"
    );

    let e = name(&format!("{root}/st/empty"));
    put_parts(a, &e, Vec::new(), true)
        .await
        .expect("empty streamed put");
    assert!(a.get(&e).await.expect("get empty").is_empty());
}
