//! Storage adapters for BitAtlas and the provider catalog.
//!
//! Adapters see opaque [`StorageName`]s and sealed bytes only. Every backend runs the shared
//! [`conformance`] suite.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
pub mod conformance;
mod error;
mod local;
mod memory;
mod name;
mod store;

pub use adapter::{Adapter, ObjectMeta};
pub use error::AdapterError;
pub use local::local;
pub use memory::memory;
pub use name::{MAX_NAME_LEN, StorageName};
pub use store::ObjectStoreAdapter;
