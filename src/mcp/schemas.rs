//! The JSON Schemas the server publishes: tight (a model pays for every byte of `tools/list`
//! on every turn), standard (no schemars-only `format` values such as `uint64`, which
//! validators warn about), and written out as files for `schemas/`.

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::BitAtlasMcp;
use super::result::ErrorBody;

/// `format` values of JSON Schema 2020-12 that validators know; schemars also writes Rust
/// integer widths (`uint64`, `int32`, `double`, ...), which are dropped.
const STANDARD_FORMATS: [&str; 6] = ["date-time", "date", "time", "uri", "email", "uuid"];

/// The input schema of a tool taking `T`.
pub fn input<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let mut schema = rmcp::handler::server::common::schema_for_type::<T>()
        .as_ref()
        .clone();
    schema.remove("$schema");
    schema.remove("title");
    // The tool description says what the arguments are for.
    schema.remove("description");
    let mut value = inline_definitions(schema);
    tighten(&mut value, false);
    strip_optional_nulls(&mut value);
    into_object(value)
}

/// Replaces every `{"$ref": "#/$defs/X", ...}` by the definition of `X` (merged with the
/// siblings of the reference) and drops `$defs`: the tool schemas have no recursive types,
/// and one self-contained schema is both shorter and easier for a model to read.
fn inline_definitions(mut schema: JsonObject) -> Value {
    let defs = match schema.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => JsonObject::new(),
    };
    let mut value = Value::Object(schema);
    // Definitions may refer to each other; a few rounds resolve any nesting we have.
    for _ in 0..4 {
        resolve(&mut value, &defs);
    }
    value
}

fn resolve(value: &mut Value, defs: &JsonObject) {
    match value {
        Value::Object(map) => {
            let target = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| defs.get(name))
                .cloned();
            if let Some(Value::Object(def)) = target {
                map.remove("$ref");
                for (k, v) in def {
                    map.entry(k).or_insert(v);
                }
            }
            map.values_mut().for_each(|v| resolve(v, defs));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| resolve(v, defs)),
        _ => {}
    }
}

/// Every object schema's optional properties, recursively (see [`optional_is_absent`]).
fn strip_optional_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    if !required.contains(name) {
                        optional_is_absent(prop);
                    }
                }
            }
            map.values_mut().for_each(strip_optional_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_optional_nulls),
        _ => {}
    }
}

/// An optional argument is one that may be left out: `"default": null` and a `null` in its
/// type only cost bytes (serde still accepts an explicit null).
fn optional_is_absent(property: &mut Value) {
    let Value::Object(p) = property else { return };
    if p.get("default") == Some(&Value::Null) {
        p.remove("default");
    }
    if let Some(Value::Array(types)) = p.get("type") {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if let [single] = kept.as_slice() {
            p.insert("type".into(), single.clone());
        }
    }
    if let Some(Value::Array(branches)) = p.get("anyOf") {
        let kept: Vec<Value> = branches
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if let [single] = kept.as_slice()
            && let Value::Object(inner) = single
        {
            let inner = inner.clone();
            p.remove("anyOf");
            p.extend(inner);
        }
    }
}

/// What a tool's `structuredContent` may be: its result, or the error body. Only used to
/// derive the advertised output schema, so that clients validating error results against it
/// (as the MCP Inspector does) accept `{code, message}`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ResultOrError<T> {
    Ok(T),
    Err(ErrorBody),
}

/// The output schema of a tool returning `T`: `anyOf [T, {code, message}]`, an object either
/// way. Field descriptions are left to the tool description: output schemas are for
/// validators.
pub fn output<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let mut schema = rmcp::handler::server::tool::schema_for_output::<ResultOrError<T>>()
        .as_ref()
        .clone();
    schema.remove("$schema");
    schema.insert("type".into(), Value::String("object".into()));
    let mut value = inline_definitions(schema);
    tighten(&mut value, true);
    // Results skip absent fields rather than writing null.
    strip_optional_nulls(&mut value);
    flatten_any_of(&mut value);
    into_object(value)
}

/// A result with several shapes is an `anyOf` inside the result-or-error `anyOf`: one list
/// of alternatives says the same.
fn flatten_any_of(value: &mut Value) {
    let Some(Value::Array(alternatives)) = value.get_mut("anyOf") else {
        return;
    };
    let mut flat = Vec::with_capacity(alternatives.len());
    for alt in alternatives.drain(..) {
        match alt {
            Value::Object(mut o) if o.len() == 1 && o.contains_key("anyOf") => {
                if let Some(Value::Array(inner)) = o.remove("anyOf") {
                    flat.extend(inner);
                }
            }
            other => flat.push(other),
        }
    }
    *alternatives = flat;
}

fn into_object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(o) => Arc::new(o),
        _ => Arc::new(JsonObject::new()),
    }
}

/// Drops non-standard formats and titles everywhere, descriptions too when asked, and turns
/// a `oneOf` of documented constants (how schemars writes an enum with doc comments) into a
/// plain `enum` once the descriptions are gone.
fn tighten(value: &mut Value, drop_descriptions: bool) {
    match value {
        Value::Object(map) => {
            if map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| !STANDARD_FORMATS.contains(&f))
            {
                map.remove("format");
            }
            map.remove("title");
            if drop_descriptions {
                map.remove("description");
                // Bounds are for what callers send, not for what the server writes.
                map.remove("minimum");
                if let Some(consts) = map.get("oneOf").and_then(constants) {
                    map.remove("oneOf");
                    map.insert("type".into(), Value::String("string".into()));
                    map.insert("enum".into(), Value::Array(consts));
                }
            }
            for (k, v) in map.iter_mut() {
                match (k.as_str(), v) {
                    // Maps of name -> schema: the names are data, only the schemas tighten.
                    ("properties" | "$defs", Value::Object(schemas)) => schemas
                        .values_mut()
                        .for_each(|s| tighten(s, drop_descriptions)),
                    (_, v) => tighten(v, drop_descriptions),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| tighten(v, drop_descriptions)),
        _ => {}
    }
}

/// The constants of a `oneOf` whose every branch is `{const, type?, description?}`.
fn constants(one_of: &Value) -> Option<Vec<Value>> {
    one_of
        .as_array()?
        .iter()
        .map(|branch| {
            let b = branch.as_object()?;
            let only_const = b
                .keys()
                .all(|k| matches!(k.as_str(), "const" | "type" | "description"));
            only_const.then(|| b.get("const").cloned()).flatten()
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_widths_and_titles_go_documented_enums_shrink() {
        let mut v = serde_json::json!({
            "title": "X",
            "properties": {
                "size": {"type": "integer", "format": "uint64", "minimum": 0},
                "at": {"type": "string", "format": "date-time"},
                "title": {"type": "string", "title": "T"},
                "code": {"oneOf": [
                    {"const": "A", "type": "string", "description": "a"},
                    {"const": "B", "type": "string", "description": "b"}
                ]}
            }
        });
        tighten(&mut v, true);
        assert_eq!(
            v,
            serde_json::json!({
                "properties": {
                    "size": {"type": "integer"},
                    "at": {"type": "string", "format": "date-time"},
                    "title": {"type": "string"},
                    "code": {"type": "string", "enum": ["A", "B"]}
                }
            })
        );
    }
}
