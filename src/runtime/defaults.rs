//! The embedded default configuration: one local store, one tenant, everything under the
//! data directory.

use crate::config::{ConfigFile, StoreConfig, TenantConfig};
use std::path::Path;

/// Country attested for the zero-config local store when nothing else is said.
pub const DEFAULT_LOCAL_COUNTRY: &str = "DE";

/// Fills in what a configuration leaves out: without stores, a local directory store named
/// `local` under `data_dir/objects`; without tenants, a tenant `default` on the first store.
pub fn with_defaults(mut config: ConfigFile, data_dir: &Path) -> ConfigFile {
    if config.stores.is_empty() {
        let country = config
            .server
            .local_country
            .clone()
            .unwrap_or_else(|| DEFAULT_LOCAL_COUNTRY.to_owned());
        config.stores.insert(
            "local".into(),
            StoreConfig {
                provider: "local".into(),
                region: None,
                endpoint: None,
                bucket: None,
                path: Some(data_dir.join("objects")),
                country: Some(country),
                policy: None,
                credentials: None,
            },
        );
    }
    if config.tenants.is_empty()
        && let Some(store) = config.stores.keys().next().cloned()
    {
        config.tenants.insert(
            "default".into(),
            TenantConfig {
                store,
                policy: None,
                keyring: None,
                keyring_env: None,
                tokens: Vec::new(),
            },
        );
    }
    config
}
