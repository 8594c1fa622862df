//! The `bitatlas` binary the MCP benchmarks start as a child process.

use std::path::PathBuf;

/// `$BITATLAS_BIN` when set, else the binary Cargo built with this benchmark (release profile
/// under `cargo bench`).
pub fn release_bitatlas() -> PathBuf {
    std::env::var_os("BITATLAS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_bitatlas")))
}
