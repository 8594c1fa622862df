//! Validation of content types and user metadata (both travel sealed).
//!
//! The limits are what one envelope holds: key, content type and metadata travel in the sealed
//! info block, which format version 1 caps at [`INFO_MAX`] bytes (`docs/envelope-format.md`,
//! frozen). Every per-item limit below can be reached, but not all at once: names and values
//! together are capped at [`MAX_TOTAL`], so any input that passes [`check_metadata`] seals (a
//! compile-time assertion below proves the worst case fits). Anything larger is refused here,
//! as `INVALID_ARGUMENT` naming the limit, before any sealing is attempted.

use std::collections::BTreeMap;

use super::error::{ErrorCode, ServiceError};
use super::key::MAX_KEY_BYTES;
use crate::crypto::format::INFO_MAX;

/// Most metadata entries per object.
pub const MAX_ENTRIES: usize = 32;
/// Longest metadata name.
pub const MAX_NAME: usize = 128;
/// Longest metadata value, in bytes.
pub const MAX_VALUE: usize = 1024;
/// Most bytes of metadata names and values together (12 KiB).
pub const MAX_TOTAL: usize = 12 * 1024;
/// Longest content type.
pub const MAX_CONTENT_TYPE: usize = 255;

/// Bytes of the info block encoding around the key, the content type and the metadata:
/// version (1), key length (2), content-type flag and length (1 + 2), entry count (2), and
/// two u16 lengths per entry.
const fn info_len(key: usize, content_type: usize, entries: usize, total: usize) -> usize {
    1 + 2 + key + 1 + 2 + content_type + 2 + entries * 4 + total
}

// The largest key, content type and metadata the checks admit fit in one envelope.
const _: () =
    assert!(info_len(MAX_KEY_BYTES, MAX_CONTENT_TYPE, MAX_ENTRIES, MAX_TOTAL) <= INFO_MAX);

fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidArgument, msg)
}

/// Checks user metadata: at most [`MAX_ENTRIES`] entries; names 1-[`MAX_NAME`] characters of
/// `a-z A-Z 0-9 - _ .`; values at most [`MAX_VALUE`] bytes without control characters; names
/// and values together at most [`MAX_TOTAL`] bytes.
pub fn check_metadata(m: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    if m.len() > MAX_ENTRIES {
        return Err(invalid(format!(
            "at most {MAX_ENTRIES} metadata entries (got {})",
            m.len()
        )));
    }
    let mut total = 0usize;
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
            return Err(invalid(format!(
                "metadata values are at most {MAX_VALUE} bytes"
            )));
        }
        if v.chars().any(char::is_control) {
            return Err(invalid(
                "metadata values must not contain control characters",
            ));
        }
        total += k.len() + v.len();
    }
    if total > MAX_TOTAL {
        return Err(invalid(format!(
            "metadata names and values are at most {MAX_TOTAL} bytes together (got {total})"
        )));
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

    /// The case: 16 values of 1 KiB used to pass the check and then fail to seal as
    /// `INTERNAL`; now the check refuses it, naming the limit.
    #[test]
    fn the_total_is_checked_before_sealing() {
        let m: BTreeMap<_, _> = (0..16)
            .map(|i| (format!("k{i}"), "v".repeat(MAX_VALUE)))
            .collect();
        let e = check_metadata(&m).expect_err("over the total");
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(e.message.contains("12288 bytes"), "{}", e.message);
        // Exactly at the total passes; one byte more does not.
        let mut m = worst_case_metadata();
        assert!(check_metadata(&m).is_ok());
        let shortest = m.values_mut().min_by_key(|v| v.len()).expect("entries");
        assert!(shortest.len() < MAX_VALUE);
        shortest.push('x');
        let e = check_metadata(&m).expect_err("one byte over");
        assert!(e.message.contains("12289"), "{}", e.message);
    }

    /// 32 entries with names and values adding up to exactly [`MAX_TOTAL`] bytes.
    fn worst_case_metadata() -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut left = MAX_TOTAL;
        for i in 0..MAX_ENTRIES {
            let name = format!("k{i:02}{}", "n".repeat(MAX_NAME - 3));
            let entries_after = MAX_ENTRIES - i - 1;
            let value_len = (left - name.len() - entries_after * MAX_NAME).min(MAX_VALUE);
            left -= name.len() + value_len;
            m.insert(
                name,
                "\u{e9}".repeat(value_len / 2) + &"v".repeat(value_len % 2),
            );
        }
        assert_eq!(left, 0);
        m
    }

    /// Everything the checks admit really seals and opens: the longest key, the longest
    /// content type and the largest metadata, together.
    #[test]
    fn the_largest_accepted_input_seals_and_opens() {
        use crate::crypto::{Algorithm, Context, Keyring, open, seal};
        let m = worst_case_metadata();
        assert!(check_metadata(&m).is_ok());
        let key = "k".repeat(MAX_KEY_BYTES);
        let ct = format!("text/{}", "x".repeat(MAX_CONTENT_TYPE - 5));
        assert!(check_content_type(&ct).is_ok());
        let keyring = Keyring::generate(Algorithm::Aes256Gcm);
        let ctx = Context {
            tenant: "t",
            store: "s",
            key: &key,
        };
        let sealed = seal(&keyring, &ctx, Some(&ct), &m, b"payload").expect("seals");
        let opened = open(&keyring, &ctx, &sealed).expect("opens");
        assert_eq!(opened.info.metadata, m);
        assert_eq!(opened.info.content_type.as_deref(), Some(ct.as_str()));
    }
}
