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

/// The same refusals through the command line: `residency check --endpoint` prints one JSON
/// object with `POLICY_INVALID_ENDPOINT` and exits 3 for every spelling that URL parsing would
/// have normalised, and accepts the canonical spelling of the same endpoint.
#[test]
fn residency_check_cli_refuses_normalised_spellings() {
    let run = |provider: &str, endpoint: &str, country: Option<&str>| {
        let mut cmd =
            crate::support::bin::bitatlas(&["residency", "check", "--provider", provider]);
        cmd.args(["--region", "fr-par", "--endpoint", endpoint])
            .env("RUST_LOG", "off");
        if let Some(c) = country {
            cmd.args(["--country", c]);
        }
        let out = crate::support::bin::output(cmd);
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let v: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON object");
        (out.status.code(), v)
    };
    for endpoint in [
        "https:s3.fr-par.scw.cloud",
        "https:///s3.fr-par.scw.cloud",
        "https://s3.fr-par.scw.cloud:",
        "https://s3.fr-par.scw.cloud:0443",
    ] {
        let (code, v) = run("scaleway", endpoint, None);
        assert_eq!(code, Some(3), "{endpoint}: {v}");
        assert_eq!(v["code"], "POLICY_INVALID_ENDPOINT", "{endpoint}: {v}");
        assert_eq!(v["allowed"], false);
    }
    for endpoint in [
        "http://0177.0.0.1:3900",
        "http://127.1:3900",
        "http://localhost:0",
        "http://localhost:03900",
        "http://@localhost:3900",
        "http://[0:0:0:0:0:0:0:1]:3900",
    ] {
        let (code, v) = run("garage", endpoint, Some("FR"));
        assert_eq!(code, Some(3), "{endpoint}: {v}");
        assert_eq!(v["code"], "POLICY_INVALID_ENDPOINT", "{endpoint}: {v}");
    }
    let (code, v) = run("scaleway", "https://s3.fr-par.scw.cloud:443", None);
    assert_eq!(
        (code, &v["code"]),
        (Some(0), &serde_json::json!("OK")),
        "{v}"
    );
    let (code, v) = run("garage", "http://127.0.0.1:3900", Some("FR"));
    assert_eq!(
        (code, &v["code"]),
        (Some(0), &serde_json::json!("OK")),
        "{v}"
    );
}
