//! What the operator commands that act on one tenant of an installation (`erase`, `export`,
//! `locate`, `keys rotate|rewrap|retire --tenant`, `replicas`) share: the configuration and data
//! directory `serve` would use, a known tenant, and a runtime to build the service on.

use std::path::{Path, PathBuf};

use super::Exit;
use crate::config::{ConfigFile, resolve_data_dir};
use crate::runtime;

/// The configuration (with the defaults `serve` adds) and data directory for `config` and
/// `data_dir` as given on the command line; exit 2 when `tenant` is not configured.
pub fn load(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    tenant: &str,
) -> Result<(ConfigFile, PathBuf), Exit> {
    let file = match config {
        Some(path) => crate::config::load(path).map_err(|e| {
            eprintln!("bitatlas: {e:#}");
            Exit::Failure
        })?,
        None => ConfigFile::default(),
    };
    let data_dir = resolve_data_dir(data_dir, file.server.data_dir.as_deref());
    let file = runtime::with_defaults(file, &data_dir);
    if !file.tenants.contains_key(tenant) {
        eprintln!("bitatlas: no tenant named {tenant:?} in the configuration");
        return Err(Exit::Usage);
    }
    Ok((file, data_dir))
}

/// A multi-threaded runtime for one command.
pub fn tokio_runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("bitatlas: cannot start runtime: {e}");
        Exit::Failure
    })
}
