//! Durable file writes and deletes for the local store: blocking primitives, to be called on
//! the blocking pool only.
//!
//! A write goes to a staging file beside its destination, is synced (`fdatasync`), renamed
//! over the destination, and the directory holding both is synced: once [`Staged::publish`]
//! returns, the new object and its name survive a power cut, and before it returns a reader
//! (or a crash) sees the old object or none, never a torn one. The data is synced *before* the
//! rename so that no crash can leave the final name pointing at unsynced bytes. Directories
//! created for a new name are synced up to the first one that already existed, so that the
//! path to the object survives too. A delete syncs the directory after the unlink.
//!
//! Staging files are named `<destination>#<digits>`, the shape object_store's local backend
//! uses for its own: its listing skips them and no object name can take that shape.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

/// How often creating a staging file is retried when a concurrent delete removes its
/// (empty) directory in between.
const CREATE_ATTEMPTS: usize = 8;

/// A staging file being written; removed on drop unless it was published.
#[derive(Debug)]
pub(crate) struct Staged {
    file: Option<File>,
    path: PathBuf,
    dest: PathBuf,
}

impl Staged {
    /// Creates a staging file for `dest`, creating (and syncing) missing parent directories.
    pub(crate) fn create(dest: &Path) -> io::Result<Staged> {
        let mut suffix: u64 = 1;
        let mut attempts = 0;
        loop {
            let path = staging_path(dest, suffix);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Staged {
                        file: Some(file),
                        path,
                        dest: dest.to_owned(),
                    });
                }
                // Another writer of the same name (or a crash) holds this suffix.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => suffix += 1,
                Err(e) if e.kind() == ErrorKind::NotFound && attempts < CREATE_ATTEMPTS => {
                    attempts += 1;
                    create_dirs_durably(parent(dest)?)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends `bytes`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.write_all(bytes),
            None => Err(io::Error::other("staging file already closed")),
        }
    }

    /// Syncs the data, renames the staging file over the destination and syncs the
    /// directory. Returns the metadata of the published file.
    pub(crate) fn publish(mut self) -> io::Result<Metadata> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("staging file already closed"))?;
        file.sync_data()?;
        let meta = file.metadata()?;
        drop(file);
        std::fs::rename(&self.path, &self.dest)?;
        // From here the staging name is gone: nothing is left to remove, even if the
        // directory sync fails (the object is then in place, but not known to be durable,
        // and the caller is told the write failed).
        self.path = PathBuf::new();
        sync_dir(parent(&self.dest)?)?;
        Ok(meta)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        let path = std::mem::take(&mut self.path);
        // Drop may run on an async worker (a streamed put whose caller went away between
        // parts): the unlink then goes to the blocking pool.
        let remove = move || {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != ErrorKind::NotFound
            {
                tracing::warn!(error = %e, "could not remove a staging file");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// Writes `parts` to `dest` durably (see [`Staged`]).
pub(crate) fn write_file<'a>(
    dest: &Path,
    parts: impl IntoIterator<Item = &'a [u8]>,
) -> io::Result<Metadata> {
    let mut staged = Staged::create(dest)?;
    for part in parts {
        staged.write(part)?;
    }
    staged.publish()
}

/// Removes `path` and syncs its directory; `Ok(false)` when there was no such file. Empty
/// directories left behind are then removed up to (not including) `root`; their removal is
/// not synced, since an empty directory that reappears after a crash holds no object.
pub(crate) fn remove_file(path: &Path, root: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        // A directory is not an object (a name that only prefixes others).
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => {
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    sync_nearest_dir(parent(path)?)?;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(true)
}

/// Creates `dir` and its missing ancestors, syncing each new one and the first ancestor that
/// already existed (whose entry list changed).
fn create_dirs_durably(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut existing = dir;
    while !existing.is_dir() {
        missing.push(existing);
        existing = parent(existing)?;
    }
    for d in missing.iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            // A concurrent writer created it: it syncs its own creation.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    for d in missing.iter().copied().chain(std::iter::once(existing)) {
        sync_dir(d)?;
    }
    Ok(())
}

/// Syncs `dir`, or its nearest ancestor that still exists (a concurrent delete may have
/// removed the emptied directory already, which changed the ancestor's entries instead).
fn sync_nearest_dir(mut dir: &Path) -> io::Result<()> {
    loop {
        match sync_dir(dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => dir = parent(dir)?,
            other => return other,
        }
    }
}

/// Makes the entries of `dir` durable. Directories cannot be opened and synced portably
/// outside Unix; elsewhere this does nothing.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn parent(path: &Path) -> io::Result<&Path> {
    path.parent()
        .ok_or_else(|| io::Error::other("a stored file has no parent directory"))
}

/// Whether `name` has the shape of a staging file (`<name>#<digits>`).
fn is_staging_name(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    match name.rsplit_once('#') {
        Some((dest, digits)) => {
            !dest.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Removes the staging files under `root` last written before `cutoff`: what a crash left
/// of writes that never published. Newer ones may belong to a write in progress in another
/// process and stay. Symbolic links are not followed. Returns how many were removed.
pub(crate) fn remove_stale_staging(
    root: &Path,
    cutoff: std::time::SystemTime,
) -> io::Result<usize> {
    let mut removed = 0;
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Removed meanwhile by a delete of its last object.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let before = removed;
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file()
                && is_staging_name(&entry.file_name())
                && entry.metadata()?.modified()? < cutoff
            {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if removed > before {
            sync_dir(&dir)?;
        }
    }
    Ok(removed)
}

fn staging_path(dest: &Path, suffix: u64) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(format!("#{suffix}"));
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_staging_files_are_removed_and_objects_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("t/ab/o");
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["obj", "obj#1", "obj#12", "obj#x", "#3", "other#"] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        // Nothing is older than a cut-off in the past.
        assert_eq!(
            remove_stale_staging(root.path(), std::time::UNIX_EPOCH).unwrap(),
            0
        );
        assert_eq!(remove_stale_staging(root.path(), later).unwrap(), 2);
        let mut left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["#3", "obj", "obj#x", "other#"]);
    }

    fn files_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read_dir") {
                let p = entry.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(dir).expect("under").display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_published_file_replaces_the_old_one_and_leaves_no_staging_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let dest = root.path().join("a/b/obj");
        write_file(&dest, [&b"old"[..]]).expect("first write");
        let meta = write_file(&dest, [&b"new "[..], &b"bytes"[..]]).expect("second write");
        assert_eq!(std::fs::read(&dest).expect("read"), b"new bytes");
        assert_eq!(meta.len(), 9);
        assert_eq!(files_under(root.path()), vec!["a/b/obj".to_owned()]);
    }

    #[test]
    fn an_abandoned_staging_file_is_removed_and_the_old_object_stays() {
        let root = tempfile::tempdir().expect("tempdir");
        let dest = root.path().join("obj");
        write_file(&dest, [&b"old"[..]]).expect("write");
        let mut staged = Staged::create(&dest).expect("stage");
        staged.write(b"half of the new").expect("write part");
        assert_eq!(files_under(root.path()).len(), 2, "staging file beside it");
        drop(staged);
        assert_eq!(files_under(root.path()), vec!["obj".to_owned()]);
        assert_eq!(std::fs::read(&dest).expect("read"), b"old");
    }

    #[test]
    fn a_publish_that_cannot_rename_removes_its_staging_file() {
        let root = tempfile::tempdir().expect("tempdir");
        // The destination is a non-empty directory: the rename fails.
        let dest = root.path().join("taken");
        std::fs::create_dir_all(dest.join("inside")).expect("mkdir");
        let mut staged = Staged::create(&dest).expect("stage");
        staged.write(b"bytes").expect("write");
        assert!(staged.publish().is_err(), "rename over a directory fails");
        assert!(
            files_under(root.path()).is_empty(),
            "no staging file remains: {:?}",
            files_under(root.path())
        );
    }

    #[test]
    fn removing_syncs_and_prunes_empty_directories_up_to_the_root() {
        let root = tempfile::tempdir().expect("tempdir");
        let dest = root.path().join("p/q/obj");
        write_file(&dest, [&b"x"[..]]).expect("write");
        assert!(remove_file(&dest, root.path()).expect("remove"));
        assert!(!root.path().join("p").exists(), "empty parents pruned");
        assert!(root.path().is_dir(), "the root stays");
        assert!(!remove_file(&dest, root.path()).expect("remove again"));
    }
}
