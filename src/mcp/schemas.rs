//! The JSON Schemas the server publishes, as files for `schemas/`.

use serde_json::Value;

use super::BitAtlasMcp;

/// `(file name, schema)` for every tool input and output, exactly as `tools/list` shows them.
pub fn tool_schemas() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for tool in BitAtlasMcp::tools() {
        out.push((
            format!("tool.{}.input.json", tool.name),
            Value::Object((*tool.input_schema).clone()),
        ));
        if let Some(schema) = &tool.output_schema {
            out.push((
                format!("tool.{}.output.json", tool.name),
                Value::Object((**schema).clone()),
            ));
        }
    }
    out
}
