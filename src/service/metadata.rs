//! Validation of content types and user metadata (both travel sealed).

use std::collections::BTreeMap;

use super::error::{ErrorCode, ServiceError};

/// Most metadata entries per object.
pub const MAX_ENTRIES: usize = 32;
/// Longest metadata name.
pub const MAX_NAME: usize = 128;
/// Longest metadata value, in bytes.
pub const MAX_VALUE: usize = 1024;
/// Longest content type.
pub const MAX_CONTENT_TYPE: usize = 255;

fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidArgument, msg)
}

/// Checks user metadata names and values.
pub fn check_metadata(m: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    if m.len() > MAX_ENTRIES {
        return Err(invalid(format!("at most {MAX_ENTRIES} metadata entries")));
    }
    for (k, v) in m {
        let name_ok = !k.is_empty()
            && k.len() <= MAX_NAME
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(invalid(
                "metadata names are 1-128 characters of a-z A-Z 0-9 - _ .",
            ));
        }
        if v.len() > MAX_VALUE {
            return Err(invalid("metadata values are at most 1024 bytes"));
        }
        if v.chars().any(char::is_control) {
            return Err(invalid(
                "metadata values must not contain control characters",
            ));
        }
    }
    Ok(())
}

/// Checks a content type: printable ASCII, `type/subtype` with optional parameters.
pub fn check_content_type(ct: &str) -> Result<(), ServiceError> {
    let printable = ct.bytes().all(|b| (0x20..0x7f).contains(&b));
    let shaped = ct
        .split(';')
        .next()
        .and_then(|essence| essence.trim().split_once('/'))
        .is_some_and(|(t, s)| {
            !t.is_empty() && !s.is_empty() && !t.contains(' ') && !s.contains(' ')
        });
    if ct.is_empty() || ct.len() > MAX_CONTENT_TYPE || !printable || !shaped {
        return Err(invalid(
            "content_type must look like type/subtype (printable ASCII, at most 255 bytes)",
        ));
    }
    Ok(())
}

/// Whether a content type is textual (returned as UTF-8 when the bytes are valid UTF-8).
pub fn is_textual(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "application/javascript"
                | "application/toml"
                | "application/x-ndjson"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for ok in ["text/plain", "application/json; charset=utf-8", "image/png"] {
            assert!(check_content_type(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "text",
            "/x",
            "text/",
            "te xt/plain",
            "text/plain\r\nX: y",
            "tëxt/plain",
        ] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
        assert!(is_textual("text/markdown"));
        assert!(is_textual("application/ld+json"));
        assert!(!is_textual("application/octet-stream"));
    }

    #[test]
    fn metadata_rules() {
        let mut m = BTreeMap::new();
        m.insert("owner".to_string(), "alice".to_string());
        assert!(check_metadata(&m).is_ok());
        m.insert("bad name".to_string(), "x".to_string());
        assert!(check_metadata(&m).is_err());
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), "line\nbreak".to_string());
        assert!(check_metadata(&m).is_err());
        let many: BTreeMap<_, _> = (0..33).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_metadata(&many).is_err());
    }
}
