//! An in-memory store for unit tests; nothing survives the process.

use std::sync::Arc;

use object_store::memory::InMemory;

use crate::ObjectStoreAdapter;

/// A fresh, empty in-memory store.
pub fn memory() -> ObjectStoreAdapter {
    ObjectStoreAdapter::new(Arc::new(InMemory::new()), "memory")
}
