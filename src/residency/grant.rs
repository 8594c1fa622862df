//! Break-glass overrides: a signed, time-limited grant that lets one tenant use a store its
//! policy refuses — only ever a store inside the EEA, only for a policy's country or region
//! list, never for a non-EEA or unknown location and never against `sovereign = true`.
//!
//! A grant names who issued it, why, and until when (at most [`MAX_GRANT`]). Its MAC (keyed
//! from the data directory's audit secret, which the operator holds) makes a grant file that
//! was forged or edited count for nothing. Every call a grant makes possible carries the
//! grant id in its audit records.

use std::sync::RwLock;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{ResidencyCode, eea};

/// The longest a grant may last.
pub const MAX_GRANT: Duration = Duration::hours(72);

/// What a grant allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Stores in this country (ISO alpha-2, inside the EEA).
    Country(String),
    /// This one store.
    Store(String),
}

/// One grant, as issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `gr_` and 24 hex digits.
    pub grant: String,
    /// The tenant it is for.
    pub tenant: String,
    /// A country it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_country: Option<String>,
    /// A store it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_store: Option<String>,
    /// Why (required).
    pub reason: String,
    /// Who issued it (the operator's login on the issuing machine).
    pub issued_by: String,
    /// When it was issued (RFC 3339 UTC).
    pub issued_at: String,
    /// When it ends by itself (RFC 3339 UTC).
    pub expires_at: String,
}

/// Why a grant cannot be issued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct GrantError(pub String);

fn bad(m: impl Into<String>) -> GrantError {
    GrantError(m.into())
}

impl Grant {
    /// A new grant, checked: an EEA country, at most [`MAX_GRANT`], a reason.
    pub fn issue(
        id: String,
        tenant: &str,
        allow: Allow,
        lasts: Duration,
        reason: &str,
        issued_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Grant, GrantError> {
        if lasts <= Duration::zero() || lasts > MAX_GRANT {
            return Err(bad("a grant lasts more than 0 and at most 72 h"));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return Err(bad(
                "a grant needs a reason: 1 to 500 characters, no control characters",
            ));
        }
        let (allow_country, allow_store) = match allow {
            Allow::Country(cc) => {
                let cc = cc.to_ascii_uppercase();
                if !eea::is_eea(&cc) {
                    return Err(bad(format!(
                        "{cc:?} is not an EEA country: a grant never leaves the EEA"
                    )));
                }
                (Some(cc), None)
            }
            Allow::Store(s) => {
                if s.is_empty()
                    || s.len() > 64
                    || !s
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(bad(format!("{s:?} is not a store name")));
                }
                (None, Some(s))
            }
        };
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        Ok(Grant {
            grant: id,
            tenant: tenant.to_owned(),
            allow_country,
            allow_store,
            reason: reason.to_owned(),
            issued_by: issued_by.to_owned(),
            issued_at: stamp(now),
            expires_at: stamp(now + lasts),
        })
    }

    /// The exact text the MAC covers.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// When it ends; an unparsable time means it has ended.
    pub fn expires(&self) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&self.expires_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether it lets `tenant` use `store`, located in `country`, at `now`. Never for a
    /// country outside the EEA, whatever the grant says.
    pub fn covers(&self, tenant: &str, store: &str, country: &str, now: DateTime<Utc>) -> bool {
        self.tenant == tenant
            && now < self.expires()
            && eea::is_eea(country)
            && (self.allow_country.as_deref() == Some(country)
                || self.allow_store.as_deref() == Some(store))
    }
}

/// Whether a grant may lift a refusal with this code: only a policy's own narrowing (its
/// country list, its denied regions), never a non-EEA or unknown location, an endpoint
/// problem or sovereignty.
pub fn overridable(code: ResidencyCode) -> bool {
    matches!(
        code,
        ResidencyCode::CountryNotAllowed | ResidencyCode::RegionDenied
    )
}

/// A store a tenant uses only under a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantNeed {
    /// The store.
    pub store: String,
    /// Its country.
    pub country: String,
}

/// The grants in force, refreshed by whoever loads them.
#[derive(Debug, Default)]
pub struct Grants {
    active: RwLock<Vec<Grant>>,
}

impl Grants {
    /// Replaces the grants in force.
    pub fn set(&self, grants: Vec<Grant>) {
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = grants;
    }

    /// The id of a grant in force that covers `need` for `tenant`.
    pub fn covering(&self, tenant: &str, need: &GrantNeed) -> Option<String> {
        let now = Utc::now();
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|g| g.covers(tenant, &need.store, &need.country, now))
            .map(|g| g.grant.clone())
    }

    /// How many grants are in force now.
    pub fn active_count(&self) -> usize {
        let now = Utc::now();
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|g| now < g.expires())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(allow: Allow, hours: i64, reason: &str) -> Result<Grant, GrantError> {
        Grant::issue(
            "gr_1".into(),
            "acme",
            allow,
            Duration::hours(hours),
            reason,
            "ops",
            Utc::now(),
        )
    }

    #[test]
    fn grants_stay_inside_the_eea_and_72_hours_and_need_a_reason() {
        assert!(issue(Allow::Country("NL".into()), 72, "region outage").is_ok());
        assert!(issue(Allow::Country("nl".into()), 1, "x").is_ok());
        for cc in ["US", "GB", "CH", "XX", ""] {
            assert!(issue(Allow::Country(cc.into()), 1, "x").is_err(), "{cc}");
        }
        assert!(issue(Allow::Country("NL".into()), 73, "x").is_err());
        assert!(issue(Allow::Country("NL".into()), 0, "x").is_err());
        for reason in ["", "   ", "a\nb"] {
            assert!(issue(Allow::Country("NL".into()), 1, reason).is_err());
        }
        assert!(issue(Allow::Store("../x".into()), 1, "x").is_err());
    }

    #[test]
    fn a_grant_covers_its_tenant_and_location_until_it_ends() {
        let g = issue(Allow::Country("NL".into()), 1, "outage").unwrap();
        let now = Utc::now();
        assert!(g.covers("acme", "ams", "NL", now));
        assert!(!g.covers("other", "ams", "NL", now));
        assert!(!g.covers("acme", "par", "FR", now));
        assert!(!g.covers("acme", "ams", "NL", now + Duration::hours(2)));
        let s = issue(Allow::Store("ams".into()), 1, "outage").unwrap();
        assert!(s.covers("acme", "ams", "NL", now));
        // A store grant never reaches outside the EEA, whatever the store's country.
        assert!(!s.covers("acme", "ams", "US", now));
        assert!(overridable(ResidencyCode::CountryNotAllowed));
        assert!(!overridable(ResidencyCode::NonEeaRegion));
        assert!(!overridable(ResidencyCode::Sovereignty));
    }
}
