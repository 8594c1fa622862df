//! Runs the adversarial corpus `tests/data/residency/endpoints.toml`: every case must get the
//! safe answer with exactly the expected code.

use std::collections::{BTreeMap, BTreeSet};

use bitatlas::config::{ConfigFile, PolicyConfig};
use bitatlas::residency::{self, Catalog, Policies, ResidencyCode, StoreSpec};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    policies: BTreeMap<String, PolicyConfig>,
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    provider: String,
    region: String,
    endpoint: Option<String>,
    bucket: Option<String>,
    country: Option<String>,
    policy: Option<String>,
    expect: String,
}

fn corpus() -> Corpus {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/residency/endpoints.toml"
    );
    let text = std::fs::read_to_string(path).expect("corpus readable");
    toml::from_str(&text).expect("corpus parses")
}

#[test]
fn adversarial_corpus_gets_the_safe_answer() {
    let corpus = corpus();
    let cfg = ConfigFile {
        policies: corpus.policies,
        ..ConfigFile::default()
    };
    let policies = Policies::from_config(&cfg).expect("corpus policies valid");
    let catalog = Catalog::builtin();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for case in &corpus.case {
        let expected = ResidencyCode::parse(&case.expect)
            .unwrap_or_else(|| panic!("case {:?}: unknown code {}", case.name, case.expect));
        seen.insert(expected.as_str());
        let policy = policies
            .get(case.policy.as_deref().unwrap_or("eea"))
            .unwrap_or_else(|| panic!("case {:?}: unknown policy", case.name));
        let spec = StoreSpec {
            name: String::new(),
            provider: case.provider.clone(),
            region: Some(case.region.clone()),
            endpoint: case.endpoint.clone(),
            bucket: case.bucket.clone(),
            attested_country: case.country.clone(),
        };
        let d = residency::check(catalog, policy, &spec);
        if d.code != expected || d.allowed != (expected == ResidencyCode::Ok) {
            failures.push(format!(
                "{:?}: expected {}, got {} (allowed={}): {}",
                case.name, case.expect, d.code, d.allowed, d.message
            ));
        }
        // A refusal never names a usable endpoint as verified.
        if !d.allowed {
            assert!(residency::check_location_answer(&d, "fr-par").is_err());
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
    for code in ResidencyCode::ALL {
        assert!(
            seen.contains(code.as_str()),
            "corpus should exercise {code}"
        );
    }
    assert!(corpus.case.len() >= 100);
}

#[test]
fn corpus_file_is_plain_ascii() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/residency/endpoints.toml"
    );
    let bytes = std::fs::read(path).expect("readable");
    assert!(bytes.iter().all(|b| b.is_ascii()));
}
