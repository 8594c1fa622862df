//! Pagination cursors: opaque, bound to the tenant and the query, useless elsewhere.

use base64::Engine;

use super::error::{ErrorCode, ServiceError};
use crate::crypto::Keyring;

const TAG_HEX: usize = 32;

fn tag(keyring: &Keyring, tenant: &str, query: &str, last: &str) -> String {
    // NUL cannot occur in keys or queries, so this input never collides with an object name.
    let full = keyring.object_name(tenant, &format!("\0cursor\0{query}\0{last}"));
    full[..TAG_HEX.min(full.len())].to_owned()
}

/// Encodes the position after `last` for `query`.
pub fn encode(keyring: &Keyring, tenant: &str, query: &str, last: &str) -> String {
    let body = format!("{}{last}", tag(keyring, tenant, query, last));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
}

/// Decodes a cursor; fails unless it was made for this tenant and this query.
pub fn decode(
    keyring: &Keyring,
    tenant: &str,
    query: &str,
    cursor: &str,
) -> Result<String, ServiceError> {
    let invalid = || ServiceError::new(ErrorCode::InvalidArgument, "invalid or foreign cursor");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    if text.len() < TAG_HEX || !text.is_char_boundary(TAG_HEX) {
        return Err(invalid());
    }
    let (given, last) = text.split_at(TAG_HEX);
    let expected = tag(keyring, tenant, query, last);
    use subtle::ConstantTimeEq;
    if given.as_bytes().ct_eq(expected.as_bytes()).into() {
        Ok(last.to_owned())
    } else {
        Err(invalid())
    }
}
