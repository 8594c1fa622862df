//! The one error type of the crypto module.
//!
//! No variant carries key bytes or plaintext. Every authentication failure is the single
//! [`CryptoError::Integrity`] variant, whose message says nothing about *where* the check
//! failed (header, info block or which chunk), so an attacker learns nothing from it.

/// Why an envelope or keyring operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication failed: the envelope was modified, truncated, extended, or was sealed
    /// for another object key, store, tenant or key-encryption key.
    #[error(
        "integrity check failed: the envelope is corrupt, truncated, or sealed for another context"
    )]
    Integrity,
    /// The envelope names a key-encryption key that this keyring does not hold.
    #[error("the envelope was sealed under key-encryption key `{0}`, which is not in this keyring")]
    UnknownKek(String),
    /// The bytes are not an envelope this version understands (bad magic, unknown version or
    /// algorithm, impossible lengths).
    #[error("malformed envelope: {0}")]
    Format(String),
    /// [`crate::crypto::Layout::parse`] needs more bytes: retry with at least `needed` bytes.
    #[error("envelope prefix too short: at least {needed} bytes are needed")]
    TooShort {
        /// The minimum prefix length to retry with.
        needed: usize,
    },
    /// A requested byte range does not fit the object.
    #[error("invalid range {start}..{end} for an object of {len} bytes")]
    InvalidRange {
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// Plaintext length of the object.
        len: u64,
    },
    /// Input the caller controls is out of bounds (e.g. metadata too large).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The keyring could not be read, parsed, written, or is not safely protected.
    #[error("keyring: {0}")]
    Keyring(String),
    /// The operating system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The key provider cannot hand out the keys now (KMS unreachable, key disabled or
    /// deleted, keyring file gone). Nothing was sealed or opened.
    #[error("keys unavailable: {0}")]
    KeyUnavailable(String),
}

impl CryptoError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CryptoError::Integrity => "INTEGRITY_FAILURE",
            CryptoError::UnknownKek(_) => "UNKNOWN_KEK",
            CryptoError::Format(_) => "MALFORMED_ENVELOPE",
            CryptoError::TooShort { .. } => "ENVELOPE_TOO_SHORT",
            CryptoError::InvalidRange { .. } => "INVALID_RANGE",
            CryptoError::InvalidInput(_) => "INVALID_INPUT",
            CryptoError::Io(_) => "IO_ERROR",
            CryptoError::Keyring(_) => "KEYRING_ERROR",
            CryptoError::Random => "RANDOM_FAILURE",
            CryptoError::KeyUnavailable(_) => "KEY_UNAVAILABLE",
        }
    }

    /// True when the input is not a genuine envelope for this context and keyring: an
    /// authentication failure, an unparsable envelope, or an unknown KEK id. The CLI maps all
    /// of these to exit code 4.
    pub fn is_bad_envelope(&self) -> bool {
        matches!(
            self,
            CryptoError::Integrity
                | CryptoError::UnknownKek(_)
                | CryptoError::Format(_)
                | CryptoError::TooShort { .. }
        )
    }
}
