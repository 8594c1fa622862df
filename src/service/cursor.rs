//! Pagination cursors: sealed, bound to the tenant and the query, useless elsewhere.
//!
//! A cursor carries the last key of a page, and keys are P1 data: it is sealed with
//! [`crate::crypto::seal_token`] (XChaCha20-Poly1305 under a per-tenant key derived from the
//! keyring, the query as associated data) and written as unpadded base64url. It shows nothing
//! of the key but its length rounded up to 32 bytes; a modified cursor, or one made for another
//! tenant, another query or another keyring, is `INVALID_ARGUMENT`.

use super::error::{ErrorCode, ServiceError};
use super::key::MAX_KEY_BYTES;
use crate::crypto::{Keyring, open_token, seal_token, token_from_text, token_text};

/// The token purpose: keeps cursor keys apart from any other token's.
const PURPOSE: &str = "cursor";
/// Longest cursor text worth decoding: a 1024-byte key gives about 1.5 KB.
const MAX_CURSOR_CHARS: usize = 2048;

fn invalid() -> ServiceError {
    ServiceError::new(ErrorCode::InvalidArgument, "invalid or foreign cursor")
}

/// Encodes the position after `last` for `query`.
///
/// Only a failing system random number generator makes sealing fail; the cursor is then
/// empty, which [`decode`] refuses, so the listing stops with an error instead of skipping
/// or repeating anything. [`try_encode`] returns that failure instead.
pub fn encode(keyring: &Keyring, tenant: &str, query: &str, last: &str) -> String {
    try_encode(keyring, tenant, query, last).unwrap_or_else(|e| {
        tracing::error!(code = e.code.as_str(), "could not seal a cursor");
        String::new()
    })
}

/// [`encode`], returning an `INTERNAL` error when the cursor cannot be sealed.
pub fn try_encode(
    keyring: &Keyring,
    tenant: &str,
    query: &str,
    last: &str,
) -> Result<String, ServiceError> {
    seal_token(keyring, tenant, PURPOSE, query.as_bytes(), last.as_bytes())
        .map(|token| token_text(&token))
        .map_err(|_| ServiceError::new(ErrorCode::Internal, "could not seal the cursor"))
}

/// Decodes a cursor; fails unless it was made for this tenant and this query.
pub fn decode(
    keyring: &Keyring,
    tenant: &str,
    query: &str,
    cursor: &str,
) -> Result<String, ServiceError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(invalid());
    }
    let raw = token_from_text(cursor).ok_or_else(invalid)?;
    let plain =
        open_token(keyring, tenant, PURPOSE, query.as_bytes(), &raw).map_err(|_| invalid())?;
    if plain.len() > MAX_KEY_BYTES {
        return Err(invalid());
    }
    String::from_utf8(plain.to_vec()).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Algorithm;

    #[test]
    fn a_cursor_reveals_nothing_and_opens_only_where_it_was_made() {
        let k = Keyring::generate(Algorithm::Aes256Gcm);
        let last = "patients/jane-doe/scan.png";
        let c = encode(&k, "acme", "list\0patients\0false", last);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let raw = token_from_text(&c).unwrap();
        for needle in ["jane", "patients", "scan", "acme"] {
            assert!(!c.contains(needle), "{needle} in the cursor text");
            assert!(
                !raw.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in the cursor bytes"
            );
        }
        assert_eq!(
            decode(&k, "acme", "list\0patients\0false", &c).unwrap(),
            last
        );
        for (tenant, query) in [
            ("other", "list\0patients\0false"),
            ("acme", "list\0patients\0true"),
            ("acme", "list\0\0false"),
        ] {
            let e = decode(&k, tenant, query, &c).expect_err("foreign");
            assert_eq!(e.code, ErrorCode::InvalidArgument);
        }
        let other = Keyring::generate(Algorithm::Aes256Gcm);
        assert!(decode(&other, "acme", "list\0patients\0false", &c).is_err());
        // Compact: a short key gives a short cursor, the longest key stays under the cap.
        assert!(c.len() < 120, "{}", c.len());
        let longest = encode(&k, "acme", "q", &"k".repeat(MAX_KEY_BYTES));
        assert!(longest.len() <= MAX_CURSOR_CHARS);
        assert_eq!(
            decode(&k, "acme", "q", &longest).unwrap(),
            "k".repeat(MAX_KEY_BYTES)
        );
    }

    #[test]
    fn tampered_and_garbage_cursors_are_invalid_arguments() {
        let k = Keyring::generate(Algorithm::Aes256Gcm);
        let c = encode(&k, "acme", "q", "a/b");
        let raw = token_from_text(&c).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x80;
            let e = decode(&k, "acme", "q", &token_text(&bad)).expect_err("flip");
            assert_eq!(e.code, ErrorCode::InvalidArgument);
        }
        // A cursor in the old clear-text form (tag + key) is refused too.
        let old = token_text(format!("{}a/b", "0".repeat(32)).as_bytes());
        for bad in [
            "",
            "!!!",
            "AAAA",
            old.as_str(),
            &c[..c.len() - 1],
            &"A".repeat(5000),
        ] {
            assert!(decode(&k, "acme", "q", bad).is_err(), "{bad:?}");
        }
    }
}
