//! Table-driven checks over the whole provider catalog.

use bitatlas::config::{ConfigFile, PolicyConfig};
use bitatlas::residency::{
    self, Catalog, DataClass, Policies, Policy, ResidencyCode as C, StoreSpec, eea,
};
use bitatlas_adapters::catalog::{ProviderKind, Region};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

/// Every usable host of a region (path-style, virtual-hosted, account-style).
fn hosts(r: &Region) -> Vec<(String, Option<String>)> {
    let mut v: Vec<(String, Option<String>)> = r.hosts.iter().map(|h| (h.clone(), None)).collect();
    if r.virtual_hosted {
        for h in &r.hosts {
            v.push((format!("my-bucket.{h}"), Some("my-bucket".into())));
        }
    }
    if let Some(s) = &r.account_host_suffix {
        v.push((format!("{ACCOUNT}.{s}"), None));
    }
    v
}

fn spec(provider: &str, r: &Region) -> StoreSpec {
    let (host, bucket) = hosts(r).remove(0);
    StoreSpec {
        name: format!("{provider}-{}", r.id),
        provider: provider.into(),
        region: Some(r.id.clone()),
        endpoint: Some(format!("https://{host}")),
        bucket,
        attested_country: None,
    }
}

fn public_regions() -> Vec<(&'static str, &'static Region, Option<&'static str>)> {
    Catalog::builtin()
        .providers()
        .iter()
        .filter(|p| p.kind == ProviderKind::Public)
        .flat_map(|p| {
            p.regions
                .iter()
                .map(move |r| (p.id.as_str(), r, p.owner_jurisdiction.as_deref()))
        })
        .collect()
}

fn policy(cfg: PolicyConfig) -> Policy {
    Policy::from_config("test", &cfg).expect("valid policy")
}

#[test]
fn eea_policy_allows_every_eea_region_and_denies_every_other() {
    let eea_policy = Policy::eea_default();
    let (mut allowed, mut denied) = (0, 0);
    for (provider, r, _) in public_regions() {
        for (host, bucket) in hosts(r) {
            let s = StoreSpec {
                endpoint: Some(format!("https://{host}")),
                bucket,
                ..spec(provider, r)
            };
            let d = residency::check(Catalog::builtin(), &eea_policy, &s);
            if eea::is_eea(&r.country) {
                assert!(
                    d.allowed,
                    "{provider}:{} via {host} must be allowed: {}",
                    r.id, d.message
                );
                assert_eq!(d.code, C::Ok);
                assert_eq!(d.country.as_deref(), Some(r.country.as_str()));
                assert_eq!(d.endpoint_host.as_deref(), Some(host.as_str()));
                allowed += 1;
            } else {
                assert!(!d.allowed);
                assert_eq!(d.code, C::NonEeaRegion, "{provider}:{}", r.id);
                denied += 1;
            }
        }
    }
    assert!(
        allowed > 50 && denied > 20,
        "{allowed} allowed, {denied} denied"
    );
}

#[test]
fn fr_pin_allows_only_french_regions() {
    let fr = policy(PolicyConfig {
        countries: vec!["FR".into()],
        ..PolicyConfig::default()
    });
    for (provider, r, _) in public_regions() {
        let d = residency::check(Catalog::builtin(), &fr, &spec(provider, r));
        let expected = if r.country == "FR" {
            C::Ok
        } else if eea::is_eea(&r.country) {
            C::CountryNotAllowed
        } else {
            C::NonEeaRegion
        };
        assert_eq!(d.code, expected, "{provider}:{}", r.id);
        assert_eq!(d.allowed, expected == C::Ok);
    }
}

#[test]
fn de_pin_allows_only_german_regions() {
    let de = policy(PolicyConfig {
        countries: vec!["DE".into()],
        ..PolicyConfig::default()
    });
    let mut n = 0;
    for (provider, r, _) in public_regions() {
        let d = residency::check(Catalog::builtin(), &de, &spec(provider, r));
        assert_eq!(d.allowed, r.country == "DE", "{provider}:{}", r.id);
        n += usize::from(d.allowed);
    }
    assert!(n >= 8);
}

#[test]
fn sovereign_refuses_non_eu_owners_even_in_eu_regions() {
    let sov = policy(PolicyConfig {
        sovereign: true,
        ..PolicyConfig::default()
    });
    let mut refused = Vec::new();
    for (provider, r, owner) in public_regions() {
        let d = residency::check(Catalog::builtin(), &sov, &spec(provider, r));
        let owner_ok = owner.is_some_and(eea::is_eea);
        let expected = if !eea::is_eea(&r.country) {
            C::NonEeaRegion
        } else if owner_ok {
            C::Ok
        } else {
            C::Sovereignty
        };
        assert_eq!(d.code, expected, "{provider}:{}", r.id);
        if expected == C::Sovereignty {
            refused.push(provider);
        }
    }
    for p in ["aws", "cloudflare-r2", "exoscale"] {
        assert!(refused.contains(&p), "{p} must be refused under sovereign");
    }
    for p in ["scaleway", "ovh", "hetzner", "ionos"] {
        assert!(!refused.contains(&p), "{p} is EU-owned");
    }
}

#[test]
fn deny_regions_refuses_exactly_the_listed_regions() {
    for (provider, r, _) in public_regions() {
        if !eea::is_eea(&r.country) {
            continue;
        }
        let p = policy(PolicyConfig {
            deny_regions: vec![format!("{provider}:{}", r.id)],
            ..PolicyConfig::default()
        });
        let d = residency::check(Catalog::builtin(), &p, &spec(provider, r));
        assert_eq!(d.code, C::RegionDenied, "{provider}:{}", r.id);
        // Every other EEA region of the same provider is still allowed.
        for (p2, r2, _) in public_regions() {
            if p2 == provider && r2.id != r.id && eea::is_eea(&r2.country) {
                assert!(residency::check(Catalog::builtin(), &p, &spec(p2, r2)).allowed);
            }
        }
    }
}

#[test]
fn policy_configuration_is_validated() {
    let bad = |countries: &[&str], adequacy: bool| {
        Policy::from_config(
            "p",
            &PolicyConfig {
                countries: countries.iter().map(|s| s.to_string()).collect(),
                allow_adequacy: adequacy,
                ..PolicyConfig::default()
            },
        )
        .is_err()
    };
    assert!(bad(&["GB"], false));
    assert!(bad(&["CH"], false));
    assert!(bad(&["US"], true));
    assert!(bad(&["fr"], false));
    assert!(bad(&["FRA"], false));
    assert!(bad(&["EU"], false));
    assert!(!bad(&["GB"], true));
    assert!(!bad(&["FR", "DE"], false));
    let dr = |e: &str| {
        Policy::from_config(
            "p",
            &PolicyConfig {
                deny_regions: vec![e.into()],
                ..PolicyConfig::default()
            },
        )
        .is_err()
    };
    assert!(dr("scaleway") && dr(":fr-par") && dr("scaleway:") && dr("a:b:c"));
    assert!(!dr("scaleway:fr-par"));
    let mut cfg = ConfigFile::default();
    cfg.policies.insert("eea".into(), PolicyConfig::default());
    assert!(
        Policies::from_config(&cfg).is_err(),
        "eea cannot be redefined"
    );
    let all = Policies::from_config(&ConfigFile::default()).expect("default");
    assert!(all.get("eea").is_some());
    assert_eq!(
        all.require("nope").map(|_| ()).unwrap_err().code(),
        "POLICY_UNKNOWN"
    );
}

#[test]
fn only_p2_may_leave_the_policy() {
    let p = Policy::eea_default();
    for class in [DataClass::P0, DataClass::P1] {
        assert!(p.allows_class(class, "FR"));
        assert!(!p.allows_class(class, "US"));
        assert!(!p.allows_class(class, "GB"));
    }
    assert!(p.allows_class(DataClass::P2, "US"));
}

#[test]
fn docs_list_every_catalog_region_and_host() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/residency.md"))
        .expect("docs/residency.md");
    for p in Catalog::builtin().providers() {
        assert!(
            doc.contains(&format!("(`{}`", p.id)),
            "docs miss provider {}",
            p.id
        );
        for r in &p.regions {
            assert!(
                doc.contains(&format!("| `{}` |", r.id)),
                "docs miss {}:{}",
                p.id,
                r.id
            );
            for h in &r.hosts {
                assert!(doc.contains(&format!("`{h}`")), "docs miss host {h}");
            }
        }
    }
    for cc in eea::eea_countries() {
        assert!(doc.contains(cc), "docs miss EEA country {cc}");
    }
}
