//! Building each configured store and passing it through the residency guard.
//!
//! Order for every store: static check (catalog + policy + exact endpoint) -> build the
//! adapter -> live evidence (GetBucketLocation for S3, the attestation for local stores) ->
//! `Guard::admit`. The first store that fails stops start-up with its name and code.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use bitatlas_adapters::{Adapter, AdapterError, Catalog, S3Bucket, S3Settings};

use super::Stores;
use super::credentials;
use crate::config::{ConfigFile, StoreConfig};
use crate::residency::{self, Decision, Guard, LocationEvidence, Policies, StoreSpec};

/// Admits every configured store or fails naming the first one that does not pass.
pub async fn admit_all(
    config: &ConfigFile,
    data_dir: &Path,
    banner: &mut Vec<String>,
) -> anyhow::Result<Stores> {
    let catalog = Catalog::builtin();
    let policies =
        Policies::from_config(config).map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    let mut stores = Stores::new();
    for (name, sc) in &config.stores {
        let policy_name = sc.policy.as_deref().unwrap_or(residency::EEA_POLICY);
        let policy = policies
            .require(policy_name)
            .map_err(|e| anyhow::anyhow!("store {name}: {}: {e}", e.code()))?;
        let decision = residency::check(catalog, policy, &StoreSpec::from((name.as_str(), sc)));
        if !decision.allowed {
            bail!(
                "store {name}: {}: {}",
                decision.code.as_str(),
                decision.message
            );
        }
        let (adapter, evidence): (Arc<dyn Adapter>, LocationEvidence) = match sc.provider.as_str() {
            "local" => {
                let dir = sc
                    .path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("stores").join(name));
                let adapter = bitatlas_adapters::local(&dir).map_err(|e| {
                    anyhow::anyhow!("store {name}: cannot open local directory: {e}")
                })?;
                (Arc::new(adapter), attested(sc))
            }
            "memory" => (Arc::new(bitatlas_adapters::memory()), attested(sc)),
            _ => {
                let bucket = connect_s3(name, sc, &decision, catalog)?;
                let answer = match bucket.bucket_location().await {
                    Ok(answer) => answer,
                    // The server named its own region while refusing ours: a mismatch.
                    Err(AdapterError::WrongRegion(r)) => r,
                    Err(e) => bail!(
                        "store {name}: POLICY_LOCATION_MISMATCH: the bucket location could not be \
                         verified ({e}); refusing to use the store"
                    ),
                };
                (
                    Arc::new(bucket.adapter()),
                    LocationEvidence::BucketLocation { answer },
                )
            }
        };
        let guarded = Guard::admit(decision, adapter, evidence)
            .map_err(|e| anyhow::anyhow!("store {name}: {}: {e}", e.code()))?;
        let p = guarded.placement();
        banner.push(if p.attested {
            format!(
                "store {name}: {} in {} (operator-attested, not verified by software)",
                p.provider, p.country
            )
        } else {
            format!(
                "store {name}: {} {} in {} (bucket location verified)",
                p.provider, p.region, p.country
            )
        });
        stores.insert(name.clone(), Arc::new(guarded));
    }
    Ok(stores)
}

fn attested(sc: &StoreConfig) -> LocationEvidence {
    LocationEvidence::Attested {
        country: sc.country.clone().unwrap_or_default(),
    }
}

/// Checks that a tenant's policy accepts its home store too.
pub fn check_tenant_policy(
    config: &ConfigFile,
    tenant: &str,
    policy_name: &str,
    store: &str,
) -> anyhow::Result<()> {
    let policies =
        Policies::from_config(config).map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    let policy = policies
        .require(policy_name)
        .map_err(|e| anyhow::anyhow!("tenant {tenant}: {}: {e}", e.code()))?;
    let sc = config
        .stores
        .get(store)
        .with_context(|| format!("tenant {tenant}: unknown store {store}"))?;
    let d = residency::check(Catalog::builtin(), policy, &StoreSpec::from((store, sc)));
    if !d.allowed {
        bail!(
            "tenant {tenant}: store {store} is refused by policy {policy_name}: {}: {}",
            d.code.as_str(),
            d.message
        );
    }
    Ok(())
}

fn connect_s3(
    name: &str,
    sc: &StoreConfig,
    decision: &Decision,
    catalog: &Catalog,
) -> anyhow::Result<S3Bucket> {
    let creds = credentials::load(name, sc.credentials.as_ref())?;
    let Some(endpoint) = decision.endpoint.as_ref() else {
        bail!("store {name}: POLICY_INVALID_ENDPOINT: no endpoint");
    };
    let region = sc.region.clone().unwrap_or_default();
    let signing_region = catalog
        .provider(&sc.provider)
        .and_then(|p| p.region(&region))
        .map(|r| r.signing_region().to_owned())
        .unwrap_or(region);
    let settings = S3Settings {
        allow_http: endpoint.scheme == "http",
        endpoint: endpoint.url(),
        region: signing_region,
        bucket: sc
            .bucket
            .clone()
            .with_context(|| format!("store {name}: no bucket configured"))?,
        access_key_id: creds.access_key_id,
        secret_access_key: creds.secret_access_key,
    };
    S3Bucket::connect(&settings)
        .map_err(|e| anyhow::anyhow!("store {name}: cannot configure the S3 client: {e}"))
}
