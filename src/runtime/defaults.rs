//! The one home of start-up defaults: the embedded zero-config setup (one local store, one
//! tenant, everything under the data directory) and the values a configuration may leave
//! out. `bitatlas serve` and `bitatlas residency report` both read them from here.

use crate::config::{ConfigFile, StoreConfig, TenantConfig};
use std::path::Path;

/// Name of the zero-config store.
pub const DEFAULT_STORE: &str = "local";
/// Catalog provider of the zero-config store.
const DEFAULT_STORE_PROVIDER: &str = "local";
/// Name of the tenant created when the configuration names none.
pub const DEFAULT_TENANT: &str = "default";
/// Country attested for the zero-config local store when nothing else is said.
pub const DEFAULT_LOCAL_COUNTRY: &str = "DE";
/// Seconds between the checks that every tenant's home store still answers (`/readyz`).
pub const DEFAULT_STORE_CHECK_SECS: u64 = 5;
/// Unfinished multipart uploads started this long before start-up are aborted (one day, as a
/// common bucket lifecycle rule does: longer than any upload in progress elsewhere takes).
pub const DEFAULT_STALE_UPLOAD_SECS: u64 = 86_400;
/// Longest request line the stdio transport reads, in bytes: one JSON-RPC message. A longer
/// line is read past without being buffered and answered `TOO_LARGE`. 16 MiB, what MCP
/// clients themselves accept for one message.
pub const STDIO_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Room a stdio line keeps for the JSON-RPC envelope around an inline payload (method, key,
/// metadata, content type): `[server] max_inline_bytes` as base64 plus this must fit in
/// [`STDIO_MAX_LINE_BYTES`].
pub const STDIO_ENVELOPE_BYTES: usize = 64 * 1024;

/// Fills in what a configuration leaves out: without stores, a local directory store named
/// [`DEFAULT_STORE`] under `data_dir/objects`; without tenants, a tenant [`DEFAULT_TENANT`]
/// on the first store.
pub fn with_defaults(mut config: ConfigFile, data_dir: &Path) -> ConfigFile {
    if config.stores.is_empty() {
        let country = config
            .server
            .local_country
            .clone()
            .unwrap_or_else(|| DEFAULT_LOCAL_COUNTRY.to_owned());
        config.stores.insert(
            DEFAULT_STORE.into(),
            StoreConfig {
                provider: DEFAULT_STORE_PROVIDER.into(),
                region: None,
                endpoint: None,
                bucket: None,
                path: Some(data_dir.join("objects")),
                country: Some(country),
                policy: None,
                credentials: None,
                ..Default::default()
            },
        );
    }
    if config.tenants.is_empty()
        && let Some(store) = config.stores.keys().next().cloned()
    {
        config.tenants.insert(
            DEFAULT_TENANT.into(),
            TenantConfig {
                store,
                policy: None,
                keyring: None,
                keyring_env: None,
                tokens: Vec::new(),
                tools: None,
                key_provider: None,
                replicas: Vec::new(),
            },
        );
    }
    config
}

/// Why `name` cannot be a tenant name, or `None` when it can: 1 to 64 ASCII letters, digits,
/// `-` and `_`, starting with a letter or digit. Such a name is a bare TOML key
/// (`[tenants.NAME]`), a file name (`keys/NAME.keyring`) and a plain audit field as it is.
pub fn tenant_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 64 {
        return Some("a tenant name has 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Some("a tenant name uses only ASCII letters, digits, '-' and '_'");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Some("a tenant name starts with a letter or a digit");
    }
    None
}

/// Seconds a tenant's keyring stays in memory after a load from its key provider
/// (`[server] key_cache_ttl_secs`).
pub const DEFAULT_KEY_CACHE_TTL_SECS: u64 = 60;
/// The longest `key_cache_ttl_secs` accepted.
pub const MAX_KEY_CACHE_TTL_SECS: u64 = 3600;
/// The Transit secrets engine's default mount path.
pub const DEFAULT_TRANSIT_MOUNT: &str = "transit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_config_is_one_local_store_and_one_tenant() {
        let c = with_defaults(ConfigFile::default(), Path::new("/d"));
        let store = &c.stores[DEFAULT_STORE];
        assert_eq!(store.provider, "local");
        assert_eq!(store.country.as_deref(), Some(DEFAULT_LOCAL_COUNTRY));
        assert_eq!(c.tenants[DEFAULT_TENANT].store, DEFAULT_STORE);
    }

    #[test]
    fn tenant_names() {
        for ok in ["default", "acme", "a", "Team-2_b", &"x".repeat(64)] {
            assert_eq!(tenant_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "bad name!",
            "a b",
            "a.b",
            "a\"b",
            "-a",
            "_a",
            "é",
            "a]\nx = 1",
            &"x".repeat(65),
        ] {
            assert!(tenant_name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
