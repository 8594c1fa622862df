//! Storage adapters for BitAtlas and the provider catalog.
//!
//! Adapters see opaque [`StorageName`]s and sealed bytes only. Every backend runs the shared
//! conformance suite (module `conformance`, behind the `conformance` feature so that its
//! asserts and large buffers never ship). The [`catalog`] holds, as reviewable data, where each
//! provider's regions are and how their location is verified; [`location`] is the one strict
//! parser of S3 location answers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
pub mod catalog;
#[cfg(feature = "conformance")]
pub mod conformance;
mod durable;
mod error;
mod local;
pub mod location;
mod memory;
mod name;
mod replicated;
mod s3;
mod s3_answer;
mod s3_uploads;
mod store;

pub use adapter::{Adapter, ObjectMeta, Part, PresignMethod, Written};
pub use catalog::{Catalog, LocationCheck, Provider, ProviderKind, Region};
pub use error::AdapterError;
pub use local::{LocalStore, local};
pub use location::{LocationParseError, is_location_value, parse_location};
pub use memory::memory;
pub use name::{MAX_NAME_LEN, StorageName};
pub use replicated::{COOL_DOWN, CopyCounts, Replicated, tracking};
pub use s3::{S3Bucket, S3Settings, S3Timeouts};
pub use s3_answer::{BUCKET_REGION_HEADER, BucketLocation, LocationError};
pub use s3_uploads::{Upload, UploadPage, UploadsParseError, parse_uploads};
pub use store::MIN_PART_SIZE;
pub use store::ObjectStoreAdapter;
