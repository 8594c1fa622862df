//! The release `bitatlas` binary the MCP benchmarks start as a child process.

use std::path::PathBuf;
use std::process::Command;

/// Builds `bitatlas` in release mode and returns its path: `$BITATLAS_BIN` when set, else
/// `release/bitatlas` under `$CARGO_TARGET_DIR` (or this package's `target/`).
pub fn release_bitatlas() -> PathBuf {
    if let Some(bin) = std::env::var_os("BITATLAS_BIN") {
        return PathBuf::from(bin);
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "bitatlas"])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release failed");
    // A relative CARGO_TARGET_DIR is relative to the package root, where cargo runs benches.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release/bitatlas");
    assert!(bin.is_file(), "no binary at {}", bin.display());
    bin
}
