//! Opening a path beneath a root's directory handle, so that nothing outside it can be reached.
//!
//! Two resolvers, both relative to the open root directory rather than to a path string, so a
//! check and the open it protects are one step (no TOCTOU):
//! - Linux: the kernel's `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` refuses any
//!   `..`, symbolic link or absolute name that would leave the root, checked during the open.
//! - The portable walk: one `openat(.., O_NOFOLLOW)` per component from the held directory
//!   handles, reading each symbolic link and resolving its target the same way. `..` moves up
//!   the handles already held and never above the root, so the walk can only reach what lies
//!   under the root's directory, whatever is renamed or swapped meanwhile.
//!
//! The kernel refuses every absolute symbolic link, even one naming a place inside the root;
//! the walk accepts those whose target lies (lexically) under the root. So on Linux a refusal
//! by the kernel is tried once more with the walk, which has the last word.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Most symbolic links followed in one resolution (Linux's own limit).
const MAX_LINKS: usize = 40;

/// How paths are resolved beneath a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolver {
    /// The kernel's `openat2` (Linux 5.6 and later), with the walk for absolute links.
    #[cfg(target_os = "linux")]
    Kernel,
    /// The portable component-by-component walk.
    Walk,
}

impl Resolver {
    /// The best resolver this system offers, probed on an open root directory.
    pub(crate) fn detect(root: BorrowedFd<'_>) -> Resolver {
        #[cfg(target_os = "linux")]
        {
            let probe = rustix::fs::openat2(
                root,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                kernel_resolve(),
            );
            match probe {
                Err(Errno::NOSYS) => {
                    tracing::warn!(
                        "openat2 is not available (Linux 5.6 or later is needed); local file \
                         paths are resolved component by component instead"
                    );
                    Resolver::Walk
                }
                _ => Resolver::Kernel,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = root;
            Resolver::Walk
        }
    }
}

/// Why a path could not be opened beneath its root.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A `..`, a symbolic link or an absolute name leads outside the root.
    Escapes,
    /// The operating system's answer (`ENOENT`, `ENOTDIR`, `ELOOP`, `ENXIO`, ...).
    Os(Errno),
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        Refusal::Os(e)
    }
}

/// The root a path is resolved beneath: its open directory and the absolute spellings that
/// name it (to place absolute symbolic link targets).
pub(crate) struct Beneath<'a> {
    /// The root's open directory.
    pub dir: BorrowedFd<'a>,
    /// Absolute names of the root: as configured, and canonical.
    pub names: [&'a Path; 2],
}

/// Opens `rel` (relative, `..` allowed) beneath `root` with `flags` (plus `O_CLOEXEC`).
/// An empty `rel` opens the root itself.
pub(crate) fn open_beneath(
    resolver: Resolver,
    root: &Beneath<'_>,
    rel: &Path,
    flags: OFlags,
) -> Result<OwnedFd, Refusal> {
    let flags = flags | OFlags::CLOEXEC;
    match resolver {
        #[cfg(target_os = "linux")]
        Resolver::Kernel => match kernel(root.dir, rel, flags) {
            Err(Refusal::Escapes) => walk(root, rel, flags),
            other => other,
        },
        Resolver::Walk => walk(root, rel, flags),
    }
}

#[cfg(target_os = "linux")]
fn kernel_resolve() -> rustix::fs::ResolveFlags {
    rustix::fs::ResolveFlags::BENEATH | rustix::fs::ResolveFlags::NO_MAGICLINKS
}

/// `openat2` beneath `dir`.
#[cfg(target_os = "linux")]
fn kernel(dir: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> Result<OwnedFd, Refusal> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    // EAGAIN: a rename raced a `..` and the kernel could not rule out an escape; it asks for
    // a retry. A few tries, then the answer stands.
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, rel, flags, Mode::empty(), kernel_resolve()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::XDEV) => return Err(Refusal::Escapes),
            Err(Errno::AGAIN) if tries < 8 => tries += 1,
            Err(e) => return Err(Refusal::Os(e)),
        }
    }
}

/// The portable walk: each component opened with `O_NOFOLLOW` relative to the directory
/// reached so far; symbolic links read and their targets queued in place of the link.
fn walk(root: &Beneath<'_>, rel: &Path, flags: OFlags) -> Result<OwnedFd, Refusal> {
    // Directories entered below the root, innermost last; `..` pops one.
    let mut held: Vec<OwnedFd> = Vec::new();
    let mut queue: VecDeque<OsString> = VecDeque::new();
    push_front(&mut queue, rel)?;
    let mut links = 0;
    while let Some(name) = queue.pop_front() {
        if name == ".." {
            if held.pop().is_none() {
                return Err(Refusal::Escapes);
            }
            continue;
        }
        let here = held.last().map_or(root.dir, |d| d.as_fd());
        let last = queue.is_empty();
        let opened = if last {
            rustix::fs::openat(here, &name, flags | OFlags::NOFOLLOW, Mode::empty())
        } else {
            rustix::fs::openat(
                here,
                &name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        match opened {
            Ok(fd) if last => return Ok(fd),
            Ok(fd) => held.push(fd),
            // O_NOFOLLOW met a symbolic link (ELOOP; EMLINK on FreeBSD; ENOTDIR when
            // O_DIRECTORY is checked first): if `name` is a link, follow it by hand.
            Err(e @ (Errno::LOOP | Errno::MLINK | Errno::NOTDIR)) => {
                let target = match rustix::fs::readlinkat(here, &name, Vec::new()) {
                    Ok(t) => t,
                    Err(_) => return Err(Refusal::Os(e)),
                };
                links += 1;
                if links > MAX_LINKS {
                    return Err(Refusal::Os(Errno::LOOP));
                }
                let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                if target.as_os_str().is_empty() {
                    return Err(Refusal::Os(Errno::NOENT));
                }
                if target.is_absolute() {
                    let inside = root
                        .names
                        .iter()
                        .find_map(|r| target.strip_prefix(r).ok())
                        .ok_or(Refusal::Escapes)?;
                    held.clear();
                    push_front(&mut queue, inside)?;
                } else {
                    push_front(&mut queue, target)?;
                }
            }
            Err(e) => return Err(Refusal::Os(e)),
        }
    }
    // The path ended in `..` (or was empty): open the directory reached.
    let here = held.last().map_or(root.dir, |d| d.as_fd());
    Ok(rustix::fs::openat(here, ".", flags, Mode::empty())?)
}

/// Queues the components of a relative path ahead of those already queued.
fn push_front(queue: &mut VecDeque<OsString>, rel: &Path) -> Result<(), Refusal> {
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n.to_owned()),
            Component::ParentDir => names.push(OsString::from("..")),
            Component::CurDir => {}
            // Callers pass relative paths; a root component here would be a bug, refused.
            Component::RootDir | Component::Prefix(_) => return Err(Refusal::Escapes),
        }
    }
    for n in names.into_iter().rev() {
        queue.push_front(n);
    }
    Ok(())
}
