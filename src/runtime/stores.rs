//! Building each configured store and passing it through the residency guard.

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;

use bitatlas_adapters::Adapter;

use super::Stores;
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
            other => bail!("store {name}: provider {other} is not supported by this build"),
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
        stores.insert(
            name.clone(),
            Arc::new(Guard::admit_stub(placement, adapter)),
        );
    }
    Ok(stores)
}
