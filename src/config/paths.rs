//! Where BitAtlas keeps its files when the configuration does not say.

use std::path::{Path, PathBuf};

/// The data directory: `$BITATLAS_DATA_DIR`, else the platform data dir + `bitatlas`,
/// else `./bitatlas-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BITATLAS_DATA_DIR") {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .map(|d| d.join("bitatlas"))
        .unwrap_or_else(|| PathBuf::from("bitatlas-data"))
}

/// The data directory a command uses, the same for `serve` and every other command: the
/// `--data-dir` flag, else `[server] data_dir` of the configuration, else
/// [`default_data_dir`].
pub fn resolve_data_dir(flag: Option<&Path>, configured: Option<&Path>) -> PathBuf {
    flag.or(configured)
        .map(Path::to_path_buf)
        .unwrap_or_else(default_data_dir)
}

/// The keyring of the default tenant inside a data directory.
pub fn default_keyring_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("default.keyring")
}
