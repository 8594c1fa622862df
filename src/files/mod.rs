//! Local files, read and written only inside configured roots.
//!
//! `put {path}` and `get {save_to}` let a stdio agent move files of any size without passing
//! their bytes through the model. The service opens them here, never the MCP layer. The rules
//! (see `docs/files.md`), learned from CVE-2025-53109/53110 in the official filesystem server:
//! - an absolute path must lie inside a root, compared component by component (`/data` does
//!   not contain `/data-evil`); a relative path resolves against the first root;
//! - the open itself is relative to the root's open directory and cannot leave it: `..`, or a
//!   symbolic link anywhere in the path, that leads out is refused (see [`resolve`]), at open
//!   time, so a link swapped in after a check cannot win;
//! - only regular files are read: a FIFO is opened non-blocking and refused, as are devices,
//!   sockets and directories;
//! - a save writes a fresh temporary file (mode 0600) beside the destination and renames it
//!   over the destination only when complete ([`PendingFile`]): never over a directory, never
//!   half-written under the destination's name; directories are never created.

mod error;
mod pending;
mod resolve;

pub use error::FilesError;
pub use pending::PendingFile;

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, OFlags};
use rustix::io::Errno;

use resolve::{Beneath, Refusal, Resolver, open_beneath};

/// The directories local files may be read from and saved to. Empty: local files are off.
#[derive(Debug)]
pub struct FileRoots {
    roots: Vec<Root>,
    resolver: Resolver,
}

/// One root: how it was configured, where it really is, and its open directory.
#[derive(Debug)]
struct Root {
    /// As configured, made absolute (not resolved).
    given: PathBuf,
    /// Canonical: symbolic links resolved.
    canonical: PathBuf,
    /// Every path is opened relative to this handle.
    dir: OwnedFd,
}

impl Root {
    fn beneath(&self) -> Beneath<'_> {
        Beneath {
            dir: self.dir.as_fd(),
            names: [&self.given, &self.canonical],
        }
    }

    /// A path under the root for messages and results: canonical when it can be resolved.
    fn display(&self, rel: &Path) -> PathBuf {
        let joined = self.canonical.join(rel);
        std::fs::canonicalize(&joined).unwrap_or(joined)
    }
}

/// A regular file opened for reading inside a root.
#[derive(Debug)]
pub struct ReadFile {
    /// The open file (blocking reads).
    pub file: File,
    /// Its size when opened, in bytes.
    pub len: u64,
    /// Its canonical path, for messages.
    pub path: PathBuf,
}

impl Default for FileRoots {
    fn default() -> Self {
        FileRoots::disabled()
    }
}

impl FileRoots {
    /// No roots: every operation answers [`FilesError::Disabled`].
    pub fn disabled() -> FileRoots {
        FileRoots {
            roots: Vec::new(),
            resolver: Resolver::Walk,
        }
    }

    /// Opens `roots`: each must exist and be a directory. A relative root is taken relative to
    /// the current directory. An empty list is [`FileRoots::disabled`].
    pub fn new(roots: &[PathBuf]) -> Result<FileRoots, FilesError> {
        let mut opened: Vec<Root> = Vec::new();
        for root in roots {
            let r = open_root(root)?;
            // The same directory named twice is one root.
            if !opened.iter().any(|o| o.canonical == r.canonical) {
                opened.push(r);
            }
        }
        let resolver = match opened.first() {
            Some(r) => Resolver::detect(r.dir.as_fd()),
            None => Resolver::Walk,
        };
        Ok(FileRoots {
            roots: opened,
            resolver,
        })
    }

    /// Like [`FileRoots::new`] with the portable resolver, to test it on any system.
    #[cfg(test)]
    fn with_walk(roots: &[PathBuf]) -> Result<FileRoots, FilesError> {
        let mut f = FileRoots::new(roots)?;
        f.resolver = Resolver::Walk;
        Ok(f)
    }

    /// Whether any root is configured.
    pub fn is_enabled(&self) -> bool {
        !self.roots.is_empty()
    }

    /// The roots, canonical, in configured order (the first resolves relative paths).
    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.canonical.as_path())
    }

    /// Opens the regular file at `path` for reading.
    pub fn open_read(&self, path: &str) -> Result<ReadFile, FilesError> {
        let (root, rel, given) = self.locate(path)?;
        let fd = open_beneath(
            self.resolver,
            &root.beneath(),
            &rel,
            // Non-blocking so that opening a FIFO returns at once (to be refused below)
            // instead of waiting for a writer; no controlling terminal from a tty.
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
        )
        .map_err(|r| self.refused(r, &given, false))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| FilesError::io("inspect", &given, e))?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => {}
            FileType::Directory => return Err(FilesError::IsADirectory { path: given }),
            other => {
                return Err(FilesError::NotAFile {
                    path: given,
                    kind: kind_of(other),
                });
            }
        }
        // Regular files ignore O_NONBLOCK; cleared anyway so the handle is an ordinary one.
        let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| FilesError::io("open", &given, e))?;
        rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)
            .map_err(|e| FilesError::io("open", &given, e))?;
        Ok(ReadFile {
            file: File::from(fd),
            len: u64::try_from(stat.st_size).unwrap_or(0),
            path: root.display(&rel),
        })
    }

    /// Starts saving a file at `path`: its directory must exist inside a root; the destination
    /// may be absent, a regular file or a symbolic link (replaced, not followed), never a
    /// directory. Write through [`PendingFile::file_mut`], then [`PendingFile::commit`].
    pub fn create(&self, path: &str) -> Result<PendingFile, FilesError> {
        let (root, rel, given) = self.locate(path)?;
        let name: OsString = match rel.components().next_back() {
            Some(Component::Normal(n)) => n.to_owned(),
            None => return Err(FilesError::IsADirectory { path: given }),
            Some(_) => {
                return Err(FilesError::InvalidPath {
                    reason: "the path ends with '..': name the file to write",
                });
            }
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        let dir = open_beneath(
            self.resolver,
            &root.beneath(),
            parent,
            OFlags::RDONLY | OFlags::DIRECTORY,
        )
        .map_err(|r| self.refused(r, &given, true))?;
        let saved = root.display(parent).join(&name);
        PendingFile::create(dir, name, given, saved)
    }

    /// The root `path` lies in and the path relative to it (without `.` components), plus the
    /// path as given for messages.
    fn locate(&self, path: &str) -> Result<(&Root, PathBuf, PathBuf), FilesError> {
        let first = self.roots.first().ok_or(FilesError::Disabled)?;
        if path.is_empty() {
            return Err(FilesError::InvalidPath {
                reason: "the path is empty",
            });
        }
        if path.contains('\0') {
            return Err(FilesError::InvalidPath {
                reason: "the path contains a NUL byte",
            });
        }
        if matches!(path.rsplit('/').next(), Some("" | ".")) {
            return Err(FilesError::InvalidPath {
                reason: "the path ends with '/' or '.': name a file",
            });
        }
        let given = PathBuf::from(path);
        let (root, rest) = if given.is_absolute() {
            // Path::strip_prefix compares whole components: `/data` is no prefix of
            // `/data-evil/x`.
            self.roots
                .iter()
                .find_map(|r| {
                    given
                        .strip_prefix(&r.given)
                        .or_else(|_| given.strip_prefix(&r.canonical))
                        .ok()
                        .map(|rest| (r, rest))
                })
                .ok_or_else(|| self.outside(&given))?
        } else {
            (first, given.as_path())
        };
        let rel: PathBuf = rest
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        Ok((root, rel, given))
    }

    fn outside(&self, path: &Path) -> FilesError {
        FilesError::OutsideRoot {
            path: path.to_owned(),
            roots: self.roots().map(Path::to_path_buf).collect(),
        }
    }

    /// The error for a refused open; `saving`: the open was of a destination's directory.
    fn refused(&self, r: Refusal, given: &Path, saving: bool) -> FilesError {
        let path = given.to_owned();
        match r {
            Refusal::Escapes => self.outside(given),
            Refusal::Os(Errno::NOENT | Errno::NOTDIR) if saving => {
                FilesError::MissingDirectory { path }
            }
            Refusal::Os(Errno::NOENT | Errno::NOTDIR) => FilesError::NotFound {
                path,
                roots: self.roots().map(Path::to_path_buf).collect(),
            },
            Refusal::Os(Errno::LOOP | Errno::MLINK) => FilesError::InvalidPath {
                reason: "too many symbolic links, or a link changed while the path was opened",
            },
            Refusal::Os(Errno::NAMETOOLONG) => FilesError::InvalidPath {
                reason: "a name in the path is too long",
            },
            // open(2) of a socket, or of a device without a driver.
            Refusal::Os(Errno::NXIO) => FilesError::NotAFile {
                path,
                kind: "a socket or a device",
            },
            Refusal::Os(Errno::ISDIR) => FilesError::IsADirectory { path },
            Refusal::Os(e) => FilesError::io("open", given, e),
        }
    }
}

/// Opens one configured root.
fn open_root(root: &Path) -> Result<Root, FilesError> {
    let invalid = |reason: String| FilesError::InvalidRoot {
        root: root.to_owned(),
        reason,
    };
    let given =
        std::path::absolute(root).map_err(|e| invalid(format!("not a usable path: {e}")))?;
    let canonical = std::fs::canonicalize(&given).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid("does not exist".into()),
        _ => invalid(format!("cannot be resolved: {e}")),
    })?;
    let dir = rustix::fs::openat(
        rustix::fs::CWD,
        &canonical,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOTDIR => invalid("is not a directory".into()),
        e => invalid(format!("cannot be opened: {}", std::io::Error::from(e))),
    })?;
    Ok(Root {
        given,
        canonical,
        dir,
    })
}

/// How a non-regular file is named in messages.
fn kind_of(t: FileType) -> &'static str {
    match t {
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Socket => "a socket",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        _ => "of an unknown kind",
    }
}

#[cfg(test)]
mod tests;
