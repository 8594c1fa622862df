//! Algorithm dispatch over the two AEADs (AES-256-GCM and XChaCha20-Poly1305).
//!
//! AES-256-GCM runs on aws-lc-rs (AWS-LC's AES-NI/VAES + CLMUL assembly, about three times the
//! throughput of the portable implementation on the same machine; see `docs/performance.md`).
//! XChaCha20-Poly1305 runs on RustCrypto's `chacha20poly1305`; AWS-LC has no XChaCha.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use zeroize::Zeroize;

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
    XChaCha(Box<XChaCha20Poly1305>),
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
            Algorithm::XChaCha20Poly1305 => {
                Cipher::XChaCha(Box::new(XChaCha20Poly1305::new(key.into())))
            }
        }
    }

    /// Encrypts `buf` in place and returns the tag. `nonce` must have the algorithm's length.
    pub(crate) fn seal(
        &self,
        nonce: &[u8],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let mut out = [0u8; TAG_LEN];
        match self {
            Cipher::Aes(c) => {
                let tag = c
                    .seal_in_place_separate_tag(aes_nonce(nonce)?, Aad::from(ad), buf)
                    .map_err(|_| CryptoError::InvalidInput("message too long".into()))?;
                out.copy_from_slice(tag.as_ref());
            }
            Cipher::XChaCha(c) => {
                let tag = c
                    .encrypt_in_place_detached(nonce.into(), ad, buf)
                    .map_err(|_| CryptoError::InvalidInput("message too long".into()))?;
                out.copy_from_slice(&tag);
            }
        }
        Ok(out)
    }

    /// Verifies `tag` and decrypts `buf` in place. On failure `buf` holds no plaintext
    /// (the underlying crates verify before decrypting).
    pub(crate) fn open(
        &self,
        nonce: &[u8],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if tag.len() != TAG_LEN {
            return Err(CryptoError::Integrity);
        }
        match self {
            Cipher::Aes(c) => {
                let nonce = aes_nonce(nonce).map_err(|_| CryptoError::Integrity)?;
                let ciphertext = buf.to_vec();
                let opened = c.open_separate_gather(nonce, Aad::from(ad), &ciphertext, tag, buf);
                if opened.is_err() {
                    // AWS-LC may leave unverified output behind: never let it escape.
                    buf.zeroize();
                    return Err(CryptoError::Integrity);
                }
                Ok(())
            }
            Cipher::XChaCha(c) => c
                .decrypt_in_place_detached(nonce.into(), ad, buf, tag.into())
                .map_err(|_| CryptoError::Integrity),
        }
    }

    /// Verifies `tag` over `src` and writes the plaintext to `dst` (same length). On failure
    /// `dst` holds no plaintext. AES-GCM decrypts straight from `src` without a copy.
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
        match self {
            Cipher::Aes(c) => {
                let nonce = aes_nonce(nonce).map_err(|_| CryptoError::Integrity)?;
                if c.open_separate_gather(nonce, Aad::from(ad), src, tag, dst)
                    .is_err()
                {
                    dst.zeroize();
                    return Err(CryptoError::Integrity);
                }
                Ok(())
            }
            Cipher::XChaCha(_) => {
                dst.copy_from_slice(src);
                self.open(nonce, ad, dst, tag)
            }
        }
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
        match self {
            Cipher::Aes(c) => {
                let nonce = aes_nonce(nonce).map_err(|_| CryptoError::Integrity)?;
                if c.open_in_place(nonce, Aad::from(ad), buf).is_err() {
                    buf.zeroize();
                    return Err(CryptoError::Integrity);
                }
                Ok(())
            }
            Cipher::XChaCha(_) => {
                let (body, tag) = buf.split_at_mut(buf.len() - TAG_LEN);
                let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| CryptoError::Integrity)?;
                self.open(nonce, ad, body, &tag)
            }
        }
    }
}
