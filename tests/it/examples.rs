//! Every example configuration parses (the config schema is generated from the same types)
//! and is accepted by `bitatlas residency report` offline.

use crate::support::bin;

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
        let out = bin::run(&["residency", "report", "--json", "--config", bin::s(&path)]);
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

/// The IDE examples keep the data directory (keys included) out of the workspace: a
/// `${workspaceFolder}/...` data directory is one `git add .` away from a commit.
#[test]
fn client_examples_keep_the_data_directory_out_of_the_workspace() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in ["claude_desktop_config.json", "vscode-mcp.json"] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let servers = v
            .get("servers")
            .or_else(|| v.get("mcpServers"))
            .and_then(|s| s.as_object())
            .expect(name);
        for (server, cfg) in servers {
            let args: Vec<&str> = cfg["args"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            let env = cfg["env"].as_object();
            let data_dirs = args
                .windows(2)
                .filter(|w| w[0] == "--data-dir")
                .map(|w| w[1])
                .chain(env.and_then(|e| e.get("BITATLAS_DATA_DIR")?.as_str()));
            for d in data_dirs {
                assert!(
                    !d.contains("${workspaceFolder}") && !d.starts_with('.'),
                    "{name}: server {server} keeps its data directory {d} in the workspace"
                );
            }
        }
    }
}

/// A data directory the server creates ignores itself for git, wherever it is.
#[test]
fn a_new_data_directory_is_ignored_by_git() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("workspace/.bitatlas");
    let out = bin::serve_once(&data, &[]);
    let ignore = std::fs::read_to_string(data.join(".gitignore")).unwrap_or_else(|e| {
        panic!(
            "no .gitignore ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(ignore.lines().any(|l| l.trim() == "*"), "{ignore}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    // An existing directory is not touched.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    let _ = bin::serve_once(&mine, &[]);
    assert!(!mine.join(".gitignore").exists());
}
