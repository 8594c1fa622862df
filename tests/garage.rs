//! The S3 path against a real Garage server: sealed round trips, the bucket seen directly
//! holds only ciphertext, and a bucket answering a non-EEA region stops start-up.

mod support;

use std::sync::Arc;

use bitatlas::audit::MemorySink;
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use support::garage::Garage;

const MARKER: &str = "GARAGE-PLAINTEXT-MARKER";

fn config_for(g: &Garage, country: &str) -> ConfigFile {
    let text = format!(
        "{}\n[tenants.acme]\nstore = \"eu\"\n\n[server]\nindex_max_age_ms = 0\n",
        g.store_toml("eu", country)
    );
    toml::from_str(&text).expect("config")
}

async fn start(g: &Garage, dir: &std::path::Path) -> anyhow::Result<Service> {
    let sink = Arc::new(MemorySink::default());
    let rt = runtime::build_with_sink(&config_for(g, "FR"), dir, Box::new(sink)).await?;
    Ok(rt.service)
}

fn raw_bucket(g: &Garage) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&g.endpoint)
        .with_region(&g.region)
        .with_bucket_name(&g.bucket)
        .with_access_key_id(&g.key_id)
        .with_secret_access_key(&g.secret)
        .with_allow_http(true)
        .build()
        .expect("raw client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_on_garage() {
    let g = Garage::start("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&g, dir.path())
        .await
        .expect("start on an fr-par bucket");
    let c = Caller {
        tenant: "acme".into(),
    };
    let put = svc
        .put(
            &c,
            PutInput {
                key: format!("people/{MARKER}.txt"),
                text: Some(format!("{MARKER} content")),
                metadata: Some([("owner".to_string(), MARKER.to_string())].into()),
                ..Default::default()
            },
        )
        .await
        .expect("put");
    assert_eq!(put.stored.region, "fr-par");
    let got = svc
        .get(
            &c,
            GetInput {
                key: format!("people/{MARKER}.txt"),
                range: None,
            },
        )
        .await
        .expect("get");
    assert_eq!(got.data, format!("{MARKER} content"));
    let listed = svc
        .list(
            &c,
            ListInput {
                prefix: Some("people".into()),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.objects.len(), 1);

    // Read the bucket with a plain S3 client: names are opaque, bytes are ciphertext.
    let raw = raw_bucket(&g);
    let objects: Vec<_> = object_store::ObjectStore::list(&raw, None)
        .try_collect()
        .await
        .expect("raw list");
    assert_eq!(objects.len(), 1);
    for o in &objects {
        assert!(!o.location.as_ref().contains(MARKER));
        assert!(!o.location.as_ref().contains("people"));
        let bytes = raw.get(&o.location).await.unwrap().bytes().await.unwrap();
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "plaintext in the bucket"
        );
    }

    let deleted = svc
        .delete(
            &c,
            DeleteInput {
                key: format!("people/{MARKER}.txt"),
            },
        )
        .await
        .expect("delete");
    assert!(deleted.deleted);
    let left: Vec<_> = object_store::ObjectStore::list(&raw, None)
        .try_collect()
        .await
        .expect("raw list");
    assert!(left.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_in_us_east_1_stops_start_up() {
    let g = Garage::start("us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_for(&g, "FR");
    // The operator claims fr-par; the bucket says otherwise.
    if let Some(s) = cfg.stores.get_mut("eu") {
        s.region = Some("fr-par".into());
    }
    let sink = Arc::new(MemorySink::default());
    let err = match runtime::build_with_sink(&cfg, dir.path(), Box::new(sink)).await {
        Ok(_) => panic!("start-up must fail"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("store eu"), "{err}");
    assert!(
        err.contains("POLICY_LOCATION_MISMATCH") || err.contains("POLICY_NON_EEA_REGION"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_store_is_a_typed_error() {
    let mut g = Garage::start("fr-par");
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&g, dir.path()).await.expect("start");
    g.stop();
    let c = Caller {
        tenant: "acme".into(),
    };
    let e = svc
        .put(
            &c,
            PutInput {
                key: "k".into(),
                text: Some("v".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageUnavailable);
    assert!(!e.message.contains("127.0.0.1"), "{}", e.message);
}
