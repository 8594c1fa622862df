//! Configuration: the file format, its defaults and where things live on disk.

mod file;
mod paths;

pub use file::{
    AuditSection, ConfigFile, CredentialsConfig, FilesSection, HttpSection, IssuerConfig,
    KeyProviderConfig, OAuthSection, PolicyConfig, ProbeSection, ServerSection, StoreConfig,
    TenantConfig,
};
pub use paths::{default_data_dir, default_keyring_path, resolve_data_dir};

use std::path::Path;

/// Reads and parses a configuration file.
pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))
}
