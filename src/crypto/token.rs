//! Small sealed tokens handed to callers and read back later (pagination cursors).
//!
//! A token is `0x01 || nonce (24) || ciphertext || tag (16)`, XChaCha20-Poly1305 under a key
//! derived per tenant and purpose from the keyring's naming key, with the caller's `context`
//! as associated data. It reveals nothing of its plaintext but its padded length, and it opens
//! only for the same keyring, tenant, purpose and context. Random 192-bit nonces: no bound on
//! how many tokens one key may seal. Tokens are not part of the envelope format and may change
//! between releases (an old token then fails to open, like a foreign one).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use super::aead::{Algorithm, Cipher};
use super::error::CryptoError;
use super::format::TAG_LEN;
use super::keyring::Keyring;
use super::secret::{KEY_LEN, OsRandom, RandomSource};

/// Token format version (first byte).
const VERSION: u8 = 0x01;
const NONCE_LEN: usize = 24;
/// Plaintexts are padded to a multiple of this, so a token tells little about their length.
const PAD: usize = 32;
/// Longest plaintext a token carries.
pub const TOKEN_MAX_PLAINTEXT: usize = 4096;

fn cipher(keyring: &Keyring, tenant: &str, purpose: &str) -> Result<Cipher, CryptoError> {
    // HMAC-SHA256 under the naming key, as a PRF, over a label with a NUL: no object key
    // contains NUL, so no storage name equals a token key. The naming key never rotates, so
    // tokens survive a KEK rotation.
    let hex = Zeroizing::new(keyring.object_name(tenant, &format!("\0token-key\0{purpose}")));
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    hex::decode_to_slice(hex.as_bytes(), key.as_mut_slice())
        .map_err(|_| CryptoError::InvalidInput("token key derivation".into()))?;
    Ok(Cipher::new(Algorithm::XChaCha20Poly1305, &key))
}

fn associated_data(purpose: &str, context: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(24 + purpose.len() + context.len());
    ad.extend_from_slice(b"bitatlas/token/v1");
    for part in [purpose.as_bytes(), context] {
        ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        ad.extend_from_slice(part);
    }
    ad
}

/// A token as it travels in URLs and JSON: unpadded base64url.
pub fn token_text(token: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(token)
}

/// The token a [`token_text`] string holds; `None` unless it is unpadded base64url.
pub fn token_from_text(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

/// Seals `plaintext` (at most [`TOKEN_MAX_PLAINTEXT`] bytes) for `tenant`, bound to `purpose`
/// and `context`.
pub fn seal_token(
    keyring: &Keyring,
    tenant: &str,
    purpose: &str,
    context: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() > TOKEN_MAX_PLAINTEXT {
        return Err(CryptoError::InvalidInput("token plaintext too long".into()));
    }
    // u16 length, the bytes, zeros to the next multiple of PAD.
    let padded = (2 + plaintext.len()).div_ceil(PAD) * PAD;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + padded + TAG_LEN);
    out.push(VERSION);
    let mut nonce = [0u8; NONCE_LEN];
    OsRandom.fill(&mut nonce)?;
    out.extend_from_slice(&nonce);
    let body = out.len();
    out.extend_from_slice(&(plaintext.len() as u16).to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(body + padded, 0);
    let ad = associated_data(purpose, context);
    let tag = cipher(keyring, tenant, purpose)?.seal(&nonce, &ad, &mut out[body..])?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a token made by [`seal_token`] with the same keyring, tenant, purpose and context.
/// Any other token, modified or truncated, is [`CryptoError::Integrity`].
pub fn open_token(
    keyring: &Keyring,
    tenant: &str,
    purpose: &str,
    context: &[u8],
    token: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let body_len = token
        .len()
        .checked_sub(1 + NONCE_LEN + TAG_LEN)
        .ok_or(CryptoError::Integrity)?;
    if token[0] != VERSION || body_len == 0 || body_len % PAD != 0 {
        return Err(CryptoError::Integrity);
    }
    let (nonce, rest) = token[1..].split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(body_len);
    let mut plain = Zeroizing::new(vec![0u8; body_len]);
    let ad = associated_data(purpose, context);
    cipher(keyring, tenant, purpose)?.open_to(nonce, &ad, ciphertext, tag, &mut plain)?;
    let len = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
    let padded = (2 + len).div_ceil(PAD) * PAD;
    // Authenticated, so only a writer bug could break these; refuse rather than trust.
    if padded != body_len || plain[2 + len..].iter().any(|&b| b != 0) {
        return Err(CryptoError::Integrity);
    }
    Ok(Zeroizing::new(plain[2..2 + len].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::generate(Algorithm::Aes256Gcm)
    }

    #[test]
    fn round_trip_and_binding() {
        let k = keyring();
        let t = seal_token(&k, "acme", "cursor", b"q", b"docs/secret.pdf").unwrap();
        assert_eq!(t.len(), 1 + NONCE_LEN + 32 + TAG_LEN);
        assert!(!t.windows(6).any(|w| w == b"secret"));
        let open = |kr: &Keyring, tenant: &str, purpose: &str, ctx: &[u8], tok: &[u8]| {
            open_token(kr, tenant, purpose, ctx, tok).map(|p| p.to_vec())
        };
        assert_eq!(
            open(&k, "acme", "cursor", b"q", &t).unwrap(),
            b"docs/secret.pdf"
        );
        assert!(matches!(
            open(&k, "other", "cursor", b"q", &t),
            Err(CryptoError::Integrity)
        ));
        assert!(open(&k, "acme", "other", b"q", &t).is_err());
        assert!(open(&k, "acme", "cursor", b"q2", &t).is_err());
        assert!(open(&keyring(), "acme", "cursor", b"q", &t).is_err());
        for i in 0..t.len() {
            let mut bad = t.clone();
            bad[i] ^= 0x01;
            assert!(open(&k, "acme", "cursor", b"q", &bad).is_err(), "byte {i}");
        }
        for n in 0..t.len() {
            assert!(
                open(&k, "acme", "cursor", b"q", &t[..n]).is_err(),
                "len {n}"
            );
        }
        // Fresh nonces: sealing twice gives two different tokens.
        let again = seal_token(&k, "acme", "cursor", b"q", b"docs/secret.pdf").unwrap();
        assert_ne!(t, again);
        // Empty and maximal plaintexts.
        let empty = seal_token(&k, "acme", "cursor", b"", b"").unwrap();
        assert!(open(&k, "acme", "cursor", b"", &empty).unwrap().is_empty());
        let big = vec![7u8; TOKEN_MAX_PLAINTEXT];
        let t = seal_token(&k, "acme", "cursor", b"", &big).unwrap();
        assert_eq!(open(&k, "acme", "cursor", b"", &t).unwrap(), big);
        assert!(seal_token(&k, "acme", "cursor", b"", &[0; TOKEN_MAX_PLAINTEXT + 1]).is_err());
    }
}
