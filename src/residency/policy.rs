//! Residency policies: which countries may hold P0/P1 data, which regions are refused, and
//! whether providers owned outside the EU/EEA are acceptable.

use std::collections::{BTreeMap, BTreeSet};

use bitatlas_adapters::catalog::is_country_code;
use serde::Serialize;

use super::ResidencyError;
use super::eea;
use crate::config::{ConfigFile, PolicyConfig};

/// Name of the built-in policy that always exists and is the default.
pub const EEA_POLICY: &str = "eea";

/// Classes of data, by how much they may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum DataClass {
    /// Customer content (object payloads). Never leaves the policy's countries.
    P0,
    /// Identifying metadata (object keys, user metadata, audit records naming people).
    /// Never leaves the policy's countries.
    P1,
    /// Anonymised telemetry (counts, latencies, error codes). May be processed anywhere.
    P2,
}

/// Why a country is refused by a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountryVerdict {
    /// Allowed.
    Allowed,
    /// Allowed only because of an adequacy decision (`allow_adequacy`).
    AllowedByAdequacy,
    /// Outside the EEA (and not admitted by adequacy).
    NonEea,
    /// In the EEA but outside the policy's narrower list.
    NotInPin,
}

/// A validated residency policy.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    name: String,
    /// Allowed countries; empty means the whole EEA.
    countries: BTreeSet<String>,
    /// Refused `(provider, region)` pairs.
    deny_regions: BTreeSet<(String, String)>,
    sovereign: bool,
    allow_adequacy: bool,
    allow_presign_put: bool,
}

impl Policy {
    /// The built-in `eea` policy: every EEA country, no adequacy, no sovereignty requirement.
    pub fn eea_default() -> Policy {
        Policy {
            name: EEA_POLICY.to_string(),
            countries: BTreeSet::new(),
            deny_regions: BTreeSet::new(),
            sovereign: false,
            allow_adequacy: false,
            allow_presign_put: false,
        }
    }

    /// Builds and validates a policy from its configuration section.
    pub fn from_config(name: &str, cfg: &PolicyConfig) -> Result<Policy, ResidencyError> {
        let invalid = |message: String| ResidencyError::InvalidPolicy {
            policy: name.to_string(),
            message,
        };
        if name.is_empty() {
            return Err(invalid("policy name is empty".into()));
        }
        let mut countries = BTreeSet::new();
        for cc in &cfg.countries {
            if !is_country_code(cc) {
                return Err(invalid(format!(
                    "country {cc:?} is not an upper-case ISO 3166-1 alpha-2 code"
                )));
            }
            if !eea::is_eea(cc) || cc == bitatlas_adapters::catalog::COUNTRY_EU {
                if !(cfg.allow_adequacy && eea::has_adequacy(cc)) {
                    return Err(invalid(format!(
                        "country {cc} is not in the EEA{}",
                        if eea::has_adequacy(cc) {
                            " (it has an adequacy decision: set allow_adequacy to admit it)"
                        } else {
                            ""
                        }
                    )));
                }
                tracing::warn!(
                    policy = name,
                    country = cc.as_str(),
                    "RESIDENCY WARNING: policy admits a country OUTSIDE the EEA on the strength of an EU adequacy decision"
                );
            }
            countries.insert(cc.clone());
        }
        let mut deny_regions = BTreeSet::new();
        for entry in &cfg.deny_regions {
            let Some((provider, region)) = entry.split_once(':') else {
                return Err(invalid(format!(
                    "deny_regions entry {entry:?} must be provider:region"
                )));
            };
            if provider.is_empty() || region.is_empty() || region.contains(':') {
                return Err(invalid(format!(
                    "deny_regions entry {entry:?} must be provider:region"
                )));
            }
            deny_regions.insert((provider.to_string(), region.to_string()));
        }
        if cfg.allow_adequacy {
            tracing::warn!(
                policy = name,
                "RESIDENCY WARNING: allow_adequacy is set; stores in countries with an EU adequacy decision (outside the EEA) may be admitted"
            );
        }
        Ok(Policy {
            name: name.to_string(),
            countries,
            deny_regions,
            sovereign: cfg.sovereign,
            allow_adequacy: cfg.allow_adequacy,
            allow_presign_put: cfg.allow_presign_put,
        })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The narrower country list; empty means the whole EEA.
    pub fn countries(&self) -> &BTreeSet<String> {
        &self.countries
    }

    /// Whether providers owned outside the EU/EEA are refused.
    pub fn sovereign(&self) -> bool {
        self.sovereign
    }

    /// Whether adequacy countries are admitted.
    pub fn allow_adequacy(&self) -> bool {
        self.allow_adequacy
    }

    /// Whether presigned PUT URLs are allowed.
    pub fn allow_presign_put(&self) -> bool {
        self.allow_presign_put
    }

    /// Whether `provider:region` is explicitly refused.
    pub fn is_region_denied(&self, provider: &str, region: &str) -> bool {
        self.deny_regions
            .contains(&(provider.to_string(), region.to_string()))
    }

    /// Judges a storage country (exact, upper-case).
    pub fn judge_country(&self, cc: &str) -> CountryVerdict {
        let in_eea = eea::is_eea(cc);
        let by_adequacy = !in_eea && self.allow_adequacy && eea::has_adequacy(cc);
        if !in_eea && !by_adequacy {
            return CountryVerdict::NonEea;
        }
        if self.countries.is_empty() {
            return if by_adequacy {
                CountryVerdict::AllowedByAdequacy
            } else {
                CountryVerdict::Allowed
            };
        }
        if self.countries.contains(cc) {
            if by_adequacy {
                CountryVerdict::AllowedByAdequacy
            } else {
                CountryVerdict::Allowed
            }
        } else if in_eea {
            CountryVerdict::NotInPin
        } else {
            CountryVerdict::NonEea
        }
    }

    /// Whether data of `class` may be stored or processed in country `cc` under this policy.
    ///
    /// P0 (content) and P1 (identifying metadata) follow the policy exactly; P2 (anonymised
    /// telemetry) is not personal data and may go anywhere.
    pub fn allows_class(&self, class: DataClass, cc: &str) -> bool {
        match class {
            DataClass::P2 => true,
            DataClass::P0 | DataClass::P1 => matches!(
                self.judge_country(cc),
                CountryVerdict::Allowed | CountryVerdict::AllowedByAdequacy
            ),
        }
    }

    /// Whether an owner in jurisdiction `j` is acceptable (only matters when `sovereign`).
    /// Owners under EU/EEA jurisdiction pass; all others (US, CH, ...) are refused.
    pub fn allows_owner(&self, j: Option<&str>) -> bool {
        !self.sovereign || j.is_none_or(eea::is_eea)
    }
}

/// All policies by name, always including the built-in `eea`.
#[derive(Debug, Clone)]
pub struct Policies {
    by_name: BTreeMap<String, Policy>,
}

impl Default for Policies {
    fn default() -> Self {
        let mut by_name = BTreeMap::new();
        by_name.insert(EEA_POLICY.to_string(), Policy::eea_default());
        Policies { by_name }
    }
}

impl Policies {
    /// Builds every `[policies.NAME]` of a configuration, plus the built-in `eea`.
    /// Redefining `eea` is refused: its meaning must not depend on a config file.
    pub fn from_config(cfg: &ConfigFile) -> Result<Policies, ResidencyError> {
        let mut all = Policies::default();
        for (name, pc) in &cfg.policies {
            if name == EEA_POLICY {
                return Err(ResidencyError::InvalidPolicy {
                    policy: name.clone(),
                    message: "the built-in policy `eea` cannot be redefined; use another name"
                        .into(),
                });
            }
            all.by_name
                .insert(name.clone(), Policy::from_config(name, pc)?);
        }
        Ok(all)
    }

    /// The policy with this name.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.by_name.get(name)
    }

    /// The policy with this name, or `POLICY_UNKNOWN`.
    pub fn require(&self, name: &str) -> Result<&Policy, ResidencyError> {
        self.get(name)
            .ok_or_else(|| ResidencyError::UnknownPolicy(name.to_string()))
    }

    /// Policy names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
