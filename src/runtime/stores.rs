//! Building each configured store and passing it through the residency guard.

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;

use bitatlas_adapters::Adapter;

use super::Stores;
use super::credentials;
use crate::config::ConfigFile;
use crate::residency::{Guard, Placement};

/// Admits every configured store or fails naming the first one that does not pass.
pub async fn admit_all(
    config: &ConfigFile,
    data_dir: &Path,
    banner: &mut Vec<String>,
) -> anyhow::Result<Stores> {
    let mut stores = Stores::new();
    for (name, sc) in &config.stores {
        let adapter: Arc<dyn Adapter> = match sc.provider.as_str() {
            "local" => {
                let dir = sc
                    .path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("stores").join(name));
                Arc::new(bitatlas_adapters::local(&dir).map_err(|e| {
                    anyhow::anyhow!("store {name}: cannot open local directory: {e}")
                })?)
            }
            "memory" => Arc::new(bitatlas_adapters::memory()),
            _ => {
                let bucket = connect_s3(name, sc)?;
                let answer = match bucket.bucket_location().await {
                    Ok(answer) => answer,
                    Err(bitatlas_adapters::AdapterError::WrongRegion(r)) => r,
                    Err(e) => bail!(
                        "store {name}: POLICY_LOCATION_UNVERIFIED: cannot read the bucket location: {e}"
                    ),
                };
                let configured = sc.region.clone().unwrap_or_default();
                let answered = if answer.is_empty() {
                    "us-east-1".to_owned()
                } else {
                    answer
                };
                if answered != configured {
                    bail!(
                        "store {name}: POLICY_LOCATION_MISMATCH: bucket answers region {answered:?}, configured {configured:?}"
                    );
                }
                Arc::new(bucket.adapter())
            }
        };
        let country = sc.country.clone().unwrap_or_default();
        let placement = Placement {
            store: name.clone(),
            provider: sc.provider.clone(),
            region: sc.region.clone().unwrap_or_else(|| "local".into()),
            country: country.clone(),
            attested: true,
        };
        banner.push(format!(
            "store {name}: {} in {country} (operator-attested, not verified by software)",
            sc.provider
        ));
        let host = sc
            .endpoint
            .as_deref()
            .and_then(|e| url::Url::parse(e).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        stores.insert(
            name.clone(),
            Arc::new(Guard::admit_stub(placement, adapter, host)),
        );
    }
    Ok(stores)
}

fn connect_s3(
    name: &str,
    sc: &crate::config::StoreConfig,
) -> anyhow::Result<bitatlas_adapters::S3Bucket> {
    let creds = credentials::load(name, sc.credentials.as_ref())?;
    let endpoint = sc
        .endpoint
        .clone()
        .ok_or_else(|| anyhow::anyhow!("store {name}: no endpoint configured"))?;
    let settings = bitatlas_adapters::S3Settings {
        allow_http: endpoint.starts_with("http://"),
        endpoint,
        region: sc.region.clone().unwrap_or_default(),
        bucket: sc
            .bucket
            .clone()
            .ok_or_else(|| anyhow::anyhow!("store {name}: no bucket configured"))?,
        access_key_id: creds.access_key_id,
        secret_access_key: creds.secret_access_key,
    };
    bitatlas_adapters::S3Bucket::connect(&settings)
        .map_err(|e| anyhow::anyhow!("store {name}: cannot configure S3 client: {e}"))
}
