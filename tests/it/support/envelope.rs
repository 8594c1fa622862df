//! Fixtures of the envelope tests: one sealing context and one plaintext pattern.

use bitatlas::crypto::Context;

/// The context objects are sealed under: tenant `acme`, store `eu-par`, object `key`.
pub fn ctx(key: &str) -> Context<'_> {
    Context {
        tenant: "acme",
        store: "eu-par",
        key,
    }
}

/// `len` bytes that do not repeat with a short period, so a read from the wrong offset or
/// chunk shows as wrong bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(131) ^ (i >> 9)) as u8)
        .collect()
}
