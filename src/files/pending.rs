//! A file being saved: written to a fresh temporary name beside its destination, renamed over
//! it only once complete and synced, removed if never committed.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{FilesError, kind_of};

/// Temporary names tried before giving up (each is 96 random bits: a clash means something
/// else is creating names in the directory on purpose).
const TEMP_TRIES: usize = 16;

/// A destination file still being written. Nothing is visible under the destination's name
/// until [`PendingFile::commit`]; dropping it without a commit removes the temporary file.
///
/// `Send`, so the writes and the commit can run in `tokio::task::spawn_blocking`.
#[derive(Debug)]
pub struct PendingFile {
    file: File,
    /// The destination's directory, held open: the rename happens in this directory whatever
    /// its path names by then.
    dir: OwnedFd,
    temp: OsString,
    name: OsString,
    /// The destination as given (for messages).
    given: PathBuf,
    /// The destination with its directory canonical (the result of a commit).
    saved: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Creates the temporary file (mode 0600, `O_EXCL`, random name) in `dir`, the opened
    /// directory of the destination `name`.
    pub(super) fn create(
        dir: OwnedFd,
        name: OsString,
        given: PathBuf,
        saved: PathBuf,
    ) -> Result<PendingFile, FilesError> {
        check_destination(dir.as_fd(), &name, &given)?;
        for _ in 0..TEMP_TRIES {
            let mut random = [0u8; 12];
            getrandom::fill(&mut random).map_err(|_| {
                FilesError::io(
                    "create a temporary file for",
                    &given,
                    std::io::Error::other("no system randomness"),
                )
            })?;
            let temp = OsString::from(format!(".bitatlas-{}.tmp", hex::encode(random)));
            let opened = rustix::fs::openat(
                &dir,
                temp.as_os_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::RUSR | Mode::WUSR,
            );
            match opened {
                Ok(fd) => {
                    return Ok(PendingFile {
                        file: File::from(fd),
                        dir,
                        temp,
                        name,
                        given,
                        saved,
                        committed: false,
                    });
                }
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(FilesError::io("create a temporary file for", &given, e)),
            }
        }
        Err(FilesError::io(
            "create a temporary file for",
            &given,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ))
    }

    /// The temporary file, to write the content into.
    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Where the file will be saved (its directory canonical).
    pub fn path(&self) -> &Path {
        &self.saved
    }

    /// Makes the file visible under its destination name: syncs it, refuses if the
    /// destination has become a directory (or another non-file) meanwhile, renames it over the
    /// destination (atomically: readers see the old file or the new one, never a part) and
    /// syncs the directory. Returns the saved path.
    ///
    /// The rename is relative to the directory held open since [`super::FileRoots::create`]:
    /// a symbolic link put in place of the destination meanwhile is replaced, never followed.
    pub fn commit(mut self) -> Result<PathBuf, FilesError> {
        self.file
            .sync_all()
            .map_err(|e| FilesError::io("sync", &self.given, e))?;
        check_destination(self.dir.as_fd(), &self.name, &self.given)?;
        match rustix::fs::renameat(&self.dir, &self.temp, &self.dir, &self.name) {
            Ok(()) => self.committed = true,
            Err(Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST) => {
                return Err(FilesError::IsADirectory {
                    path: self.given.clone(),
                });
            }
            Err(e) => return Err(FilesError::io("rename into", &self.given, e)),
        }
        rustix::fs::fsync(&self.dir)
            .map_err(|e| FilesError::io("sync the directory of", &self.given, e))?;
        Ok(self.saved.clone())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the name is random and hidden, and nothing else refers to it.
            let _ = rustix::fs::unlinkat(&self.dir, &self.temp, AtFlags::empty());
        }
    }
}

/// The destination may be absent, a regular file or a symbolic link (which the rename
/// replaces); a directory or any other kind of file is refused.
fn check_destination(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &OsStr,
    given: &Path,
) -> Result<(), FilesError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile | FileType::Symlink => Ok(()),
            FileType::Directory => Err(FilesError::IsADirectory {
                path: given.to_owned(),
            }),
            other => Err(FilesError::NotAFile {
                path: given.to_owned(),
                kind: kind_of(other),
            }),
        },
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(FilesError::io("inspect", given, e)),
    }
}
