//! The provider catalog: which regions each storage provider offers, in which country, behind
//! which exact S3 hosts, who owns the provider and how a bucket's location is verified.
//!
//! The data lives in `adapters/catalog/*.toml`, one reviewable file per provider, embedded at
//! build time and validated when first used. Lookups are exact: no trimming, no case folding and
//! no prefix logic (`eu-west-2` is London, `eu-central-2` is Zurich).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The embedded catalog files, `(file name, contents)`.
const FILES: &[(&str, &str)] = &[
    ("scaleway.toml", include_str!("../catalog/scaleway.toml")),
    ("ovh.toml", include_str!("../catalog/ovh.toml")),
    ("hetzner.toml", include_str!("../catalog/hetzner.toml")),
    ("exoscale.toml", include_str!("../catalog/exoscale.toml")),
    ("ionos.toml", include_str!("../catalog/ionos.toml")),
    ("aws.toml", include_str!("../catalog/aws.toml")),
    (
        "cloudflare-r2.toml",
        include_str!("../catalog/cloudflare-r2.toml"),
    ),
    ("garage.toml", include_str!("../catalog/garage.toml")),
    ("minio.toml", include_str!("../catalog/minio.toml")),
    ("local.toml", include_str!("../catalog/local.toml")),
    ("memory.toml", include_str!("../catalog/memory.toml")),
];

/// Country value meaning "somewhere in the European Union, data centre not disclosed".
pub const COUNTRY_EU: &str = "EU";
/// Country value meaning "unknown / anywhere" (ISO 3166 user-assigned code).
pub const COUNTRY_UNKNOWN: &str = "ZZ";

/// What kind of store a provider is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// A public cloud provider: regions, hosts and countries come from the catalog.
    Public,
    /// An S3 server run by the operator (Garage, MinIO): endpoint and country are attested.
    SelfHosted,
    /// A local directory: country attested.
    Local,
    /// In-memory, tests only: country attested.
    Memory,
}

impl ProviderKind {
    /// True for stores whose country is declared by the operator rather than the catalog.
    pub fn is_attested(self) -> bool {
        !matches!(self, ProviderKind::Public)
    }

    /// True for stores spoken to over the S3 protocol.
    pub fn is_s3(self) -> bool {
        matches!(self, ProviderKind::Public | ProviderKind::SelfHosted)
    }
}

/// How the real location of a bucket is checked before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationCheck {
    /// S3 `GetBucketLocation`, compared exactly with the configured region.
    S3GetBucketLocation,
    /// No remote check possible: the operator's attestation is the evidence.
    Attested,
}

/// A documentation source backing a group of facts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Which facts this source backs.
    pub topic: String,
    /// Where to read them.
    pub url: String,
}

/// One region (or zone / location) of a provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// The provider's region id, matched exactly.
    pub id: String,
    /// City (or area) where the data centre is.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code, or `EU` (somewhere in the EU) or `ZZ` (unknown).
    pub country: String,
    /// Exact path-style S3 hosts of this region.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Hosts of the form `<account>.<suffix>` where `<account>` is a 32-hex-digit account id.
    #[serde(default)]
    pub account_host_suffix: Option<String>,
    /// Whether `{bucket}.<host>` (virtual-hosted style) is also accepted.
    #[serde(default)]
    pub virtual_hosted: bool,
    /// The GetBucketLocation answer expected for this region (default: the region id).
    #[serde(default)]
    pub location_answer: Option<String>,
    /// The region to sign S3 requests with, when it differs from the id.
    #[serde(default)]
    pub signing_region: Option<String>,
    /// False when a fact of this region could not be confirmed in the provider's documentation.
    pub verified: bool,
    /// Free-text remark for reviewers.
    #[serde(default)]
    pub note: Option<String>,
    /// Where the facts of this region come from.
    #[serde(default)]
    pub source: Option<String>,
}

impl Region {
    /// The GetBucketLocation answer expected for this region.
    pub fn expected_location(&self) -> &str {
        self.location_answer.as_deref().unwrap_or(&self.id)
    }

    /// The region to sign S3 requests with.
    pub fn signing_region(&self) -> &str {
        self.signing_region.as_deref().unwrap_or(&self.id)
    }

    /// The default path-style host, if the region has a fixed one.
    pub fn default_host(&self) -> Option<&str> {
        self.hosts.first().map(String::as_str)
    }

    /// Whether `host` (already lower-case, no port) is an S3 host of this region.
    ///
    /// Accepted: a listed host exactly; `{bucket}.{host}` when virtual-hosted style is
    /// supported and `bucket` is the configured bucket; `<32 hex>.{account_host_suffix}`.
    pub fn matches_host(&self, host: &str, bucket: Option<&str>) -> bool {
        if self.hosts.iter().any(|h| h == host) {
            return true;
        }
        if self.virtual_hosted
            && let Some(bucket) = bucket
            && !bucket.is_empty()
            && let Some(rest) = host.strip_prefix(bucket)
            && let Some(base) = rest.strip_prefix('.')
            && self.hosts.iter().any(|h| h == base)
        {
            return true;
        }
        if let Some(suffix) = &self.account_host_suffix
            && let Some((account, rest)) = host.split_once('.')
            && rest == suffix
            && is_account_id(account)
        {
            return true;
        }
        false
    }
}

/// A Cloudflare-style account id: exactly 32 lower-case hex digits.
fn is_account_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One storage provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Stable id used in configuration (`scaleway`, `aws`, ...).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Legal owner of the service.
    pub owner: String,
    /// Jurisdiction of the owner (ISO alpha-2); absent for self-hosted/local stores, whose
    /// operator is the owner.
    #[serde(default)]
    pub owner_jurisdiction: Option<String>,
    /// What kind of store this is.
    pub kind: ProviderKind,
    /// How the location of a bucket is verified.
    pub location_check: LocationCheck,
    /// What the location check answers, in words.
    pub location_answer: String,
    /// False when the exact answer format is not documented by the provider.
    pub location_answer_verified: bool,
    /// Remarks on the location check.
    #[serde(default)]
    pub location_note: Option<String>,
    /// Hosts that are never allowed (acceleration, CDN, global endpoints). A host is refused
    /// when it equals an entry or ends with `.` + an entry.
    #[serde(default)]
    pub forbidden_hosts: Vec<String>,
    /// Why those hosts are forbidden.
    #[serde(default)]
    pub forbidden_note: Option<String>,
    /// Sources of the provider-level facts.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Regions offered, including those outside the EEA.
    #[serde(default)]
    pub regions: Vec<Region>,
}

impl Provider {
    /// The region with exactly this id.
    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    /// The region that serves `host`, if any.
    pub fn region_for_host(&self, host: &str, bucket: Option<&str>) -> Option<&Region> {
        self.regions.iter().find(|r| r.matches_host(host, bucket))
    }

    /// Whether `host` is a forbidden (acceleration / CDN / global) host of this provider.
    pub fn is_forbidden_host(&self, host: &str) -> bool {
        self.forbidden_hosts.iter().any(|f| {
            host == f
                || host
                    .strip_suffix(f.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

/// Errors in the catalog data.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file is not valid TOML for the catalog schema.
    #[error("catalog file {file}: {message}")]
    Parse {
        /// File name.
        file: String,
        /// Parser message.
        message: String,
    },
    /// The data parses but is inconsistent.
    #[error("catalog file {file}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// All providers.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    providers: Vec<Provider>,
}

impl Catalog {
    /// The catalog embedded in the binary, parsed and validated once.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| match Catalog::from_files(FILES) {
            Ok(c) => c,
            // The embedded files are checked by this crate's unit tests; reaching this means
            // the binary was built from a broken catalog.
            Err(e) => panic!("embedded provider catalog is invalid: {e}"),
        })
    }

    /// Parses and validates catalog files given as `(file name, contents)`.
    pub fn from_files(files: &[(&str, &str)]) -> Result<Catalog, CatalogError> {
        let mut providers = Vec::with_capacity(files.len());
        let mut ids = BTreeSet::new();
        for (file, text) in files {
            let p: Provider = toml::from_str(text).map_err(|e| CatalogError::Parse {
                file: (*file).to_string(),
                message: e.to_string(),
            })?;
            validate_provider(&p).map_err(|message| CatalogError::Invalid {
                file: (*file).to_string(),
                message,
            })?;
            if !ids.insert(p.id.clone()) {
                return Err(CatalogError::Invalid {
                    file: (*file).to_string(),
                    message: format!("duplicate provider id {}", p.id),
                });
            }
            providers.push(p);
        }
        Ok(Catalog { providers })
    }

    /// The provider with exactly this id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// All providers, in catalog order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }
}

/// Two upper-case ASCII letters.
pub fn is_country_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// A host name as the catalog writes it: lower-case ASCII letters, digits, `-` and `.`,
/// non-empty labels without leading/trailing `-`, no trailing dot.
pub fn is_catalog_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn is_region_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn validate_provider(p: &Provider) -> Result<(), String> {
    if !is_region_id(&p.id) {
        return Err(format!("provider id {:?} is not lower-case ASCII", p.id));
    }
    match (&p.owner_jurisdiction, p.kind) {
        (Some(j), _) if !is_country_code(j) => {
            return Err(format!(
                "owner_jurisdiction {j:?} is not an ISO alpha-2 code"
            ));
        }
        (None, ProviderKind::Public) => {
            return Err("public providers need owner_jurisdiction".into());
        }
        _ => {}
    }
    let attested = p.location_check == LocationCheck::Attested;
    if attested != matches!(p.kind, ProviderKind::Local | ProviderKind::Memory) {
        return Err("location_check must be `attested` exactly for local/memory stores".into());
    }
    for f in &p.forbidden_hosts {
        if !is_catalog_host(f) {
            return Err(format!("forbidden host {f:?} is not lower-case ASCII"));
        }
    }
    for s in &p.sources {
        if !s.url.starts_with("https://") {
            return Err(format!("source {:?} is not an https URL", s.url));
        }
    }
    if p.kind == ProviderKind::Public && p.regions.is_empty() {
        return Err("public providers need regions".into());
    }
    if p.kind != ProviderKind::Public && !p.regions.is_empty() {
        return Err("self-hosted, local and memory stores declare no regions".into());
    }
    let mut region_ids = BTreeSet::new();
    let mut all_hosts = BTreeSet::new();
    for r in &p.regions {
        if !is_region_id(&r.id) {
            return Err(format!("region id {:?} is not lower-case ASCII", r.id));
        }
        if !region_ids.insert(r.id.as_str()) {
            return Err(format!("duplicate region id {}", r.id));
        }
        if !(is_country_code(&r.country)) {
            return Err(format!("region {}: country {:?} invalid", r.id, r.country));
        }
        if r.city.trim().is_empty() {
            return Err(format!("region {}: empty city", r.id));
        }
        if r.hosts.is_empty() && r.account_host_suffix.is_none() {
            return Err(format!("region {}: no hosts", r.id));
        }
        for h in r.hosts.iter().chain(r.account_host_suffix.iter()) {
            if !is_catalog_host(h) {
                return Err(format!(
                    "region {}: host {h:?} is not lower-case ASCII",
                    r.id
                ));
            }
            if !all_hosts.insert(h.as_str()) {
                return Err(format!("region {}: host {h} listed twice", r.id));
            }
            if p.is_forbidden_host(h) {
                return Err(format!("region {}: host {h} is also forbidden", r.id));
            }
        }
        if let Some(src) = &r.source
            && !src.starts_with("https://")
        {
            return Err(format!("region {}: source is not an https URL", r.id));
        }
        if !r.verified && r.note.as_deref().is_none_or(str::is_empty) {
            return Err(format!("region {}: unverified facts need a note", r.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_file_parses_and_is_consistent() {
        let c = Catalog::from_files(FILES).expect("catalog valid");
        assert_eq!(c.providers().len(), FILES.len());
        for (file, _) in FILES {
            let id = file.trim_end_matches(".toml");
            assert!(c.provider(id).is_some(), "{file} must declare id {id}");
        }
        for id in [
            "scaleway",
            "ovh",
            "hetzner",
            "exoscale",
            "ionos",
            "aws",
            "cloudflare-r2",
            "garage",
            "minio",
            "local",
            "memory",
        ] {
            assert!(c.provider(id).is_some(), "missing provider {id}");
        }
    }

    #[test]
    fn owners_have_expected_jurisdictions() {
        let c = Catalog::builtin();
        for (id, j) in [
            ("scaleway", "FR"),
            ("ovh", "FR"),
            ("hetzner", "DE"),
            ("exoscale", "CH"),
            ("ionos", "DE"),
            ("aws", "US"),
            ("cloudflare-r2", "US"),
        ] {
            assert_eq!(
                c.provider(id).and_then(|p| p.owner_jurisdiction.as_deref()),
                Some(j)
            );
        }
    }

    #[test]
    fn eu_prefixed_aws_regions_outside_the_eea_are_listed_with_their_country() {
        let aws = Catalog::builtin().provider("aws").expect("aws");
        assert_eq!(
            aws.region("eu-west-2").map(|r| r.country.as_str()),
            Some("GB")
        );
        assert_eq!(
            aws.region("eu-central-2").map(|r| r.country.as_str()),
            Some("CH")
        );
        assert!(aws.region("eu-west-1 ").is_none());
        assert!(aws.region("EU-WEST-1").is_none());
        assert!(aws.region("eu").is_none());
    }

    #[test]
    fn host_matching_is_exact() {
        let scw = Catalog::builtin().provider("scaleway").expect("scaleway");
        let par = scw.region("fr-par").expect("fr-par");
        assert!(par.matches_host("s3.fr-par.scw.cloud", None));
        assert!(par.matches_host("my-bucket.s3.fr-par.scw.cloud", Some("my-bucket")));
        assert!(!par.matches_host("other.s3.fr-par.scw.cloud", Some("my-bucket")));
        assert!(!par.matches_host("s3.fr-par.scw.cloud.evil.com", None));
        assert!(!par.matches_host("xs3.fr-par.scw.cloud", None));
        let r2 = Catalog::builtin().provider("cloudflare-r2").expect("r2");
        let eu = r2.region("eu").expect("eu");
        let acct = "0123456789abcdef0123456789abcdef";
        assert!(eu.matches_host(&format!("{acct}.eu.r2.cloudflarestorage.com"), None));
        assert!(!eu.matches_host(&format!("{acct}.r2.cloudflarestorage.com"), None));
        assert!(!eu.matches_host("evil.eu.r2.cloudflarestorage.com", None));
    }

    #[test]
    fn forbidden_hosts_match_on_label_boundaries() {
        let aws = Catalog::builtin().provider("aws").expect("aws");
        assert!(aws.is_forbidden_host("s3.amazonaws.com"));
        assert!(aws.is_forbidden_host("bucket.s3-accelerate.amazonaws.com"));
        assert!(!aws.is_forbidden_host("s3.eu-west-1.amazonaws.com"));
        assert!(!aws.is_forbidden_host("xs3.amazonaws.com"));
    }

    #[test]
    fn invalid_catalog_data_is_rejected() {
        let base = "id = \"x\"\nname = \"X\"\nowner = \"X\"\nowner_jurisdiction = \"FR\"\nkind = \"public\"\nlocation_check = \"s3-get-bucket-location\"\nlocation_answer = \"a\"\nlocation_answer_verified = true\n";
        let region = |id: &str, cc: &str, host: &str| {
            format!(
                "[[regions]]\nid = \"{id}\"\ncity = \"C\"\ncountry = \"{cc}\"\nhosts = [\"{host}\"]\nverified = true\n"
            )
        };
        let dup = format!(
            "{base}{}{}",
            region("a", "FR", "a.x"),
            region("a", "FR", "b.x")
        );
        assert!(Catalog::from_files(&[("x.toml", &dup)]).is_err());
        let upper = format!("{base}{}", region("a", "FR", "A.x"));
        assert!(Catalog::from_files(&[("x.toml", &upper)]).is_err());
        let cc = format!("{base}{}", region("a", "fr", "a.x"));
        assert!(Catalog::from_files(&[("x.toml", &cc)]).is_err());
        let dot = format!("{base}{}", region("a", "FR", "a.x."));
        assert!(Catalog::from_files(&[("x.toml", &dot)]).is_err());
        let ok = format!("{base}{}", region("a", "FR", "a.x"));
        assert!(Catalog::from_files(&[("x.toml", &ok)]).is_ok());
    }
}
