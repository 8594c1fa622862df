//! Storage adapters for BitAtlas and the provider catalog.
#![forbid(unsafe_code)]

pub mod catalog;
pub use catalog::{Catalog, LocationCheck, Provider, ProviderKind, Region};
