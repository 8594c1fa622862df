//! Every example configuration parses (the config schema is generated from the same types)
//! and is accepted by `bitatlas residency report` offline.

use std::process::Command;

#[test]
fn every_example_config_is_valid_and_resident() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: Result<bitatlas::config::ConfigFile, _> = toml::from_str(&text);
        assert!(parsed.is_ok(), "{}: {:?}", path.display(), parsed.err());
        let out = Command::new(env!("CARGO_BIN_EXE_bitatlas"))
            .args(["residency", "report", "--json", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            rows.as_array().is_some_and(|r| !r.is_empty()),
            "{}: report has rows",
            path.display()
        );
        seen.push(path.file_name().unwrap().to_string_lossy().to_string());
    }
    for provider in [
        "scaleway", "ovh", "hetzner", "exoscale", "ionos", "aws", "garage",
    ] {
        assert!(
            seen.contains(&format!("bitatlas.{provider}.toml")),
            "missing example for {provider}"
        );
    }
}

#[test]
fn client_config_examples_are_json() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in ["claude_desktop_config.json", "vscode-mcp.json"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).expect(name);
        assert!(v.is_object());
    }
}
