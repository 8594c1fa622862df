//! Storage adapters for BitAtlas and the provider catalog.
#![forbid(unsafe_code)]
