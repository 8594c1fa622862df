//! How payloads travel inside JSON: `put` takes `text` or `base64`; `get` answers with text
//! when that is both valid and no larger than base64 would be, else base64, and says why.

use base64::Engine as _;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Serialize;

use crate::service::{ErrorCode, ServiceError, is_textual};

/// Content type given to `text` payloads without one.
pub const TEXT_TYPE: &str = "text/plain; charset=utf-8";

/// How `data` is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `data` is the text itself.
    Utf8,
    /// `data` is standard base64.
    Base64,
}

/// A `put` payload, decoded: the bytes and the content type to assume when none is given.
pub fn decode(
    text: Option<String>,
    base64: Option<String>,
    max: u64,
) -> Result<(Bytes, Option<&'static str>), ServiceError> {
    match (text, base64) {
        (Some(text), None) => {
            if text.len() as u64 > max {
                return Err(crate::service::too_large(max));
            }
            Ok((Bytes::from(text.into_bytes()), Some(TEXT_TYPE)))
        }
        (None, Some(b64)) => {
            // Decoded size is at most 3/4 of the encoded length: refuse before decoding.
            if (b64.len() as u64 / 4).saturating_mul(3) > max.saturating_add(3) {
                return Err(crate::service::too_large(max));
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| {
                    ServiceError::new(
                        ErrorCode::InvalidArgument,
                        "base64 is not valid standard base64 (with padding)",
                    )
                })?;
            if data.len() as u64 > max {
                return Err(crate::service::too_large(max));
            }
            Ok((Bytes::from(data), None))
        }
        _ => Err(ServiceError::new(
            ErrorCode::InvalidArgument,
            "give exactly one of `text`, `base64` or `path`",
        )),
    }
}

/// A `get` payload as JSON: its encoding, the data, and why it is base64 when the content
/// type is textual.
pub struct Encoded {
    /// How `data` is encoded.
    pub encoding: Encoding,
    /// The payload.
    pub data: String,
    /// Why a textual object came back as base64.
    pub note: Option<&'static str>,
}

/// Encodes `data` of `content_type`; `ranged` says the bytes are a part of the object.
pub fn encode(content_type: &str, data: Vec<u8>, ranged: bool) -> Encoded {
    let base64 = |data: &[u8], note| Encoded {
        encoding: Encoding::Base64,
        data: base64::engine::general_purpose::STANDARD.encode(data),
        note,
    };
    if !is_textual(content_type) {
        return base64(&data, None);
    }
    match String::from_utf8(data) {
        // JSON escapes control characters six-fold; base64 is a bounded 4/3.
        Ok(text) if json_len(&text) > text.len().div_ceil(3) * 4 => base64(
            text.as_bytes(),
            Some("the text is mostly control characters, so `data` is base64"),
        ),
        Ok(text) => Encoded {
            encoding: Encoding::Utf8,
            data: text,
            note: None,
        },
        Err(e) => {
            let note = if ranged && splits_a_character(e.as_bytes(), e.utf8_error()) {
                "the range splits a UTF-8 character, so `data` is base64; widen it to whole \
                 characters to get text"
            } else {
                "the bytes are not valid UTF-8, so `data` is base64"
            };
            base64(e.as_bytes(), Some(note))
        }
    }
}

/// Whether the only invalid UTF-8 is a character cut at either end of the range.
fn splits_a_character(bytes: &[u8], first_error: std::str::Utf8Error) -> bool {
    let start = bytes.iter().take_while(|b| (**b & 0xC0) == 0x80).count();
    if start > 3 {
        return false;
    }
    let rest = &bytes[start..];
    match std::str::from_utf8(rest) {
        Ok(_) => start > 0,
        // Cut at the end: the error is an incomplete sequence (no error length).
        Err(e) => e.error_len().is_none() && (start > 0 || first_error.error_len().is_none()),
    }
}

/// Length of `s` as a JSON string body.
fn json_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0C => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_text_unless_escaping_costs_more_than_base64() {
        let e = encode("text/plain", b"hello\n".to_vec(), false);
        assert_eq!(
            (e.encoding, e.data.as_str(), e.note),
            (Encoding::Utf8, "hello\n", None)
        );
        let e = encode("text/plain", vec![1u8; 300], false);
        assert_eq!(e.encoding, Encoding::Base64);
        assert!(e.note.unwrap().contains("control"));
        let e = encode("application/octet-stream", b"hi".to_vec(), false);
        assert_eq!((e.encoding, e.note), (Encoding::Base64, None));
    }

    #[test]
    fn a_range_that_cuts_a_character_says_so() {
        let text = "aé€b".as_bytes();
        for cut in [&text[..2], &text[2..], &text[1..5]] {
            let e = encode("text/plain", cut.to_vec(), true);
            assert_eq!(e.encoding, Encoding::Base64);
            assert!(e.note.unwrap().contains("splits"), "{cut:?}");
        }
        let e = encode("text/plain", vec![b'a', 0xFF, b'b'], true);
        assert!(e.note.unwrap().contains("not valid"));
    }

    #[test]
    fn payloads_decode_within_the_limit() {
        assert_eq!(
            decode(Some("ab".into()), None, 2).unwrap().1,
            Some(TEXT_TYPE)
        );
        let (bytes, ty) = decode(None, Some("AAE=".into()), 2).unwrap();
        assert_eq!((&bytes[..], ty), (&[0u8, 1][..], None));
        for (text, b64) in [
            (Some("abc".to_owned()), None),
            (None, Some("AAEC".to_owned())),
        ] {
            assert_eq!(decode(text, b64, 2).unwrap_err().code, ErrorCode::TooLarge);
        }
        let both = decode(Some("a".into()), Some("YQ==".into()), 9).unwrap_err();
        assert_eq!(both.code, ErrorCode::InvalidArgument);
        let bad = decode(None, Some("not base64!".into()), 99).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidArgument);
    }
}
