//! A local directory store (object_store `LocalFileSystem`).
//!
//! Writes go to a temporary file that is renamed into place, so readers never see a partial
//! object. The directory's country cannot be verified by software: the operator attests it.

use std::path::Path;
use std::sync::Arc;

use object_store::local::LocalFileSystem;

use crate::{AdapterError, ObjectStoreAdapter};

/// Opens (creating if needed) a local directory store rooted at `dir`.
pub fn local(dir: &Path) -> Result<ObjectStoreAdapter, AdapterError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        tracing::error!(error = %e, "cannot create local store directory");
        AdapterError::Unavailable("cannot create local store directory")
    })?;
    let fs = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
    Ok(ObjectStoreAdapter::new(Arc::new(fs), "local"))
}
