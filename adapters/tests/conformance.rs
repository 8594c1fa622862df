//! Every built-in adapter passes the shared conformance suite.

use bitatlas_adapters::{Adapter, AdapterError, Part, StorageName, conformance, local, memory};
use bytes::Bytes;
use tokio::sync::mpsc;

#[tokio::test]
async fn memory_adapter_conforms() {
    conformance::run_all(&memory(), "conf").await;
}

#[tokio::test]
async fn local_adapter_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let adapter = local(dir.path()).expect("local store");
    conformance::run_all(&adapter, "conf").await;
}

/// Files under `dir` whose name has the staging shape (`<name>#<digits>`).
fn staging_files(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let n = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                if n.contains('#') {
                    found.push(n);
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn local_adapter_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let adapter = local(dir.path()).expect("local store");
    conformance::put_get_roundtrip(&adapter, "tmp").await;
    conformance::streamed_puts(&adapter, "tmp").await;
    let left = staging_files(dir.path());
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

/// Sends `parts` to a streamed put of `n` and then drops the sender without `Part::End`.
async fn cut_short(
    a: &dyn Adapter,
    n: &StorageName,
    parts: Vec<Bytes>,
) -> Result<(), AdapterError> {
    let (tx, rx) = mpsc::channel(1);
    let send = async move {
        for p in parts {
            if tx.send(Part::Data(p)).await.is_err() {
                return;
            }
        }
    };
    let (stored, ()) = tokio::join!(a.put_parts(n, rx), send);
    stored.map(|_| ())
}

/// Waits (boundedly) until no staging file is left: removal after a dropped put runs on the
/// blocking pool, after the drop returned.
async fn no_staging_files_remain(dir: &std::path::Path, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = staging_files(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: staging files left behind: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn failed_or_cut_short_streamed_puts_leave_no_staging_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let adapter = local(dir.path()).expect("local store");
    let name = |s: &str| StorageName::parse(s).expect("name");
    let big = || Bytes::from(vec![7u8; 3 << 20]);

    // Cut short after several megabytes (the staging file was being written) and after a
    // few bytes; on a new name and over an existing object.
    let old = name("cut/existing");
    adapter
        .put(&old, Bytes::from_static(b"previous"))
        .await
        .expect("put");
    for (n, parts) in [
        (name("cut/new"), vec![big(), big()]),
        (name("cut/small"), vec![Bytes::from_static(b"abc")]),
        (old.clone(), vec![big(), big(), big()]),
    ] {
        let cut = cut_short(&adapter, &n, parts).await;
        assert!(
            matches!(cut, Err(AdapterError::Unavailable(_))),
            "{n:?}: {cut:?}"
        );
        no_staging_files_remain(dir.path(), "cut short").await;
    }
    assert!(matches!(
        adapter.get(&name("cut/new")).await,
        Err(AdapterError::NotFound)
    ));
    assert_eq!(
        adapter.get(&old).await.expect("get"),
        Bytes::from_static(b"previous")
    );

    // The put itself dropped mid-stream (its caller went away).
    let (tx, rx) = mpsc::channel(1);
    let n = name("dropped/obj");
    let put = adapter.put_parts(&n, rx);
    let feed = async {
        for _ in 0..3 {
            tx.send(Part::Data(big())).await.expect("send");
        }
    };
    tokio::select! {
        _ = put => panic!("the put cannot finish without its end"),
        () = feed => {}
    }
    drop(tx);
    no_staging_files_remain(dir.path(), "dropped put").await;
    assert!(matches!(adapter.get(&n).await, Err(AdapterError::NotFound)));

    // A put whose publishing rename fails: the name is taken by a directory (objects below it).
    adapter
        .put(&name("taken/below"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    let taken = name("taken");
    for parts in [vec![big(), big()], vec![Bytes::from_static(b"small")]] {
        let (tx, rx) = mpsc::channel(1);
        let send = async move {
            for p in parts {
                let _ = tx.send(Part::Data(p)).await;
            }
            let _ = tx.send(Part::End).await;
        };
        let (stored, ()) = tokio::join!(adapter.put_parts(&taken, rx), send);
        assert!(stored.is_err(), "a put over a directory fails: {stored:?}");
        no_staging_files_remain(dir.path(), "failed publish").await;
    }
    let plain = adapter.put(&taken, Bytes::from_static(b"plain")).await;
    assert!(plain.is_err(), "{plain:?}");
    no_staging_files_remain(dir.path(), "failed plain put").await;
    assert_eq!(
        adapter.get(&name("taken/below")).await.expect("get"),
        Bytes::from_static(b"x")
    );
}
