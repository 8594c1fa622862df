//! The guard: static checks against catalog and policy, interpretation of the live location
//! evidence, and the only constructor of [`GuardedStore`].

// Refusals are returned as the full `Decision` (the same value `residency check` prints); they
// are rare and never on a hot path, so their size does not matter.
#![allow(clippy::result_large_err)]

use bitatlas_adapters::catalog::{
    COUNTRY_EU, COUNTRY_UNKNOWN, Catalog, ProviderKind, is_country_code,
};
use bitatlas_adapters::is_location_value;
use schemars::JsonSchema;
use serde::Serialize;

use super::endpoint::{self, Endpoint, PresignProblem};
use super::policy::{CountryVerdict, Policy};
use super::{Decision, ResidencyCode as C, ResidencyError, StoreSpec, eea};

/// The region an S3 client means when it sends no region / LocationConstraint.
const S3_EMPTY_REGION: &str = bitatlas_adapters::location::EMPTY_LOCATION_REGION;

/// Static residency check of one store: catalog + policy + endpoint. No I/O.
///
/// An allowed decision is necessary but not sufficient: the bucket's real location must still be
/// checked ([`Guard::admit`]).
pub fn check(catalog: &Catalog, policy: &Policy, spec: &StoreSpec) -> Decision {
    let d = Decision::new(policy, spec);
    let Some(provider) = catalog.provider(&spec.provider) else {
        let m = format!(
            "provider {:?} is not in the catalog",
            spec.provider.escape_debug().to_string()
        );
        return d.deny(C::UnknownProvider, m);
    };
    let mut d = d;
    d.kind = Some(provider.kind);
    d.attested = provider.kind.is_attested();
    d.owner_jurisdiction = provider.owner_jurisdiction.clone();
    match provider.kind {
        ProviderKind::Public => check_public(catalog, policy, spec, d),
        ProviderKind::SelfHosted => check_self_hosted(catalog, policy, spec, d),
        ProviderKind::Local | ProviderKind::Memory => check_local(policy, spec, d),
    }
}

/// Applies the policy's country rules; `Err` is a finished refusal.
fn judge(policy: &Policy, d: Decision, cc: &str) -> Result<Decision, Decision> {
    match policy.judge_country(cc) {
        CountryVerdict::Allowed => Ok(d),
        CountryVerdict::AllowedByAdequacy => {
            tracing::warn!(
                policy = policy.name(),
                provider = %d.provider,
                region = %d.region,
                country = cc,
                "RESIDENCY WARNING: store OUTSIDE the EEA admitted only because allow_adequacy is set"
            );
            Ok(d)
        }
        CountryVerdict::NonEea => {
            let m = if cc == COUNTRY_UNKNOWN {
                "the storage country is unknown (no residency guarantee)".to_string()
            } else {
                format!("country {cc} is outside the EEA")
            };
            Err(d.deny(C::NonEeaRegion, m))
        }
        CountryVerdict::NotInPin => {
            let pin: Vec<&str> = policy.countries().iter().map(String::as_str).collect();
            let m = format!(
                "country {cc} is in the EEA but policy {} only allows {}",
                policy.name(),
                pin.join(", ")
            );
            Err(d.deny(C::CountryNotAllowed, m))
        }
    }
}

fn check_public(catalog: &Catalog, policy: &Policy, spec: &StoreSpec, mut d: Decision) -> Decision {
    let Some(provider) = catalog.provider(&spec.provider) else {
        return d.deny(C::UnknownProvider, "provider vanished");
    };
    let region_id = spec.region.as_deref().unwrap_or("");
    if region_id.is_empty() {
        d.region = S3_EMPTY_REGION.to_string();
        d.country = Some("US".into());
        d.city = Some("N. Virginia".into());
        return d.deny(
            C::NonEeaRegion,
            "no region given: an S3 client without a region means us-east-1 (N. Virginia, US)",
        );
    }
    let Some(region) = provider.region(region_id) else {
        let m = format!(
            "region {:?} is not a region of {} (region ids are matched exactly)",
            region_id.escape_debug().to_string(),
            provider.id
        );
        return d.deny(C::UnknownRegion, m);
    };
    d.city = Some(region.city.clone());
    d.country = Some(region.country.clone());
    d.catalog_verified = Some(region.verified);
    if policy.is_region_denied(&provider.id, &region.id) {
        let m = format!(
            "{}:{} is in the policy's deny_regions",
            provider.id, region.id
        );
        return d.deny(C::RegionDenied, m);
    }
    d = match judge(policy, d, &region.country) {
        Ok(d) => d,
        Err(denied) => return denied,
    };
    if !policy.allows_owner(provider.owner_jurisdiction.as_deref()) {
        let m = format!(
            "policy {} is sovereign and {} is owned under {} jurisdiction",
            policy.name(),
            provider.name,
            provider.owner_jurisdiction.as_deref().unwrap_or("?")
        );
        return d.deny(C::Sovereignty, m);
    }
    let ep = match spec.endpoint.as_deref() {
        None => match region.default_host() {
            Some(h) => Endpoint {
                scheme: "https".into(),
                host: h.to_string(),
                port: None,
                is_ip: false,
                loopback: false,
            },
            None => {
                return d.deny(
                    C::InvalidEndpoint,
                    "this region has account-specific hosts: configure the endpoint explicitly",
                );
            }
        },
        Some(raw) => match endpoint::parse_endpoint(raw, false) {
            Ok(ep) => ep,
            Err(why) => return d.deny(C::InvalidEndpoint, format!("endpoint refused: {why}")),
        },
    };
    d.endpoint_host = Some(ep.host.clone());
    if provider.is_forbidden_host(&ep.host) {
        let m = format!(
            "{} is an acceleration / CDN / global host of {}: bytes could leave the region",
            ep.host, provider.id
        );
        return d.deny(C::ForbiddenEndpoint, m);
    }
    let bucket = spec.bucket.as_deref();
    if !region.matches_host(&ep.host, bucket) {
        if let Some(other) = provider.region_for_host(&ep.host, bucket) {
            let m = format!(
                "host {} belongs to {} region {} ({}), not {}",
                ep.host, provider.id, other.id, other.country, region.id
            );
            return match policy.judge_country(&other.country) {
                CountryVerdict::NonEea => d.deny(C::NonEeaEndpoint, m),
                _ => d.deny(C::LocationMismatch, m),
            };
        }
        let m = format!(
            "host {} is not an S3 host of {} region {}",
            ep.host, provider.id, region.id
        );
        return d.deny(C::NonEeaEndpoint, m);
    }
    d.expected_location = Some(region.expected_location().to_string());
    d.endpoint = Some(ep);
    let note = if region.verified {
        ""
    } else {
        " (catalog entry not fully verified, see docs/residency.md)"
    };
    let m = format!(
        "{} {} ({}, {}) satisfies policy {}; bucket location is verified at start-up{note}",
        provider.id,
        region.id,
        region.city,
        region.country,
        policy.name()
    );
    d.allow(m)
}

/// Validates the attested country of a self-hosted/local store.
fn attested_country(spec: &StoreSpec, d: Decision) -> Result<(Decision, String), Decision> {
    match spec.attested_country.as_deref() {
        None => Err(d.deny(
            C::AttestationRequired,
            "this store has no catalog location: set its `country` (ISO alpha-2) to attest where it runs",
        )),
        Some(cc) if !is_country_code(cc) || cc == COUNTRY_EU || cc == COUNTRY_UNKNOWN => {
            let m = format!(
                "attested country {:?} is not an upper-case ISO 3166-1 alpha-2 country code",
                cc.escape_debug().to_string()
            );
            Err(d.deny(C::AttestationRequired, m))
        }
        Some(cc) => Ok((d, cc.to_string())),
    }
}

fn is_s3_region_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_self_hosted(
    catalog: &Catalog,
    policy: &Policy,
    spec: &StoreSpec,
    mut d: Decision,
) -> Decision {
    let region = spec.region.as_deref().unwrap_or("");
    if region.is_empty() {
        d.region = S3_EMPTY_REGION.to_string();
        return d.deny(
            C::NonEeaRegion,
            "no region given: an S3 client without a region means us-east-1; set the server's S3 region",
        );
    }
    if !is_s3_region_name(region) {
        let m = format!(
            "region {:?} is not a plain lower-case S3 region name",
            region.escape_debug().to_string()
        );
        return d.deny(C::UnknownRegion, m);
    }
    let (mut d, cc) = match attested_country(spec, d) {
        Ok(x) => x,
        Err(denied) => return denied,
    };
    d.country = Some(cc.clone());
    d.owner_jurisdiction = Some(cc.clone());
    if policy.is_region_denied(&spec.provider, region) {
        let m = format!("{}:{region} is in the policy's deny_regions", spec.provider);
        return d.deny(C::RegionDenied, m);
    }
    d = match judge(policy, d, &cc) {
        Ok(d) => d,
        Err(denied) => return denied,
    };
    let Some(raw) = spec.endpoint.as_deref() else {
        return d.deny(C::InvalidEndpoint, "self-hosted S3 stores need an endpoint");
    };
    let ep = match endpoint::parse_endpoint(raw, true) {
        Ok(ep) => ep,
        Err(why) => return d.deny(C::InvalidEndpoint, format!("endpoint refused: {why}")),
    };
    d.endpoint_host = Some(ep.host.clone());
    // A "self-hosted" store pointed at a public provider would bypass the catalog.
    for p in catalog.providers() {
        if p.is_forbidden_host(&ep.host) {
            let m = format!("{} is a forbidden host of {}", ep.host, p.id);
            return d.deny(C::ForbiddenEndpoint, m);
        }
        if let Some(r) = p.region_for_host(&ep.host, spec.bucket.as_deref()) {
            let m = format!(
                "{} is a host of {} region {}: configure the store as provider {}",
                ep.host, p.id, r.id, p.id
            );
            return d.deny(C::LocationMismatch, m);
        }
    }
    d.expected_location = Some(region.to_string());
    d.endpoint = Some(ep);
    let m = format!(
        "{} store attested in {cc}, region {region}, satisfies policy {}; the server's answer to GetBucketLocation is checked at start-up",
        spec.provider,
        policy.name()
    );
    d.allow(m)
}

fn check_local(policy: &Policy, spec: &StoreSpec, mut d: Decision) -> Decision {
    d.region = spec.provider.clone();
    if spec.endpoint.is_some() {
        return d.deny(
            C::InvalidEndpoint,
            "local and memory stores take no endpoint",
        );
    }
    let (mut d, cc) = match attested_country(spec, d) {
        Ok(x) => x,
        Err(denied) => return denied,
    };
    d.country = Some(cc.clone());
    d.owner_jurisdiction = Some(cc.clone());
    if policy.is_region_denied(&spec.provider, &spec.provider) {
        let m = format!("{0}:{0} is in the policy's deny_regions", spec.provider);
        return d.deny(C::RegionDenied, m);
    }
    d = match judge(policy, d, &cc) {
        Ok(d) => d,
        Err(denied) => return denied,
    };
    let m = format!(
        "{} store attested in {cc} satisfies policy {}",
        spec.provider,
        policy.name()
    );
    d.allow(m)
}

/// Parses the value of a GetBucketLocation answer.
///
/// Accepts either the bare value or the XML body, which goes through the one strict parser,
/// [`bitatlas_adapters::parse_location`] (the S3 adapter's too). The value must be empty, `EU`,
/// or lower-case ASCII letters, digits, `-` and `_` (at most 64). Anything else — extra
/// elements, entities, comments, DOCTYPE, CDATA, whitespace inside the value — is `None`
/// (fail closed).
pub fn parse_location_answer(answer: &str) -> Option<String> {
    if answer.starts_with('<') {
        return bitatlas_adapters::parse_location(answer.as_bytes()).ok();
    }
    is_location_value(answer).then(|| answer.to_string())
}

/// Interprets a GetBucketLocation answer for an allowed decision.
///
/// `""` means us-east-1 and `EU` means eu-west-1 (S3 conventions); the result must equal the
/// region expected for the configured store exactly. For public providers, an answer naming a
/// catalog region outside the EEA (or empty = us-east-1) gives `POLICY_NON_EEA_REGION`; any other
/// difference, any difference on a self-hosted server (whose region names are labels, not
/// places) and any unparseable answer give `POLICY_LOCATION_MISMATCH`.
pub fn check_location_answer(decision: &Decision, answer: &str) -> Result<(), Decision> {
    if !decision.allowed {
        return Err(decision.clone());
    }
    if !decision.kind.is_some_and(ProviderKind::is_s3) {
        return Err(decision.denied(
            C::LocationMismatch,
            "local and memory stores have no bucket location; their country is attested",
        ));
    }
    let Some(expected) = decision.expected_location.as_deref() else {
        return Err(decision.denied(C::LocationMismatch, "no expected location recorded"));
    };
    let Some(value) = parse_location_answer(answer) else {
        return Err(decision.denied(
            C::LocationMismatch,
            "the bucket location answer could not be understood (fail closed)",
        ));
    };
    let normalised = match value.as_str() {
        "" => S3_EMPTY_REGION,
        "EU" => "eu-west-1",
        v => v,
    };
    if normalised == expected {
        return Ok(());
    }
    // For a self-hosted server the region name is the operator's label, not a place: any other
    // answer means we reached a server other than the one configured.
    let public = decision.kind == Some(ProviderKind::Public);
    let known_country = Catalog::builtin()
        .provider(&decision.provider)
        .filter(|_| public)
        .and_then(|p| p.region(normalised))
        .map(|r| r.country.clone())
        .or_else(|| (public && normalised == S3_EMPTY_REGION).then(|| "US".to_string()));
    let m = format!(
        "the bucket reports region {normalised:?}, configured {expected:?}{}",
        known_country
            .as_deref()
            .map(|c| format!(" (the reported region is in {c})"))
            .unwrap_or_default()
    );
    match known_country {
        Some(c) if !eea::is_eea(&c) => Err(decision.denied(C::NonEeaRegion, m)),
        _ => Err(decision.denied(C::LocationMismatch, m)),
    }
}

/// Checks that a presigned URL points at the verified endpoint (exact host, same port) over
/// https (http only for a self-hosted store on loopback).
pub fn check_presigned_url(decision: &Decision, url: &str) -> Result<(), Decision> {
    if !decision.allowed {
        return Err(decision.clone());
    }
    let Some(ep) = &decision.endpoint else {
        return Err(decision.denied(
            C::InvalidEndpoint,
            "this store has no S3 endpoint to presign for",
        ));
    };
    let self_hosted = decision.kind == Some(ProviderKind::SelfHosted);
    match endpoint::check_presigned(url, ep, decision.bucket.as_deref(), self_hosted) {
        Ok(()) => Ok(()),
        Err(PresignProblem::Malformed(m)) => Err(decision.denied(C::InvalidEndpoint, m)),
        Err(PresignProblem::OtherHost(m)) => Err(decision.denied(C::NonEeaEndpoint, m)),
    }
}

/// How the caller verified where a store really is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationEvidence {
    /// Local / memory stores: the operator's attested country.
    Attested {
        /// The attested ISO alpha-2 country.
        country: String,
    },
    /// S3 stores: the value (or XML body) of GetBucketLocation.
    BucketLocation {
        /// The raw answer.
        answer: String,
    },
}

/// Where the bytes of a store are, once verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Placement {
    /// Store name.
    pub store: String,
    /// Catalog provider id.
    pub provider: String,
    /// Region id (provider id for local/memory stores).
    pub region: String,
    /// ISO alpha-2 country (or `EU` for an EU-jurisdiction provider without a disclosed country).
    pub country: String,
    /// True when the country is the operator's attestation.
    pub attested: bool,
    /// The verified endpoint host, for S3 stores.
    pub endpoint_host: Option<String>,
}

/// A store that passed the guard. Fields are private; only [`Guard::admit`] creates one.
#[derive(Debug)]
pub struct GuardedStore<A> {
    placement: Placement,
    adapter: A,
    decision: Decision,
}

impl<A> GuardedStore<A> {
    /// Where the bytes are.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The adapter, for use after the guard.
    pub fn adapter(&self) -> &A {
        &self.adapter
    }

    /// The decision that admitted this store.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Checks a presigned URL produced for this store (see [`check_presigned_url`]).
    pub fn check_presigned_url(&self, url: &str) -> Result<(), ResidencyError> {
        check_presigned_url(&self.decision, url).map_err(|d| ResidencyError::Denied(Box::new(d)))
    }
}

/// A tenant's home store together with its replicas, each admitted by the guard on its own
/// (and by the tenant's policy, which runtime checks): one adapter whose writes and deletes
/// reach every copy and whose reads fail over ([`bitatlas_adapters::Replicated`]).
#[derive(Debug)]
pub struct ReplicaSet {
    store: GuardedStore<std::sync::Arc<dyn bitatlas_adapters::Adapter>>,
    copies: Vec<(Placement, Decision)>,
    replicated: std::sync::Arc<bitatlas_adapters::Replicated>,
}

impl ReplicaSet {
    /// Composes stores the guard admitted: `home` first, then `replicas`.
    pub fn new(
        home: &GuardedStore<std::sync::Arc<dyn bitatlas_adapters::Adapter>>,
        replicas: &[&GuardedStore<std::sync::Arc<dyn bitatlas_adapters::Adapter>>],
    ) -> Self {
        let replicated = std::sync::Arc::new(bitatlas_adapters::Replicated::new(
            std::sync::Arc::clone(home.adapter()),
            replicas
                .iter()
                .map(|r| std::sync::Arc::clone(r.adapter()))
                .collect(),
        ));
        let mut copies = vec![(home.placement.clone(), home.decision.clone())];
        copies.extend(
            replicas
                .iter()
                .map(|r| (r.placement.clone(), r.decision.clone())),
        );
        let store = GuardedStore {
            placement: home.placement.clone(),
            adapter: std::sync::Arc::clone(&replicated)
                as std::sync::Arc<dyn bitatlas_adapters::Adapter>,
            decision: home.decision.clone(),
        };
        Self {
            store,
            copies,
            replicated,
        }
    }

    /// The combined store (its placement and decision are the home store's).
    pub fn into_store(
        self,
    ) -> (
        GuardedStore<std::sync::Arc<dyn bitatlas_adapters::Adapter>>,
        Copies,
    ) {
        (
            self.store,
            Copies {
                copies: self.copies,
                replicated: self.replicated,
            },
        )
    }
}

/// Where each copy of a tenant's data is: the home store first, then its replicas.
#[derive(Debug, Clone)]
pub struct Copies {
    copies: Vec<(Placement, Decision)>,
    replicated: std::sync::Arc<bitatlas_adapters::Replicated>,
}

impl Copies {
    /// Each copy's placement and the decision that admitted it, home first.
    pub fn placements(&self) -> impl Iterator<Item = &(Placement, Decision)> {
        self.copies.iter()
    }

    /// Each copy's own adapter, home first (for `locate` and `replicas check`).
    pub fn adapters(&self) -> &[std::sync::Arc<dyn bitatlas_adapters::Adapter>] {
        self.replicated.stores()
    }

    /// Each copy's store name and counts since start (for `/metrics`), home first.
    pub fn counts(&self) -> Vec<(String, bitatlas_adapters::CopyCounts)> {
        self.copies
            .iter()
            .map(|(p, _)| p.store.clone())
            .zip(self.replicated.counts())
            .collect()
    }

    /// The placement of copy `i` (0: the home store), as [`bitatlas_adapters::tracking`]
    /// reports it.
    pub fn copy(&self, i: usize) -> &Placement {
        &self.copies[i.min(self.copies.len() - 1)].0
    }
}

/// The residency guard.
#[derive(Debug, Clone, Copy, Default)]
pub struct Guard;

impl Guard {
    /// Admits a store: `decision` must be allowed, and `evidence` must confirm the location
    /// (GetBucketLocation for S3 stores, the attested country for local/memory stores).
    pub fn admit<A>(
        decision: Decision,
        adapter: A,
        evidence: LocationEvidence,
    ) -> Result<GuardedStore<A>, ResidencyError> {
        let deny = |d: Decision| Err(ResidencyError::Denied(Box::new(d)));
        if !decision.allowed {
            return deny(decision);
        }
        let Some(kind) = decision.kind else {
            return deny(decision.denied(C::UnknownProvider, "decision has no provider"));
        };
        match (&evidence, kind.is_s3()) {
            (LocationEvidence::BucketLocation { answer }, true) => {
                if let Err(d) = check_location_answer(&decision, answer) {
                    return deny(d);
                }
            }
            (LocationEvidence::Attested { country }, false) => {
                if decision.country.as_deref() != Some(country.as_str()) {
                    let m = format!(
                        "attested country {:?} differs from the configured {:?}",
                        country.escape_debug().to_string(),
                        decision.country.as_deref().unwrap_or("")
                    );
                    return deny(decision.denied(C::LocationMismatch, m));
                }
            }
            (LocationEvidence::Attested { .. }, true) => {
                return deny(decision.denied(
                    C::LocationMismatch,
                    "S3 stores are verified with GetBucketLocation; an attestation cannot replace it",
                ));
            }
            (LocationEvidence::BucketLocation { .. }, false) => {
                return deny(decision.denied(
                    C::LocationMismatch,
                    "local and memory stores have no bucket location",
                ));
            }
        }
        let Some(country) = decision.country.clone() else {
            return deny(decision.denied(C::AttestationRequired, "no country known"));
        };
        let placement = Placement {
            store: decision.store.clone().unwrap_or_default(),
            provider: decision.provider.clone(),
            region: decision.region.clone(),
            country,
            attested: decision.attested,
            endpoint_host: decision.endpoint_host.clone(),
        };
        tracing::info!(
            store = %placement.store,
            provider = %placement.provider,
            region = %placement.region,
            country = %placement.country,
            "residency: store admitted"
        );
        Ok(GuardedStore {
            placement,
            adapter,
            decision,
        })
    }
}
