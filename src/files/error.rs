//! What can go wrong with a local file, as a type with a stable code per kind.
//!
//! Messages name paths (the caller's own input, or the roots) and say what to do; they never
//! contain a byte of any file's content.

use std::path::{Path, PathBuf};

/// A refused or failed local file operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// No file root is configured, so local files are off.
    #[error(
        "local files are disabled: no file root is configured; start the server with \
         `bitatlas serve --files-root DIR` or set `[files] roots = [\"/abs/dir\"]` in the \
         configuration file"
    )]
    Disabled,
    /// The path lies outside every root, or a `..` or a symbolic link on the way leads out.
    #[error(
        "{} is outside the file roots ({}): give a path inside one of them (a relative path \
         resolves against {}); `..` and symbolic links that lead out of a root are refused",
        path.display(), list(roots), first(roots)
    )]
    OutsideRoot {
        /// The path as given.
        path: PathBuf,
        /// The configured roots (canonical).
        roots: Vec<PathBuf>,
    },
    /// The path names something that is neither a regular file nor a directory.
    #[error("{} is {kind}, not a regular file: only regular files are read or replaced", path.display())]
    NotAFile {
        /// The path as given.
        path: PathBuf,
        /// What it is instead (`a FIFO`, `a device`, `a socket`, ...).
        kind: &'static str,
    },
    /// The path names a directory where a file is needed.
    #[error("{} is a directory: name a file inside it", path.display())]
    IsADirectory {
        /// The path as given.
        path: PathBuf,
    },
    /// Nothing exists at the path.
    #[error("{} does not exist: check the path (relative paths resolve against {})", path.display(), first(roots))]
    NotFound {
        /// The path as given.
        path: PathBuf,
        /// The configured roots (canonical).
        roots: Vec<PathBuf>,
    },
    /// The directory a file is to be saved in does not exist (or is not a directory).
    #[error(
        "cannot save {}: its directory does not exist or is not a directory; create the \
         directory first (directories are never created)",
        path.display()
    )]
    MissingDirectory {
        /// The destination as given.
        path: PathBuf,
    },
    /// The path itself is malformed.
    #[error("invalid path: {reason}")]
    InvalidPath {
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A configured root is unusable (start-up).
    #[error(
        "file root {}: {reason}; fix `--files-root` or `[files] roots`",
        root.display()
    )]
    InvalidRoot {
        /// The root as configured.
        root: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The operating system refused or failed an operation on an acceptable path.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `read`, `write`, `sync`, `rename`, ...).
        op: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl FilesError {
    /// The stable code of this error, as tools report it.
    pub fn code(&self) -> &'static str {
        match self {
            FilesError::Disabled => "FILES_DISABLED",
            FilesError::OutsideRoot { .. } => "PATH_OUTSIDE_ROOT",
            FilesError::NotAFile { .. } => "NOT_A_FILE",
            FilesError::IsADirectory { .. } => "IS_A_DIRECTORY",
            FilesError::NotFound { .. } | FilesError::MissingDirectory { .. } => "FILE_NOT_FOUND",
            FilesError::InvalidPath { .. } | FilesError::InvalidRoot { .. } => "INVALID_PATH",
            FilesError::Io { .. } => "FILE_IO",
        }
    }

    /// An I/O failure of `op` on `path`.
    pub(crate) fn io(op: &'static str, path: &Path, source: impl Into<std::io::Error>) -> Self {
        FilesError::Io {
            op,
            path: path.to_owned(),
            source: source.into(),
        }
    }
}

fn list(roots: &[PathBuf]) -> String {
    let names: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    names.join(", ")
}

fn first(roots: &[PathBuf]) -> String {
    roots
        .first()
        .map(|r| r.display().to_string())
        .unwrap_or_default()
}
