//! Every built-in adapter passes the shared conformance suite.

use bitatlas_adapters::{conformance, local, memory};

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

#[tokio::test]
async fn local_adapter_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let adapter = local(dir.path()).expect("local store");
    conformance::put_get_roundtrip(&adapter, "tmp").await;
    conformance::streamed_puts(&adapter, "tmp").await;
    let mut stack = vec![dir.path().to_path_buf()];
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
                assert!(!n.contains('#'), "temporary file left behind: {n}");
            }
        }
    }
}
