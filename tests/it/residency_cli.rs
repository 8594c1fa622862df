//! `bitatlas residency check|report` as a process: JSON on stdout and exit codes.

use std::process::Output;

use crate::support::bin;
use crate::support::config::Config;

fn bitatlas(args: &[&str]) -> Output {
    let mut cmd = bin::bitatlas(args);
    cmd.env("RUST_LOG", "off");
    bin::output(cmd)
}

fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8 stdout");
    assert_eq!(text.lines().count(), 1, "exactly one JSON line: {text:?}");
    serde_json::from_str(&text).expect("stdout is JSON")
}

#[test]
fn allowed_region_exits_0_with_json() {
    let out = bitatlas(&[
        "residency",
        "check",
        "--provider",
        "scaleway",
        "--region",
        "fr-par",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["allowed"], true);
    assert_eq!(v["code"], "OK");
    assert_eq!(v["provider"], "scaleway");
    assert_eq!(v["region"], "fr-par");
    assert_eq!(v["city"], "Paris");
    assert_eq!(v["country"], "FR");
    assert_eq!(v["owner_jurisdiction"], "FR");
    assert_eq!(v["endpoint_host"], "s3.fr-par.scw.cloud");
    assert!(v["message"].is_string());
}

#[test]
fn london_is_denied_with_exit_3() {
    let out = bitatlas(&[
        "residency",
        "check",
        "--provider",
        "aws",
        "--region",
        "eu-west-2",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["code"], "POLICY_NON_EEA_REGION");
    assert_eq!(v["country"], "GB");
}

#[test]
fn forbidden_endpoint_is_denied() {
    let out = bitatlas(&[
        "residency",
        "check",
        "--provider",
        "aws",
        "--region",
        "eu-west-1",
        "--endpoint",
        "https://s3-accelerate.amazonaws.com",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json(&out)["code"], "POLICY_FORBIDDEN_ENDPOINT");
}

#[test]
fn attested_self_hosted_store_is_allowed() {
    let out = bitatlas(&[
        "residency",
        "check",
        "--provider",
        "garage",
        "--region",
        "fr-par",
        "--endpoint",
        "http://127.0.0.1:3900",
        "--country",
        "FR",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["attested"], true);
    assert_eq!(v["country"], "FR");
}

#[test]
fn usage_errors_exit_2() {
    let out = bitatlas(&["residency", "check", "--provider", "aws"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = bitatlas(&[
        "residency",
        "check",
        "--provider",
        "aws",
        "--region",
        "eu-west-1",
        "--policy",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn policy_from_config_is_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bitatlas.toml");
    std::fs::write(&path, "[policies.fr]\ncountries = [\"FR\"]\n").expect("write");
    let p = path.to_str().expect("utf-8 path");
    let out = bitatlas(&[
        "residency",
        "check",
        "--provider",
        "scaleway",
        "--region",
        "nl-ams",
        "--policy",
        "fr",
        "--config",
        p,
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json(&out)["code"], "POLICY_COUNTRY_NOT_ALLOWED");
}

const CONFIG: &str = r#"
[policies.fr]
countries = ["FR"]

[stores.paris]
provider = "scaleway"
region = "fr-par"
bucket = "b"

[stores.london]
provider = "aws"
region = "eu-west-2"

[stores.disk]
provider = "local"
path = "/tmp/x"
country = "DE"

[tenants.acme]
store = "disk"
policy = "fr"
"#;

#[test]
fn report_lists_every_store_and_exits_3_when_one_is_denied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bitatlas.toml");
    std::fs::write(&path, CONFIG).expect("write");
    let p = path.to_str().expect("utf-8 path");
    let out = bitatlas(&["residency", "report", "--config", p, "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    let rows = v.as_array().expect("array");
    let find = |store: &str, tenant: Option<&str>| {
        rows.iter()
            .find(|r| r["store"] == store && r["tenant"].as_str() == tenant)
            .unwrap_or_else(|| panic!("row {store} {tenant:?}"))
    };
    assert_eq!(find("paris", None)["code"], "OK");
    assert_eq!(find("london", None)["code"], "POLICY_NON_EEA_REGION");
    assert_eq!(find("disk", None)["code"], "OK");
    assert_eq!(
        find("disk", Some("acme"))["code"],
        "POLICY_COUNTRY_NOT_ALLOWED"
    );
    assert!(
        find("paris", None)["not_checked"]
            .as_str()
            .is_some_and(|s| s.contains("start-up"))
    );

    let table = bitatlas(&["residency", "report", "--config", p]);
    assert_eq!(table.status.code(), Some(3));
    let text = String::from_utf8(table.stdout).expect("utf-8");
    assert!(text.contains("london") && text.contains("POLICY_NON_EEA_REGION"));
    assert!(text.contains("start-up"));
}

#[test]
fn report_of_an_all_eea_config_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bitatlas.toml");
    std::fs::write(
        &path,
        "[stores.paris]\nprovider = \"scaleway\"\nregion = \"fr-par\"\n",
    )
    .expect("write");
    let out = bitatlas(&[
        "residency",
        "report",
        "--config",
        path.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    // The store, and the tenant `serve` creates on it when the configuration names none.
    let v = json(&out);
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0]["tenant"].is_null() && rows[0]["store"] == "paris");
    assert_eq!(rows[1]["tenant"], "default");
    assert_eq!(rows[1]["store"], "paris");
    assert!(rows.iter().all(|r| r["code"] == "OK"));
}

#[test]
fn zero_config_report_names_the_store_as_serve_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bitatlas(&[
        "residency",
        "report",
        "--json",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["store"], "local");
    assert!(rows[0]["tenant"].is_null());
    assert_eq!(rows[0]["decision"]["country"], "DE");
    assert_eq!(rows[1]["store"], "local");
    assert_eq!(rows[1]["tenant"], "default");
    assert_eq!(rows[1]["policy"], "eea");
    // The same name the start-up banner uses.
    let serve = bin::serve_once(dir.path(), &[]);
    assert!(
        String::from_utf8_lossy(&serve.stderr).contains("store local:"),
        "{}",
        String::from_utf8_lossy(&serve.stderr)
    );
    // A local country set in the configuration is the one reported.
    let path = dir.path().join("bitatlas.toml");
    std::fs::write(&path, "[server]\nlocal_country = \"FR\"\n").expect("write");
    let out = bitatlas(&[
        "residency",
        "report",
        "--json",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert_eq!(json(&out)[0]["decision"]["country"], "FR");
}

/// `residency report --json` on `config`, written to `DIR/bitatlas.toml`.
fn report_on(dir: &std::path::Path, config: &Config) -> (Output, std::path::PathBuf) {
    let path = config.write_in(dir);
    let out = bitatlas(&[
        "residency",
        "report",
        "--json",
        "--config",
        path.to_str().expect("utf-8"),
    ]);
    (out, path)
}

/// A local store `disk` attested in DE.
fn disk() -> Config {
    Config::new().local_store("disk", std::path::Path::new("/tmp/x"), "DE")
}

#[test]
fn every_tenant_gets_a_row_also_on_the_default_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = disk()
        .tenant("acme", "disk")
        .tenant_with_policy("globex", "disk", "eea");
    let (out, path) = report_on(dir.path(), &config);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let rows = v.as_array().expect("array");
    for tenant in ["acme", "globex"] {
        let row = rows
            .iter()
            .find(|r| r["tenant"] == tenant)
            .unwrap_or_else(|| panic!("no row for tenant {tenant}: {rows:?}"));
        assert_eq!(row["store"], "disk");
        assert_eq!(row["policy"], "eea");
        assert_eq!(row["code"], "OK");
    }
    let table = bitatlas(&["residency", "report", "--config", path.to_str().unwrap()]);
    let text = String::from_utf8(table.stdout).expect("utf-8");
    assert!(
        text.lines()
            .any(|l| l.starts_with("disk") && l.contains("acme")),
        "{text}"
    );
}

#[test]
fn report_exit_codes_follow_the_kind_of_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A tenant naming a policy that does not exist is a configuration error, not a denial.
    let acme = disk().tenant_with_policy("acme", "disk", "nope");
    let (out, _) = report_on(dir.path(), &acme);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "POLICY_UNKNOWN")
    );
    // A denial wins over a configuration error.
    let london =
        acme.set("stores.london", "provider", "aws")
            .set("stores.london", "region", "eu-west-2");
    let (out, _) = report_on(dir.path(), &london);
    assert_eq!(out.status.code(), Some(3));
}
