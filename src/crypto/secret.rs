//! Secret values: zeroized on drop, never printed, compared in constant time.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::CryptoError;

/// Length of every symmetric key in this module (KEK, DEK, subkeys, naming key).
pub const KEY_LEN: usize = 32;

/// A 256-bit secret key. It has no `Serialize`, its `Debug` prints `[redacted]`, equality is
/// constant-time, and its bytes are overwritten when it is dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// Wraps raw key bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SecretKey(bytes)
    }

    /// Copies a key from a slice of exactly [`KEY_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(SecretKey(arr))
    }

    /// A fresh key from `rng`.
    pub fn random(rng: &mut dyn RandomSource) -> Result<Self, CryptoError> {
        let mut k = SecretKey([0u8; KEY_LEN]);
        rng.fill(&mut k.0)?;
        Ok(k)
    }

    /// The key bytes. Only the crypto module needs them.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl ConstantTimeEq for SecretKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}
impl Eq for SecretKey {}

/// Where random bytes come from. Production code uses [`OsRandom`]; tests inject a fixed
/// source to reproduce the checked-in test vectors.
pub trait RandomSource {
    /// Fills `dest` entirely with random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), CryptoError>;
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), CryptoError> {
        getrandom::fill(dest).map_err(|_| CryptoError::Random)
    }
}

/// Replays a fixed byte string as "randomness", for test vectors only. Fails once exhausted.
///
/// Never use this to seal real data: it makes DEKs and nonces predictable.
pub struct FixedRandom {
    bytes: Vec<u8>,
    pos: usize,
}

impl FixedRandom {
    /// A source that hands out `bytes` in order.
    pub fn new(bytes: Vec<u8>) -> Self {
        FixedRandom { bytes, pos: 0 }
    }
}

impl Drop for FixedRandom {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl std::fmt::Debug for FixedRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FixedRandom([redacted])")
    }
}

impl RandomSource for FixedRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let end = self.pos + dest.len();
        let src = self.bytes.get(self.pos..end).ok_or(CryptoError::Random)?;
        dest.copy_from_slice(src);
        self.pos = end;
        Ok(())
    }
}
