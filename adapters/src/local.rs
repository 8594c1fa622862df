//! A local directory store.
//!
//! Reads, heads and listings go through object_store's `LocalFileSystem`; writes and deletes
//! are this crate's own ([`crate::durable`]) so that an acknowledged one is synced: the data
//! before the rename that publishes it, the directory after. `LocalFileSystem` itself never
//! syncs a delete, and a staging file of its multipart upload survives a failed completion.
//! Names map to files exactly as `LocalFileSystem` maps them, so existing directories keep
//! working. Every blocking call runs on the blocking pool.
//!
//! The directory's country cannot be verified by software: the operator attests it.

use std::fs::Metadata;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::local::LocalFileSystem;

use crate::adapter::CUT_SHORT;
use crate::durable::{self, Staged};
use crate::{Adapter, AdapterError, ObjectMeta, ObjectStoreAdapter, Part, StorageName, Written};

/// Parts of a streamed put smaller than this are gathered before one write, so that small
/// parts do not each cost a hand-off to the blocking pool.
const WRITE_PIECE: usize = 1024 * 1024;

/// A local directory store whose acknowledged writes and deletes are durable.
#[derive(Debug, Clone)]
pub struct LocalStore {
    fs: Arc<LocalFileSystem>,
    reads: ObjectStoreAdapter,
    root: PathBuf,
}

/// Opens (creating if needed) a local directory store rooted at `dir`.
pub fn local(dir: &Path) -> Result<LocalStore, AdapterError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        tracing::error!(error = %e, "cannot create local store directory");
        AdapterError::Unavailable("cannot create local store directory")
    })?;
    let root = std::fs::canonicalize(dir).map_err(|e| {
        tracing::error!(error = %e, "cannot resolve local store directory");
        AdapterError::Unavailable("cannot resolve local store directory")
    })?;
    let fs = Arc::new(LocalFileSystem::new_with_prefix(&root)?);
    Ok(LocalStore {
        reads: ObjectStoreAdapter::new(fs.clone(), "local"),
        fs,
        root,
    })
}

impl LocalStore {
    /// Removes what crashed writes left (staging files last written before `cutoff`);
    /// returns how many.
    pub async fn remove_stale_staging(
        &self,
        cutoff: std::time::SystemTime,
    ) -> Result<usize, AdapterError> {
        let root = self.root.clone();
        blocking(move || durable::remove_stale_staging(&root, cutoff)).await
    }

    /// The file that holds `name`.
    fn file(&self, name: &StorageName) -> Result<PathBuf, AdapterError> {
        Ok(self.fs.path_to_filesystem(name.path())?)
    }
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, AdapterError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done.map_err(io_error),
        Err(_) => Err(AdapterError::Unavailable("local store task failed")),
    }
}

/// Maps a file error; the message (which names host paths) goes to the debug log only.
fn io_error(e: std::io::Error) -> AdapterError {
    use std::io::ErrorKind as K;
    tracing::debug!(error = %e, "local store error");
    match e.kind() {
        K::PermissionDenied | K::ReadOnlyFilesystem => AdapterError::PermissionDenied,
        K::StorageFull | K::QuotaExceeded => AdapterError::Full,
        _ => AdapterError::Unavailable("local store I/O failed"),
    }
}

/// The entity tag of a written file, in the form `LocalFileSystem` reports for it on head
/// and list (inode, modification time in microseconds, size), so that a write's tag and a
/// later head's agree (the conformance suite checks it).
fn e_tag(meta: &Metadata) -> String {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    format!("\"{inode:x}-{mtime:x}-{:x}\"", meta.len())
}

#[async_trait]
impl Adapter for LocalStore {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn put(&self, name: &StorageName, bytes: Bytes) -> Result<Written, AdapterError> {
        let dest = self.file(name)?;
        let meta = blocking(move || durable::write_file(&dest, [&bytes[..]])).await?;
        Ok(Some(e_tag(&meta)))
    }

    async fn put_parts(
        &self,
        name: &StorageName,
        mut parts: tokio::sync::mpsc::Receiver<Part>,
    ) -> Result<Written, AdapterError> {
        let dest = self.file(name)?;
        // The staging file exists from the first full piece on; dropping it (an error, or
        // this future dropped) removes it, so nothing of a put that did not end remains.
        let mut staged: Option<Staged> = None;
        let mut gathered: Vec<Bytes> = Vec::new();
        let mut gathered_len = 0;
        loop {
            match parts.recv().await {
                Some(Part::Data(bytes)) => {
                    gathered_len += bytes.len();
                    gathered.push(bytes);
                }
                Some(Part::End) => break,
                None => return Err(AdapterError::Unavailable(CUT_SHORT)),
            }
            if gathered_len >= WRITE_PIECE {
                let piece = std::mem::take(&mut gathered);
                gathered_len = 0;
                let dest = dest.clone();
                let current = staged.take();
                staged = Some(
                    blocking(move || {
                        let mut s = match current {
                            Some(s) => s,
                            None => Staged::create(&dest)?,
                        };
                        piece.iter().try_for_each(|b| s.write(b))?;
                        Ok(s)
                    })
                    .await?,
                );
            }
        }
        let current = staged.take();
        let meta = blocking(move || {
            let mut s = match current {
                Some(s) => s,
                None => Staged::create(&dest)?,
            };
            gathered.iter().try_for_each(|b| s.write(b))?;
            s.publish()
        })
        .await?;
        Ok(Some(e_tag(&meta)))
    }

    async fn get(&self, name: &StorageName) -> Result<Bytes, AdapterError> {
        self.reads.get(name).await
    }

    async fn get_range(
        &self,
        name: &StorageName,
        range: Range<u64>,
    ) -> Result<Bytes, AdapterError> {
        self.reads.get_range(name, range).await
    }

    async fn head(&self, name: &StorageName) -> Result<ObjectMeta, AdapterError> {
        self.reads.head(name).await
    }

    async fn delete(&self, name: &StorageName) -> Result<bool, AdapterError> {
        let path = self.file(name)?;
        let root = self.root.clone();
        blocking(move || durable::remove_file(&path, &root)).await
    }

    async fn list(&self, prefix: &StorageName) -> Result<Vec<ObjectMeta>, AdapterError> {
        self.reads.list(prefix).await
    }
}
