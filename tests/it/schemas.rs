//! The checked-in JSON Schemas in `schemas/` match the Rust types. Regenerate with
//! `UPDATE_SCHEMAS=1 cargo test --test it schemas::`.

use std::path::PathBuf;

use serde_json::Value;

fn all_schemas() -> Vec<(String, Value)> {
    let mut out = bitatlas::mcp::tool_schemas();
    out.push((
        "config.json".into(),
        serde_json::to_value(schemars::schema_for!(bitatlas::config::ConfigFile)).unwrap(),
    ));
    out.push((
        "audit-record.json".into(),
        serde_json::to_value(schemars::schema_for!(bitatlas::audit::AuditRecord)).unwrap(),
    ));
    out
}

#[test]
fn checked_in_schemas_match_the_code() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let schemas = all_schemas();
    let mut drift = Vec::new();
    for (name, schema) in &schemas {
        let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            drift.push(name.clone());
        }
    }
    // No stale files either.
    let expected: Vec<&str> = schemas.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".json") && !expected.contains(&name.as_str()) {
            drift.push(format!("{name} (stale)"));
        }
    }
    assert!(
        drift.is_empty(),
        "schemas drifted from the code: {drift:?}; run UPDATE_SCHEMAS=1 cargo test --test it schemas::"
    );
}

#[test]
fn every_tool_has_input_and_output_schema() {
    let names: Vec<String> = all_schemas().into_iter().map(|(n, _)| n).collect();
    for tool in ["put", "get", "delete", "list", "search", "presign"] {
        assert!(
            names.contains(&format!("tool.{tool}.input.json")),
            "{tool} input"
        );
        assert!(
            names.contains(&format!("tool.{tool}.output.json")),
            "{tool} output"
        );
    }
}

/// Every tool description and schema is context a model pays for on every turn: the
/// `tools/list` answer averages at most 1333 bytes per tool (the 8000 bytes the first six
/// tools had in all) and no tool takes more than 1800; no schema carries a `format` that
/// standard validators do not know (the MCP Inspector warns about `uint64` and the like).
#[test]
fn tools_list_is_lean_and_standard() {
    let tools = bitatlas::mcp::BitAtlasMcp::tools();
    let listed = serde_json::json!({ "tools": tools }).to_string();
    let budget = 8000 * tools.len() / 6;
    assert!(
        listed.len() <= budget,
        "tools/list is {} bytes for {} tools (budget {budget})",
        listed.len(),
        tools.len()
    );
    for t in &tools {
        let one = serde_json::to_string(t).unwrap().len();
        assert!(one <= 1800, "{} takes {one} bytes in tools/list", t.name);
    }
    for bad in ["uint", "int32", "int64", "double", "float"] {
        assert!(
            !listed.contains(&format!("\"format\":\"{bad}")),
            "non-standard format {bad}"
        );
    }
    eprintln!("tools/list: {} bytes", listed.len());
    if std::env::var_os("SHOW_TOOLS").is_some() {
        eprintln!("{listed}");
    }
}
