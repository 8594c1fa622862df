//! Residency: the provider catalog, policies and the guard.
//!
//! The guard is the only way to obtain a usable store ([`GuardedStore`]). It decides from exact
//! data — provider id, region id, country, endpoint host — never from string prefixes, and
//! every refusal carries a stable [`ResidencyCode`]. See `docs/residency.md`.
//!
//! Flow: [`check`] (static, no I/O) → the caller asks the store where the bucket is
//! (GetBucketLocation, or the operator's attestation for local stores) → [`Guard::admit`]
//! interprets that evidence and, only if it matches, hands out a [`GuardedStore`].

pub mod eea;
pub mod endpoint;
pub mod grant;
mod guard;
pub mod policy;

use bitatlas_adapters::catalog::ProviderKind;
use serde::{Serialize, Serializer};

pub use bitatlas_adapters::catalog::{Catalog, Provider, Region};
pub use grant::{Grant, GrantNeed, Grants};
pub use guard::{
    Copies, Guard, GuardedStore, LocationEvidence, Placement, ReplicaSet, check,
    check_location_answer, check_presigned_url, parse_location_answer,
};
pub use policy::{DataClass, EEA_POLICY, Policies, Policy};

use crate::config::StoreConfig;

/// The outcome code of a residency decision. `as_str()` values are a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResidencyCode {
    /// Allowed.
    Ok,
    /// The region's country is outside the EEA (and not admitted by adequacy).
    NonEeaRegion,
    /// The endpoint host is not a host of the configured region, and is not known to be in
    /// the EEA (another provider's host, a non-EEA region's host, or an unknown host).
    NonEeaEndpoint,
    /// The provider id is not in the catalog.
    UnknownProvider,
    /// The region id is not in the catalog for this provider (exact match).
    UnknownRegion,
    /// The verified location differs from the configuration (wrong region host, or a
    /// GetBucketLocation answer that is not the configured region, or unparseable).
    LocationMismatch,
    /// `sovereign = true` and the provider's owner is outside the EU/EEA.
    Sovereignty,
    /// The country is in the EEA but outside the policy's narrower country list.
    CountryNotAllowed,
    /// The region is listed in the policy's `deny_regions`.
    RegionDenied,
    /// A self-hosted or local store has no (valid) attested country.
    AttestationRequired,
    /// The endpoint is an acceleration, CDN or global host.
    ForbiddenEndpoint,
    /// The endpoint is malformed or uses a refused form (user info, IP literal, http, port,
    /// path, non-ASCII, ...).
    InvalidEndpoint,
}

impl ResidencyCode {
    /// The stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            ResidencyCode::Ok => "OK",
            ResidencyCode::NonEeaRegion => "POLICY_NON_EEA_REGION",
            ResidencyCode::NonEeaEndpoint => "POLICY_NON_EEA_ENDPOINT",
            ResidencyCode::UnknownProvider => "POLICY_UNKNOWN_PROVIDER",
            ResidencyCode::UnknownRegion => "POLICY_UNKNOWN_REGION",
            ResidencyCode::LocationMismatch => "POLICY_LOCATION_MISMATCH",
            ResidencyCode::Sovereignty => "POLICY_SOVEREIGNTY",
            ResidencyCode::CountryNotAllowed => "POLICY_COUNTRY_NOT_ALLOWED",
            ResidencyCode::RegionDenied => "POLICY_REGION_DENIED",
            ResidencyCode::AttestationRequired => "POLICY_ATTESTATION_REQUIRED",
            ResidencyCode::ForbiddenEndpoint => "POLICY_FORBIDDEN_ENDPOINT",
            ResidencyCode::InvalidEndpoint => "POLICY_INVALID_ENDPOINT",
        }
    }

    /// Every code, for documentation and tests.
    pub const ALL: [ResidencyCode; 12] = [
        ResidencyCode::Ok,
        ResidencyCode::NonEeaRegion,
        ResidencyCode::NonEeaEndpoint,
        ResidencyCode::UnknownProvider,
        ResidencyCode::UnknownRegion,
        ResidencyCode::LocationMismatch,
        ResidencyCode::Sovereignty,
        ResidencyCode::CountryNotAllowed,
        ResidencyCode::RegionDenied,
        ResidencyCode::AttestationRequired,
        ResidencyCode::ForbiddenEndpoint,
        ResidencyCode::InvalidEndpoint,
    ];

    /// Parses the stable string form.
    pub fn parse(s: &str) -> Option<ResidencyCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ResidencyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResidencyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Alias kept for readers who think of refusals only.
pub type DenyCode = ResidencyCode;

/// What the guard is asked about: one store as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSpec {
    /// Store name (for messages and placement).
    pub name: String,
    /// Catalog provider id.
    pub provider: String,
    /// Region id, matched exactly.
    pub region: Option<String>,
    /// Endpoint URL, if configured.
    pub endpoint: Option<String>,
    /// Bucket name, for virtual-hosted style hosts.
    pub bucket: Option<String>,
    /// Country attested by the operator (self-hosted / local / memory stores).
    pub attested_country: Option<String>,
}

impl From<(&str, &StoreConfig)> for StoreSpec {
    fn from((name, cfg): (&str, &StoreConfig)) -> Self {
        StoreSpec {
            name: name.to_string(),
            provider: cfg.provider.clone(),
            region: cfg.region.clone(),
            endpoint: cfg.endpoint.clone(),
            bucket: cfg.bucket.clone(),
            attested_country: cfg.country.clone(),
        }
    }
}

/// A residency decision: the JSON printed by `bitatlas residency check`.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Whether the store may be used (subject to the live location check).
    pub allowed: bool,
    /// `OK` or the refusal code.
    pub code: ResidencyCode,
    /// The store name, when the decision is about a configured store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The policy applied.
    pub policy: String,
    /// Provider id as given.
    pub provider: String,
    /// Region id as interpreted (an empty S3 region is reported as `us-east-1`).
    pub region: String,
    /// City of the region, when known.
    pub city: Option<String>,
    /// Country where the bytes are (catalog, or attested).
    pub country: Option<String>,
    /// Jurisdiction of the provider's owner.
    pub owner_jurisdiction: Option<String>,
    /// The endpoint host that will be used.
    pub endpoint_host: Option<String>,
    /// True when the country is the operator's attestation rather than catalog data.
    pub attested: bool,
    /// Whether the catalog entry used is fully verified against the provider's documentation
    /// (absent when no catalog region was involved).
    pub catalog_verified: Option<bool>,
    /// Human-readable explanation.
    pub message: String,
    #[serde(skip)]
    pub(crate) kind: Option<ProviderKind>,
    #[serde(skip)]
    pub(crate) endpoint: Option<endpoint::Endpoint>,
    #[serde(skip)]
    pub(crate) expected_location: Option<String>,
    #[serde(skip)]
    pub(crate) bucket: Option<String>,
}

impl Decision {
    fn new(policy: &Policy, spec: &StoreSpec) -> Decision {
        Decision {
            allowed: false,
            code: ResidencyCode::UnknownProvider,
            store: (!spec.name.is_empty()).then(|| spec.name.clone()),
            policy: policy.name().to_string(),
            provider: spec.provider.clone(),
            region: spec.region.clone().unwrap_or_default(),
            city: None,
            country: None,
            owner_jurisdiction: None,
            endpoint_host: None,
            attested: false,
            catalog_verified: None,
            message: String::new(),
            kind: None,
            endpoint: None,
            expected_location: None,
            bucket: spec.bucket.clone(),
        }
    }

    fn deny(mut self, code: ResidencyCode, message: impl Into<String>) -> Decision {
        self.allowed = false;
        self.code = code;
        self.message = message.into();
        tracing::info!(
            store = self.store.as_deref().unwrap_or(""),
            provider = %self.provider,
            region = %self.region.escape_debug(),
            code = code.as_str(),
            "residency: denied"
        );
        self
    }

    fn allow(mut self, message: impl Into<String>) -> Decision {
        self.allowed = true;
        self.code = ResidencyCode::Ok;
        self.message = message.into();
        self
    }

    /// A copy of this decision turned into a refusal (used by the live checks).
    pub fn denied(&self, code: ResidencyCode, message: impl Into<String>) -> Decision {
        self.clone().deny(code, message)
    }

    fn subject(&self) -> String {
        match &self.store {
            Some(s) => format!("store {s:?}"),
            None => format!("{}:{}", self.provider, self.region.escape_debug()),
        }
    }
}

/// Errors of the residency layer.
#[derive(Debug, thiserror::Error)]
pub enum ResidencyError {
    /// A `[policies.NAME]` section is invalid.
    #[error("policy {policy}: {message}")]
    InvalidPolicy {
        /// Policy name.
        policy: String,
        /// What is wrong.
        message: String,
    },
    /// A policy name is not defined.
    #[error("unknown policy {0:?}")]
    UnknownPolicy(String),
    /// The guard refused a store.
    #[error("{} denied ({}): {}", .0.subject(), .0.code.as_str(), .0.message)]
    Denied(Box<Decision>),
}

impl ResidencyError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ResidencyError::InvalidPolicy { .. } => "POLICY_INVALID_CONFIG",
            ResidencyError::UnknownPolicy(_) => "POLICY_UNKNOWN",
            ResidencyError::Denied(d) => d.code.as_str(),
        }
    }

    /// The refused decision, if this is a refusal.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            ResidencyError::Denied(d) => Some(d),
            _ => None,
        }
    }
}
