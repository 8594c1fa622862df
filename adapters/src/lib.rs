//! Storage adapters for BitAtlas and the provider catalog.
//!
//! Adapters see opaque [`StorageName`]s and sealed bytes only. Every backend runs the shared
//! [`conformance`] suite. The [`catalog`] holds, as reviewable data, where each provider's
//! regions are and how their location is verified.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
pub mod catalog;
pub mod conformance;
mod error;
mod local;
mod memory;
mod name;
mod s3;
mod store;

pub use adapter::{Adapter, ObjectMeta, Part, PresignMethod};
pub use catalog::{Catalog, LocationCheck, Provider, ProviderKind, Region};
pub use error::AdapterError;
pub use local::local;
pub use memory::memory;
pub use name::{MAX_NAME_LEN, StorageName};
pub use s3::{S3Bucket, S3Settings, parse_location};
pub use store::MIN_PART_SIZE;
pub use store::ObjectStoreAdapter;
