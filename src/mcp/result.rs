//! Turning service results into MCP tool results.

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

use crate::service::{ErrorCode, ServiceError};

/// Results whose JSON is at most this long are also given as a text block (for clients that
/// only read `content`); longer ones get a one-line pointer instead, so that a large answer
/// travels once.
pub const TEXT_COPY_MAX: usize = 64 * 1024;

/// The structured body of every failed call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable code.
    // A plain string in schemas: the codes are listed once, in the server instructions.
    #[schemars(with = "String")]
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

/// A successful result: `structuredContent`, plus its JSON as text when that is small.
pub fn structured<T: Serialize>(value: &T) -> CallToolResult {
    let Ok(value) = serde_json::to_value(value) else {
        return encoding_failed();
    };
    let text = value.to_string();
    let text = if text.len() <= TEXT_COPY_MAX {
        text
    } else {
        format!(
            "The result ({} bytes of JSON) is in structuredContent.",
            text.len()
        )
    };
    with_content(value, vec![ContentBlock::text(text)])
}

/// A successful result with its own content blocks (e.g. the text of a document, an image);
/// the structured value is not serialised a second time as text.
pub fn structured_with<T: Serialize>(value: &T, content: Vec<ContentBlock>) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(value) => with_content(value, content),
        Err(_) => encoding_failed(),
    }
}

/// `result` with a `resource_link` block for each object (key, MIME type, size): the
/// object as a resource the client can attach or read (`bitatlas://<key>`).
pub fn with_links<'a>(
    mut result: CallToolResult,
    objects: impl IntoIterator<Item = (&'a str, Option<&'a str>, u64)>,
) -> CallToolResult {
    for (key, mime, size) in objects {
        let mut r = rmcp::model::Resource::new(super::resources::uri_of(key), key);
        r.mime_type = mime.map(str::to_owned);
        r.size = Some(size);
        result.content.push(ContentBlock::resource_link(r));
    }
    result
}

fn with_content(value: serde_json::Value, content: Vec<ContentBlock>) -> CallToolResult {
    let mut r = CallToolResult::success(content);
    r.structured_content = Some(value);
    r
}

fn encoding_failed() -> CallToolResult {
    failure(&ServiceError::new(
        ErrorCode::Internal,
        "result could not be encoded",
    ))
}

/// A failed call: `isError: true`, text `CODE: message`, structured `{code, message}`.
pub fn failure(e: &ServiceError) -> CallToolResult {
    let body = ErrorBody {
        code: e.code,
        message: e.message.clone(),
    };
    let structured = serde_json::to_value(&body).unwrap_or_default();
    let mut r = CallToolResult::structured_error(structured);
    r.content = vec![ContentBlock::text(e.to_string())];
    r
}
