//! `get`: an object, or a range of it, as text, base64 or an image the model can see.

use std::collections::BTreeMap;

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::payload::{self, Encoding};
use crate::mcp::result::{TEXT_COPY_MAX, structured, structured_with, with_links};
use crate::service::{
    ByteRange, Caller, GetRequest, Limits, Object, Progress, Saved, Service, ServiceError,
};

/// Image types clients can show a model; a whole object of one of these comes back as an
/// image content block.
const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// `start` inclusive, `end` exclusive (default: the end).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeArg {
    /// First byte, from 0.
    pub start: u64,
    /// One past the last byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
}

/// `get` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// Object key.
    pub key: String,
    /// Only these bytes.
    pub range: Option<RangeArg>,
    /// Or save to a local file (any size; needs a files root).
    pub save_to: Option<String>,
}

/// A read returned inline, or saved to a local file.
#[derive(Debug)]
pub enum GetCall {
    /// Returned in the result.
    Inline(GetRequest),
    /// Saved to the path.
    Save(GetRequest, String),
}

impl Args for GetArgs {
    type Request = GetCall;
    type Output = GetOutput;
    fn into_request(self, _: &Limits) -> Result<GetCall, ServiceError> {
        let request = GetRequest {
            key: self.key,
            range: self.range.map(|r| ByteRange {
                start: r.start,
                end: r.end,
            }),
        };
        Ok(match self.save_to {
            Some(path) => GetCall::Save(request, path),
            None => GetCall::Inline(request),
        })
    }

    async fn call(s: &Service, c: &Caller, r: GetCall, p: Option<&dyn Progress>) -> Outcome {
        match r {
            GetCall::Inline(r) => Ok(present(s.get_reporting(c, r, p).await?)),
            GetCall::Save(r, path) => Ok(saved(s.save_file(c, r, &path, p).await?)),
        }
    }
}

/// What `get` answers: the object, or where it was saved (the type exists for the schema;
/// each arm is written by its own function).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum GetOutput {
    /// Returned inline.
    Read(GetResult),
    /// Saved with `save_to`.
    Saved(SavedResult),
}

/// `get` with `save_to`: the object's size, where it went, and the bytes written when only a
/// range was saved.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SavedResult {
    key: String,
    size: u64,
    saved_to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    written: Option<u64>,
}

fn saved(s: Saved) -> CallToolResult {
    structured(&SavedResult {
        key: s.key,
        size: s.size,
        saved_to: s.saved_to,
        written: (s.written != s.size).then_some(s.written),
    })
}

/// What a model reads about `get`.
pub const ABOUT: &str = "Read an object: text for textual types, image block for images, \
else base64. Large: a `range` (only that part is fetched and decrypted), `save_to` a \
file, or `transfer`. Example: {\"key\":\"notes/a.txt\"}";

/// `get` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GetResult {
    key: String,
    size: u64,
    content_type: String,
    metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<RangeArg>,
    encoding: Encoding,
    /// Absent for an image, which travels as the image content block instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    /// Why text came back as base64, or where the data is.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    served_by: Option<String>,
}

/// The payload travels once: text within [`TEXT_COPY_MAX`] is also the text block (clients
/// that read only `content` see the document); an image is an image block and not in
/// `data`; anything else has a one-line text block pointing at `data`.
fn present(object: Object) -> CallToolResult {
    let ranged = object.range.is_some();
    let image = !ranged && is_image(&object.content_type);
    let mime = object.content_type.clone();
    let encoded = payload::encode(&object.content_type, object.data, ranged);
    let link = (object.key.clone(), object.content_type.clone(), object.size);
    let mut result = GetResult {
        key: object.key,
        size: object.size,
        content_type: object.content_type,
        metadata: object.metadata,
        range: object.range.map(|r| RangeArg {
            start: r.start,
            end: r.end,
        }),
        encoding: encoded.encoding,
        data: None,
        note: encoded.note,
        served_by: object.served_by.map(|p| p.store),
    };
    let block = if image {
        result.note = Some("the image is the content block, not `data`");
        ContentBlock::image(encoded.data, mime)
    } else if encoded.encoding == Encoding::Utf8 && encoded.data.len() <= TEXT_COPY_MAX {
        let text = ContentBlock::text(encoded.data.clone());
        result.data = Some(encoded.data);
        text
    } else {
        let line = format!(
            "{} bytes of {} in structuredContent.data ({}).",
            encoded.data.len(),
            mime,
            if encoded.encoding == Encoding::Utf8 {
                "utf8"
            } else {
                "base64"
            }
        );
        result.data = Some(encoded.data);
        ContentBlock::text(line)
    };
    let result = structured_with(&result, vec![block]);
    with_links(result, [(link.0.as_str(), Some(link.1.as_str()), link.2)])
}

fn is_image(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    IMAGE_TYPES.iter().any(|t| essence.eq_ignore_ascii_case(t))
}
