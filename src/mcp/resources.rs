//! Resources: every object is `bitatlas://<key>`, the key percent-encoded where RFC 3986
//! needs it (`/` stays a separator). `resources/list` pages through the caller's objects,
//! `resources/read` returns an object within the inline limit as text or a blob, and one
//! template names the scheme. All of it goes through the service's `list` and `get`, so it is
//! audited and follows the caller's tool profile like the tools themselves.

use base64::Engine;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};

use crate::service::{
    Caller, ErrorCode, GetRequest, ListRequest, Service, ServiceError, is_textual,
};

/// The scheme of object URIs.
pub const SCHEME: &str = "bitatlas://";
/// Objects per `resources/list` page.
const PAGE: u32 = 100;

/// `bitatlas://` and the key, every byte outside RFC 3986's unreserved set (and `/`)
/// percent-encoded.
pub fn uri_of(key: &str) -> String {
    let mut out = String::with_capacity(SCHEME.len() + key.len());
    out.push_str(SCHEME);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The key a `bitatlas://` URI names; `None` unless it has the scheme, only well-formed
/// escapes and decodes to UTF-8. The key rules themselves are the service's.
pub fn key_of(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix(SCHEME)?.as_bytes();
    let mut bytes = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'%' => {
                let hex = rest.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'?' | b'#' => return None,
            b => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// The template every object URI follows.
pub fn templates() -> ListResourceTemplatesResult {
    let mut t = ResourceTemplate::new(format!("{SCHEME}{{key}}"), "object");
    t.description = Some(
        "An object by key (percent-encoded), e.g. bitatlas://notes/a.txt; larger than the \
         inline limit: read it with the `transfer` tool."
            .into(),
    );
    ListResourceTemplatesResult::with_all_items(vec![t])
}

/// One page of the caller's objects as resources.
pub async fn list(
    service: &Service,
    caller: &Caller,
    cursor: Option<String>,
) -> Result<ListResourcesResult, ServiceError> {
    let page = service
        .list(
            caller,
            ListRequest {
                prefix: None,
                delimiter: false,
                limit: Some(PAGE),
                cursor,
            },
        )
        .await?;
    let resources = page
        .objects
        .into_iter()
        .map(|o| {
            let mut r = Resource::new(uri_of(&o.key), o.key);
            r.mime_type = Some(o.content_type);
            r.size = Some(o.size);
            r
        })
        .collect();
    let mut result = ListResourcesResult::with_all_items(resources);
    result.next_cursor = page.next_cursor;
    Ok(result)
}

/// The object `uri` names, as text for textual types and base64 otherwise.
pub async fn read(
    service: &Service,
    caller: &Caller,
    uri: &str,
) -> Result<ReadResourceResult, ServiceError> {
    let key = key_of(uri).ok_or_else(|| {
        ServiceError::new(
            ErrorCode::InvalidArgument,
            "not a BitAtlas object URI: expected bitatlas://<key>, percent-encoded",
        )
    })?;
    let mut object = service
        .get(caller, GetRequest::whole(key))
        .await
        .map_err(|e| match e.code {
            ErrorCode::TooLarge => ServiceError::new(
                ErrorCode::TooLarge,
                format!(
                    "{}; read it with the `transfer` tool (a GET link)",
                    e.message
                ),
            ),
            _ => e,
        })?;
    let uri = uri.to_owned();
    let mime_type = Some(object.content_type.clone());
    let data = std::mem::take(&mut object.data);
    let blob = |data: Vec<u8>, uri, mime_type| ResourceContents::BlobResourceContents {
        uri,
        mime_type,
        blob: base64::engine::general_purpose::STANDARD.encode(data),
        meta: None,
    };
    let contents = if is_textual(&object.content_type) {
        match String::from_utf8(data) {
            Ok(text) => ResourceContents::TextResourceContents {
                uri,
                mime_type,
                text,
                meta: None,
            },
            Err(e) => blob(e.into_bytes(), uri, mime_type),
        }
    } else {
        blob(data, uri, mime_type)
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_and_refuse_what_is_not_one() {
        for key in ["notes/a.txt", "a b/ü ?#%.txt", "x~y_z-1.2"] {
            let uri = uri_of(key);
            assert!(
                uri.is_ascii() && !uri[SCHEME.len()..].contains([' ', '?', '#']),
                "{uri}"
            );
            assert_eq!(key_of(&uri).as_deref(), Some(key), "{uri}");
        }
        assert_eq!(uri_of("a b/c"), "bitatlas://a%20b/c");
        for bad in [
            "file:///etc/passwd",
            "bitatlas://a%2",
            "bitatlas://a%zz",
            "bitatlas://%FF",
            "bitatlas://a?x=1",
            "bitatlas://a#f",
        ] {
            assert_eq!(key_of(bad), None, "{bad}");
        }
    }
}
