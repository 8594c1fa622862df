//! Turning service results into MCP tool results.

use rmcp::model::{CallToolResult, ContentBlock};
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
