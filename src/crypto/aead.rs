//! Algorithm dispatch over the two AEADs (AES-256-GCM and XChaCha20-Poly1305).
//!
//! Both run on aws-lc-rs (AWS-LC's assembly, as in OpenSSL; ADR-0002, ADR-0003). AWS-LC has
//! no XChaCha20-Poly1305, so it is built from its two halves (draft-irtf-cfrg-xchacha):
//! HChaCha20 (from the `chacha20` crate) turns the key and the first 16 nonce bytes into a
//! subkey, and AWS-LC's ChaCha20-Poly1305 runs under that subkey with the nonce
//! `0^4 || last 8 nonce bytes`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use chacha20::cipher::consts::U10;
use zeroize::{Zeroize, Zeroizing};

use super::error::CryptoError;
use super::format::TAG_LEN;
use super::secret::KEY_LEN;

/// The AEAD an envelope (and the keyring entry that sealed it) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// AES-256-GCM, 96-bit nonces. The default.
    #[default]
    Aes256Gcm,
    /// XChaCha20-Poly1305, 192-bit nonces.
    XChaCha20Poly1305,
}

impl Algorithm {
    /// The frozen algorithm id written in the envelope header.
    pub const fn id(self) -> u8 {
        match self {
            Algorithm::Aes256Gcm => 0x01,
            Algorithm::XChaCha20Poly1305 => 0x02,
        }
    }

    /// The algorithm with header id `id`, if any.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(Algorithm::Aes256Gcm),
            0x02 => Some(Algorithm::XChaCha20Poly1305),
            _ => None,
        }
    }

    /// Nonce length in bytes (12 or 24).
    pub const fn nonce_len(self) -> usize {
        match self {
            Algorithm::Aes256Gcm => 12,
            Algorithm::XChaCha20Poly1305 => 24,
        }
    }

    /// The stable name used on the command line and in keyring files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Aes256Gcm => "aes-256-gcm",
            Algorithm::XChaCha20Poly1305 => "xchacha20-poly1305",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aes-256-gcm" => Ok(Algorithm::Aes256Gcm),
            "xchacha20-poly1305" => Ok(Algorithm::XChaCha20Poly1305),
            other => Err(CryptoError::InvalidInput(format!(
                "unknown algorithm `{other}` (expected aes-256-gcm or xchacha20-poly1305)"
            ))),
        }
    }
}

/// A keyed AEAD instance.
pub(crate) enum Cipher {
    Aes(Box<LessSafeKey>),
    XChaCha(Box<XChaCha>),
}

/// XChaCha20-Poly1305 key: the key itself, and the ChaCha20-Poly1305 subkey for nonces whose
/// first 16 bytes are zero (every chunk and info-block nonce of an envelope), derived once.
pub(crate) struct XChaCha {
    key: Zeroizing<[u8; KEY_LEN]>,
    zero_prefix: LessSafeKey,
}

impl XChaCha {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        XChaCha {
            key: Zeroizing::new(*key),
            zero_prefix: subkey(key, &[0u8; 16]),
        }
    }

    /// Runs `f` with the ChaCha20-Poly1305 key and nonce that a 24-byte XChaCha nonce selects.
    fn with<R>(
        &self,
        nonce: &[u8],
        f: impl FnOnce(&LessSafeKey, Nonce) -> R,
    ) -> Result<R, CryptoError> {
        let bad = || CryptoError::InvalidInput("XChaCha20-Poly1305 nonces are 24 bytes".into());
        let (prefix, tail) = nonce.split_at_checked(16).ok_or_else(bad)?;
        let tail: [u8; 8] = tail.try_into().map_err(|_| bad())?;
        let mut inner = [0u8; 12];
        inner[4..].copy_from_slice(&tail);
        let inner = Nonce::assume_unique_for_key(inner);
        if prefix.iter().all(|&b| b == 0) {
            Ok(f(&self.zero_prefix, inner))
        } else {
            Ok(f(&subkey(&self.key, prefix), inner))
        }
    }
}

/// HChaCha20(key, prefix) as an AWS-LC ChaCha20-Poly1305 key; the subkey bytes are wiped.
fn subkey(key: &[u8; KEY_LEN], prefix: &[u8]) -> LessSafeKey {
    let mut sub = chacha20::hchacha::<U10>(key.into(), prefix.into());
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &sub).expect("32-byte ChaCha20 key");
    sub.as_mut_slice().zeroize();
    LessSafeKey::new(unbound)
}

fn aes_nonce(nonce: &[u8]) -> Result<Nonce, CryptoError> {
    Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| CryptoError::InvalidInput("AES-GCM nonces are 12 bytes".into()))
}

impl Cipher {
    pub(crate) fn new(alg: Algorithm, key: &[u8; KEY_LEN]) -> Self {
        match alg {
            Algorithm::Aes256Gcm => {
                // A 32-byte key is always valid for AES-256-GCM.
                let unbound = UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key");
                Cipher::Aes(Box::new(LessSafeKey::new(unbound)))
            }
            Algorithm::XChaCha20Poly1305 => Cipher::XChaCha(Box::new(XChaCha::new(key))),
        }
    }

    /// Runs `f` with the AWS-LC key and nonce for `nonce` (which must have the algorithm's
    /// length).
    fn keyed<R>(
        &self,
        nonce: &[u8],
        f: impl FnOnce(&LessSafeKey, Nonce) -> R,
    ) -> Result<R, CryptoError> {
        match self {
            Cipher::Aes(c) => Ok(f(c, aes_nonce(nonce)?)),
            Cipher::XChaCha(x) => x.with(nonce, f),
        }
    }

    /// Encrypts `buf` in place and returns the tag. `nonce` must have the algorithm's length.
    pub(crate) fn seal(
        &self,
        nonce: &[u8],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .keyed(nonce, |k, n| {
                k.seal_in_place_separate_tag(n, Aad::from(ad), buf)
            })?
            .map_err(|_| CryptoError::InvalidInput("message too long".into()))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Verifies `tag` and decrypts `buf` in place. On failure `buf` holds no plaintext.
    pub(crate) fn open(
        &self,
        nonce: &[u8],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        let ciphertext = buf.to_vec();
        self.open_to(nonce, ad, &ciphertext, tag, buf)
    }

    /// Verifies `tag` over `src` and writes the plaintext to `dst` (same length), without a
    /// copy. On failure `dst` holds no plaintext: AWS-LC may leave unverified output behind,
    /// so it is wiped before the error is returned.
    pub(crate) fn open_to(
        &self,
        nonce: &[u8],
        ad: &[u8],
        src: &[u8],
        tag: &[u8],
        dst: &mut [u8],
    ) -> Result<(), CryptoError> {
        if tag.len() != TAG_LEN || src.len() != dst.len() {
            return Err(CryptoError::Integrity);
        }
        let opened = self
            .keyed(nonce, |k, n| {
                k.open_separate_gather(n, Aad::from(ad), src, tag, dst)
            })
            .map_err(|_| CryptoError::Integrity)?;
        if opened.is_err() {
            dst.zeroize();
            return Err(CryptoError::Integrity);
        }
        Ok(())
    }

    /// Like [`Cipher::open`] for a buffer holding the ciphertext followed by its tag; on
    /// success the first `len - TAG_LEN` bytes hold the plaintext. Avoids a copy on the hot
    /// path of chunk decryption.
    pub(crate) fn open_combined(
        &self,
        nonce: &[u8],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        if buf.len() < TAG_LEN {
            return Err(CryptoError::Integrity);
        }
        let opened = self
            .keyed(nonce, |k, n| {
                k.open_in_place(n, Aad::from(ad), buf).map(|_| ())
            })
            .map_err(|_| CryptoError::Integrity)?;
        if opened.is_err() {
            buf.zeroize();
            return Err(CryptoError::Integrity);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};

    use super::*;

    /// Deterministic bytes, different for every `seed`.
    fn bytes(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn xchacha_matches_the_rustcrypto_implementation() {
        let key: [u8; KEY_LEN] = bytes(1, KEY_LEN).try_into().unwrap();
        let reference = chacha20poly1305::XChaCha20Poly1305::new((&key).into());
        let ours = Cipher::new(Algorithm::XChaCha20Poly1305, &key);
        let mut zero_prefix = [0u8; 24];
        zero_prefix[20] = 7;
        // A zero 16-byte prefix (the cached subkey) and random-looking nonces (derived per call).
        for nonce in [zero_prefix.to_vec(), bytes(2, 24), bytes(3, 24)] {
            for len in [0usize, 1, 63, 64, 65, 4096] {
                let plain = bytes(len as u8, len);
                let ad = bytes(9, 13);
                let mut a = plain.clone();
                let tag = ours.seal(&nonce, &ad, &mut a).unwrap();
                let mut b = plain.clone();
                let want = reference
                    .encrypt_in_place_detached(nonce.as_slice().into(), &ad, &mut b)
                    .unwrap();
                assert_eq!(
                    (a.as_slice(), &tag[..]),
                    (b.as_slice(), &want[..]),
                    "len {len}"
                );
                let mut back = a.clone();
                ours.open(&nonce, &ad, &mut back, &tag).unwrap();
                assert_eq!(back, plain);
                let mut bad_tag = tag;
                bad_tag[0] ^= 1;
                assert!(matches!(
                    ours.open(&nonce, &ad, &mut b, &bad_tag),
                    Err(CryptoError::Integrity)
                ));
                assert!(b.iter().all(|&x| x == 0), "no unverified plaintext is left");
            }
        }
    }

    #[test]
    fn wrong_nonce_lengths_are_refused() {
        let key = [5u8; KEY_LEN];
        for (alg, good) in [
            (Algorithm::Aes256Gcm, 12),
            (Algorithm::XChaCha20Poly1305, 24),
        ] {
            let c = Cipher::new(alg, &key);
            for len in [0, 11, 12, 16, 23, 24, 25] {
                let mut buf = vec![1u8; 10];
                assert_eq!(c.seal(&vec![0; len], b"", &mut buf).is_ok(), len == good);
            }
        }
    }
}
