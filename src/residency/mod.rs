//! Placeholder until the residency module lands (same API).
#![allow(missing_docs, dead_code)]
use serde::Serialize;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Placement {
    pub store: String,
    pub provider: String,
    pub region: String,
    pub country: String,
    pub attested: bool,
}
#[derive(Debug)]
pub struct GuardedStore<A> {
    placement: Placement,
    adapter: A,
    endpoint_host: Option<String>,
}
impl<A> GuardedStore<A> {
    pub fn placement(&self) -> &Placement {
        &self.placement
    }
    pub fn adapter(&self) -> &A {
        &self.adapter
    }
    pub fn endpoint_host(&self) -> Option<&str> {
        self.endpoint_host.as_deref()
    }
}
pub enum LocationEvidence {
    Attested { country: String },
}
pub struct Guard;
impl Guard {
    pub fn admit_stub<A>(
        placement: Placement,
        adapter: A,
        endpoint_host: Option<String>,
    ) -> GuardedStore<A> {
        GuardedStore {
            placement,
            adapter,
            endpoint_host,
        }
    }
}
