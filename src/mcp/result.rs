//! Turning service results into MCP tool results.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use schemars::JsonSchema;
use serde::Serialize;

use crate::service::{ErrorOutput, ServiceError};

/// A successful result: structured content plus its JSON as text.
pub fn success<T: Serialize>(value: &T) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) => CallToolResult::structured(v),
        Err(_) => failure(&ServiceError::new(
            crate::service::ErrorCode::Internal,
            "result could not be encoded",
        )),
    }
}

/// A successful result whose text block is `text` itself (for `get` of textual content),
/// so clients that read only `content` see the document, not a JSON wrapper.
pub fn success_with_text<T: Serialize>(value: &T, text: String) -> CallToolResult {
    let mut r = success(value);
    if r.is_error != Some(true) {
        r.content = vec![ContentBlock::text(text)];
    }
    r
}

/// A failed call: `isError: true`, text `CODE: message`, structured `{code, message}`.
pub fn failure(e: &ServiceError) -> CallToolResult {
    let body = ErrorOutput {
        code: e.code,
        message: e.message.clone(),
    };
    let structured = serde_json::to_value(&body).unwrap_or_default();
    let mut r = CallToolResult::structured_error(structured);
    r.content = vec![ContentBlock::text(e.to_string())];
    r
}

/// What a tool's `structuredContent` may be: its result, or the error body. Used only to
/// derive the advertised output schema, so that clients validating error results against it
/// (as the MCP Inspector does) accept `{code, message}`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Outcome<T> {
    /// The tool's result.
    Ok(T),
    /// The error body of a result with `isError: true`.
    Err(ErrorOutput),
}

/// The output schema of a tool returning `T`: `anyOf [T, {code, message}]`, an object either way.
pub fn output_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let schema = rmcp::handler::server::tool::schema_for_output::<Outcome<T>>();
    let mut object = schema.as_ref().clone();
    object.insert("type".into(), serde_json::Value::String("object".into()));
    Arc::new(object)
}
