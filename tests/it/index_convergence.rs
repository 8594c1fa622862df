//! The index converges to what the store holds under concurrent writers: two sessions (and
//! two instances) putting the same keys at once with payloads of equal size, and puts racing
//! deletes. `list`/`search` must end up with the metadata `get` returns, and a put is never
//! answered NOT_FOUND.

use std::path::Path;
use std::sync::Arc;

use bitatlas::audit::MemorySink;
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;

use crate::support::config::Config;

const KEYS: usize = 300;

fn config(dir: &Path) -> ConfigFile {
    Config::new()
        .local_store("disk", &dir.join("objects"), "FR")
        .tenant("acme", "disk")
        .server("index_max_age_ms", 0)
        .file()
}

async fn instance(dir: &Path) -> Service {
    runtime::build_with_sink(&config(dir), dir, Box::new(Arc::new(MemorySink::default())))
        .await
        .expect("runtime")
        .service
}

fn caller() -> Caller {
    Caller::new("acme".into())
}

/// Same size for every writer, different metadata and content type.
fn put(key: &str, writer: &str) -> PutRequest {
    PutRequest {
        key: key.to_owned(),
        data: format!("payload of {writer}").into(),
        content_type: Some(format!("text/x-{writer}")),
        metadata: [("writer".to_string(), writer.to_string())].into(),
    }
}

/// Every listed object's metadata and content type equal what `get` opens from the store.
async fn assert_index_matches_store(svc: &Service) {
    let c = caller();
    let mut seen = 0;
    let mut cursor = None;
    loop {
        let page = svc
            .search(
                &c,
                SearchRequest {
                    limit: Some(1000),
                    cursor: cursor.take(),
                    ..Default::default()
                },
            )
            .await
            .expect("search");
        for hit in &page.objects {
            let got = svc
                .get(&c, GetRequest::whole(hit.key.clone()))
                .await
                .expect("get");
            assert_eq!(hit.metadata, got.metadata, "metadata of {}", hit.key);
            assert_eq!(hit.content_type, got.content_type, "type of {}", hit.key);
            assert_eq!(hit.size, got.data.len() as u64);
            seen += 1;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, KEYS);
}

/// Every key put by both writers at once, each through its own instance (or the same one).
async fn race_puts(writers: [(Service, &'static str); 2]) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..KEYS {
        for (svc, writer) in writers.clone() {
            tasks.spawn(async move {
                svc.put(&caller(), put(&format!("k/{i:03}"), writer))
                    .await
                    .map(|_| ())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().expect("put");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_one_key_leave_the_index_right() {
    let dir = tempfile::tempdir().unwrap();
    let svc = instance(dir.path()).await;
    race_puts([(svc.clone(), "alpha"), (svc.clone(), "bravo")]).await;
    assert_index_matches_store(&svc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_writing_the_same_keys_converge() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (instance(dir.path()).await, instance(dir.path()).await);
    race_puts([(one.clone(), "alpha"), (two.clone(), "bravo")]).await;
    // index_max_age_ms = 0: the next read reconciles, so both agree with the store at once.
    assert_index_matches_store(&one).await;
    assert_index_matches_store(&two).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_put_racing_a_delete_never_answers_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (instance(dir.path()).await, instance(dir.path()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..KEYS {
        let key = format!("race/{i:03}");
        for round in 0..3 {
            let (writer, deleter) = if round % 2 == 0 {
                (one.clone(), two.clone())
            } else {
                (two.clone(), one.clone())
            };
            let k = key.clone();
            tasks.spawn(async move { writer.put(&caller(), put(&k, "alpha")).await.map(|_| ()) });
            let k = key.clone();
            tasks.spawn(async move { deleter.delete(&caller(), &k).await.map(|_| ()) });
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.unwrap() {
            panic!("a call failed: {e}");
        }
    }
    // Whatever survived is indexed as it is stored.
    let listed = one
        .list(&caller(), ListRequest::default())
        .await
        .expect("list");
    for o in listed.objects {
        let got = one.get(&caller(), GetRequest::whole(o.key.clone())).await;
        assert!(got.is_ok(), "{} listed but not readable", o.key);
    }
}
