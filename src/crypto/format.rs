//! The envelope's byte layout: frozen constants, header encoding and parsing, the info block
//! encoding. `docs/envelope-format.md` is the normative description; keep both in step.
//!
//! FROZEN: every constant in this file is part of envelope formats 1 and 2. Changing any of
//! them makes existing envelopes unreadable; the test vectors in `tests/vectors/` fail when
//! that happens. A new layout needs a new [`VERSION`]. Both versions share the header layout;
//! they differ in what the keys are bound to (`docs/adr/0005-envelope-v2.md`).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::aead::Algorithm;
use super::error::CryptoError;

/// FROZEN. First eight bytes of every envelope.
pub const MAGIC: [u8; 8] = *b"BITATLAS";
/// FROZEN. Envelope format version written by this code.
pub const VERSION: u8 = 2;
/// FROZEN. The first version, still read: its keys are bound to the whole header and the store.
pub const VERSION_1: u8 = 1;
/// FROZEN. Header bytes that v2 binds the info block and payload to (magic through info
/// length); the key block after them (KEK id, wrap nonce, wrapped DEK) can be replaced.
pub const BODY_LEN: usize = 8 + 1 + 1 + 4 + 4;
/// FROZEN. Plaintext bytes per payload chunk written by this code (64 KiB).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Smallest chunk size a reader accepts (the field is authenticated either way).
pub const MIN_CHUNK_SIZE: u32 = 4 * 1024;
/// Largest chunk size a reader accepts; bounds a reader's buffers.
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
/// FROZEN. AEAD tag length for both algorithms.
pub const TAG_LEN: usize = 16;
/// FROZEN. Data-encryption key length.
pub const DEK_LEN: usize = 32;
/// FROZEN. Wrapped DEK length: the DEK plus a tag.
pub const WRAPPED_DEK_LEN: usize = DEK_LEN + TAG_LEN;
/// FROZEN. Longest KEK id.
pub const KEK_ID_MAX: usize = 64;
/// FROZEN. The info block plaintext is padded to a multiple of this.
pub const INFO_PAD: usize = 256;
/// FROZEN. Longest padded info block plaintext (63 * 256).
pub const INFO_MAX: usize = 63 * INFO_PAD;
/// FROZEN. Header + info block never exceed this many bytes.
pub const PREFIX_MAX: usize = 16 * 1024;
/// FROZEN. Bytes before the KEK id: magic, version, algorithm, chunk size, info length,
/// KEK id length.
pub const FIXED_LEN: usize = 8 + 1 + 1 + 4 + 4 + 1;
/// FROZEN. Version byte of the info block encoding.
pub const INFO_VERSION: u8 = 1;

/// FROZEN. Prefix of the associated data when wrapping the DEK.
pub const LABEL_WRAP: &[u8] = b"bitatlas/v1/dek-wrap";
/// FROZEN. HKDF `info` for the info block key.
pub const LABEL_INFO_KEY: &[u8] = b"bitatlas/v1/info-key";
/// FROZEN. HKDF `info` prefix for the payload key (followed by the context).
pub const LABEL_PAYLOAD_KEY: &[u8] = b"bitatlas/v1/payload-key";
/// FROZEN. Version 2's prefix of the associated data when wrapping the DEK.
pub const LABEL_WRAP_V2: &[u8] = b"bitatlas/v2/dek-wrap";
/// FROZEN. Version 2's HKDF `info` for the info block key.
pub const LABEL_INFO_KEY_V2: &[u8] = b"bitatlas/v2/info-key";
/// FROZEN. Version 2's HKDF `info` prefix for the payload key.
pub const LABEL_PAYLOAD_KEY_V2: &[u8] = b"bitatlas/v2/payload-key";

/// Appends `field` as a 4-byte big-endian length followed by its bytes.
pub(crate) fn put_lp(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

/// True for a valid KEK id: 1..=64 bytes of `A-Z a-z 0-9 . _ -`.
pub fn valid_kek_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= KEK_ID_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A parsed header. `bytes` is its exact encoding.
#[derive(Clone)]
pub(crate) struct Header {
    pub version: u8,
    pub algorithm: Algorithm,
    pub chunk_size: u32,
    pub info_len: u32,
    pub kek_id: String,
    pub bytes: Vec<u8>,
}

impl Header {
    /// Length of the encoded header.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Header bytes covered by the DEK wrap's associated data (everything before the
    /// wrapped DEK).
    pub fn unwrapped_part(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - WRAPPED_DEK_LEN]
    }

    /// The wrap nonce.
    pub fn wrap_nonce(&self) -> &[u8] {
        let end = self.bytes.len() - WRAPPED_DEK_LEN;
        &self.bytes[end - self.algorithm.nonce_len()..end]
    }

    /// The wrapped DEK (ciphertext and tag).
    pub fn wrapped_dek(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - WRAPPED_DEK_LEN..]
    }

    /// The bytes a v2 envelope binds its info block and payload to.
    pub fn body(&self) -> &[u8] {
        &self.bytes[..BODY_LEN]
    }

    /// Encodes every header field before the wrapped DEK.
    pub fn encode_head(
        version: u8,
        algorithm: Algorithm,
        chunk_size: u32,
        info_len: u32,
        kek_id: &str,
        wrap_nonce: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + kek_id.len() + 24 + WRAPPED_DEK_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(version);
        out.push(algorithm.id());
        out.extend_from_slice(&chunk_size.to_be_bytes());
        out.extend_from_slice(&info_len.to_be_bytes());
        out.push(kek_id.len() as u8);
        out.extend_from_slice(kek_id.as_bytes());
        out.extend_from_slice(wrap_nonce);
        out
    }

    /// Parses the header at the start of `prefix`. Returns [`CryptoError::TooShort`] when
    /// `prefix` ends before the header does.
    pub fn parse(prefix: &[u8]) -> Result<Header, CryptoError> {
        let bad = |m: &str| CryptoError::Format(m.to_owned());
        let magic_seen = prefix.len().min(MAGIC.len());
        if prefix[..magic_seen] != MAGIC[..magic_seen] {
            return Err(bad("not a BitAtlas envelope (bad magic)"));
        }
        if prefix.len() < FIXED_LEN {
            return Err(CryptoError::TooShort { needed: FIXED_LEN });
        }
        let version = prefix[8];
        if version != VERSION && version != VERSION_1 {
            return Err(CryptoError::Format(format!(
                "unsupported envelope version {}",
                prefix[8]
            )));
        }
        let algorithm = Algorithm::from_id(prefix[9]).ok_or_else(|| bad("unknown algorithm id"))?;
        let chunk_size = u32::from_be_bytes([prefix[10], prefix[11], prefix[12], prefix[13]]);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) || !chunk_size.is_power_of_two()
        {
            return Err(bad("unsupported chunk size"));
        }
        let info_len = u32::from_be_bytes([prefix[14], prefix[15], prefix[16], prefix[17]]);
        let padded = (info_len as usize).wrapping_sub(TAG_LEN);
        if (info_len as usize) < TAG_LEN + INFO_PAD
            || padded > INFO_MAX
            || !padded.is_multiple_of(INFO_PAD)
        {
            return Err(bad("invalid info block length"));
        }
        let id_len = prefix[18] as usize;
        if id_len == 0 || id_len > KEK_ID_MAX {
            return Err(bad("invalid KEK id length"));
        }
        let total = FIXED_LEN + id_len + algorithm.nonce_len() + WRAPPED_DEK_LEN;
        if prefix.len() < total {
            return Err(CryptoError::TooShort { needed: total });
        }
        let kek_id = std::str::from_utf8(&prefix[FIXED_LEN..FIXED_LEN + id_len])
            .ok()
            .filter(|s| valid_kek_id(s))
            .ok_or_else(|| bad("invalid KEK id"))?
            .to_owned();
        Ok(Header {
            version,
            algorithm,
            chunk_size,
            info_len,
            kek_id,
            bytes: prefix[..total].to_vec(),
        })
    }
}

/// Encodes the info block plaintext, padded with zeros to a multiple of [`INFO_PAD`].
pub(crate) fn encode_info(
    key: &str,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let too_big = || {
        CryptoError::InvalidInput(format!(
            "object key, content type and metadata must encode to at most {INFO_MAX} bytes"
        ))
    };
    let mut out = Zeroizing::new(Vec::with_capacity(INFO_MAX));
    let put16 = |out: &mut Vec<u8>, s: &str| -> Result<(), CryptoError> {
        let n = u16::try_from(s.len()).map_err(|_| too_big())?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(s.as_bytes());
        Ok(())
    };
    out.push(INFO_VERSION);
    put16(&mut out, key)?;
    match content_type {
        None => out.push(0),
        Some(ct) => {
            out.push(1);
            put16(&mut out, ct)?;
        }
    }
    let count = u16::try_from(metadata.len()).map_err(|_| too_big())?;
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in metadata {
        put16(&mut out, name)?;
        put16(&mut out, value)?;
    }
    let padded = out.len().div_ceil(INFO_PAD).max(1) * INFO_PAD;
    if padded > INFO_MAX {
        return Err(too_big());
    }
    out.resize(padded, 0);
    Ok(out)
}

/// A cursor over an info block plaintext.
struct InfoReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> InfoReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CryptoError> {
        let s = self
            .bytes
            .get(self.pos..self.pos + n)
            .ok_or_else(bad_info)?;
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, CryptoError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, CryptoError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn string(&mut self) -> Result<String, CryptoError> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| bad_info())
    }
}

fn bad_info() -> CryptoError {
    CryptoError::Format("malformed info block".into())
}

/// The decoded info block: object key, content type, metadata.
pub(crate) type InfoFields = (String, Option<String>, BTreeMap<String, String>);

/// Decodes an info block plaintext; rejects anything [`encode_info`] would not produce.
pub(crate) fn decode_info(bytes: &[u8]) -> Result<InfoFields, CryptoError> {
    let mut r = InfoReader { bytes, pos: 0 };
    if r.u8()? != INFO_VERSION {
        return Err(bad_info());
    }
    let key = r.string()?;
    let content_type = match r.u8()? {
        0 => None,
        1 => Some(r.string()?),
        _ => return Err(bad_info()),
    };
    let count = r.u16()?;
    let mut metadata = BTreeMap::new();
    let mut previous: Option<String> = None;
    for _ in 0..count {
        let name = r.string()?;
        let value = r.string()?;
        if previous.as_ref().is_some_and(|p| *p >= name) {
            return Err(bad_info());
        }
        previous = Some(name.clone());
        metadata.insert(name, value);
    }
    let canonical_len = r.pos.div_ceil(INFO_PAD).max(1) * INFO_PAD;
    if bytes.len() != canonical_len || bytes[r.pos..].iter().any(|&b| b != 0) {
        return Err(bad_info());
    }
    Ok((key, content_type, metadata))
}
