//! STREAM-style chunking (as in age): chunk `i` is sealed with nonce
//! `0..0 || i (11 bytes, big-endian) || last-flag (1 byte)`, under a key unique to the
//! object. Reordering, dropping, duplicating or appending chunks, or cutting the stream at a
//! chunk boundary, changes some chunk's nonce and fails authentication.
//!
//! Streaming uses two chunk buffers (read-ahead of one chunk to learn whether the current
//! one is the last), so memory stays bounded whatever the object size.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::aead::Cipher;
use super::envelope::{self, Context, ObjectInfo};
use super::error::CryptoError;
use super::format::{CHUNK_SIZE, TAG_LEN};
use super::keyring::Keyring;
use super::secret::{OsRandom, RandomSource};

/// FROZEN. The nonce of chunk `index`: zero bytes, then the index as an 11-byte big-endian
/// counter, then 0x01 for the final chunk or 0x00 otherwise.
pub(crate) fn chunk_nonce(nonce_len: usize, index: u64, last: bool) -> [u8; 24] {
    let mut n = [0u8; 24];
    let end = nonce_len;
    n[end - 9..end - 1].copy_from_slice(&index.to_be_bytes());
    n[end - 1] = u8::from(last);
    n
}

pub(crate) fn nonce_len(cipher: &Cipher) -> usize {
    match cipher {
        Cipher::Aes(_) => 12,
        Cipher::XChaCha(_) => 24,
    }
}

/// Encrypts one chunk in place and returns its tag.
pub(crate) fn seal_chunk(
    cipher: &Cipher,
    index: u64,
    last: bool,
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], CryptoError> {
    let nl = nonce_len(cipher);
    let nonce = chunk_nonce(nl, index, last);
    cipher.seal(&nonce[..nl], &[], buf)
}

/// Verifies and decrypts one chunk in place (`buf` = ciphertext || tag); the plaintext is
/// `buf[..buf.len() - 16]` afterwards.
pub(crate) fn open_chunk(
    cipher: &Cipher,
    index: u64,
    last: bool,
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    if buf.len() < TAG_LEN {
        return Err(CryptoError::Integrity);
    }
    let nl = nonce_len(cipher);
    let nonce = chunk_nonce(nl, index, last);
    cipher.open_combined(&nonce[..nl], &[], buf)
}

/// Reads until `buf` is full or the reader is exhausted; returns the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads `reader` in pieces of `piece` bytes and calls `each(index, last, buf, len)` for
/// every piece in order: `buf[..len]` is the piece, followed by `TAG_LEN` bytes of room.
/// Reads one piece ahead, so that `last` is known (a short or empty next read ends the
/// stream) while only two pieces are ever held; both buffers are zeroized on drop.
fn each_piece(
    reader: &mut dyn Read,
    piece: usize,
    mut each: impl FnMut(u64, bool, &mut [u8], usize) -> Result<(), CryptoError>,
) -> Result<(), CryptoError> {
    let mut cur = zeroizing_buf(piece + TAG_LEN);
    let mut next = zeroizing_buf(piece + TAG_LEN);
    let mut cur_len = read_full(reader, &mut cur[..piece])?;
    let mut index = 0u64;
    loop {
        let mut next_len = 0;
        let last = if cur_len < piece {
            true
        } else {
            next_len = read_full(reader, &mut next[..piece])?;
            next_len == 0
        };
        each(index, last, &mut cur, cur_len)?;
        if last {
            return Ok(());
        }
        std::mem::swap(&mut cur, &mut next);
        cur_len = next_len;
        index += 1;
    }
}

fn zeroizing_buf(len: usize) -> zeroize::Zeroizing<Vec<u8>> {
    zeroize::Zeroizing::new(vec![0u8; len])
}

/// Seals everything `reader` yields as payload chunks of `chunk_size`, writing them to
/// `writer`. Returns the plaintext length.
pub(crate) fn seal_chunks(
    cipher: &Cipher,
    chunk_size: usize,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
) -> Result<u64, CryptoError> {
    let mut total = 0u64;
    each_piece(reader, chunk_size, |index, last, buf, len| {
        let tag = seal_chunk(cipher, index, last, &mut buf[..len])?;
        buf[len..len + TAG_LEN].copy_from_slice(&tag);
        writer.write_all(&buf[..len + TAG_LEN])?;
        total += len as u64;
        Ok(())
    })?;
    Ok(total)
}

/// Verifies and decrypts payload chunks from `reader`, writing each chunk's plaintext to
/// `writer` only after that chunk verified. Fails unless the stream ends exactly after a
/// chunk flagged final. Returns the plaintext length.
pub(crate) fn open_chunks(
    cipher: &Cipher,
    chunk_size: usize,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
) -> Result<u64, CryptoError> {
    let mut total = 0u64;
    each_piece(reader, chunk_size + TAG_LEN, |index, last, buf, len| {
        if len < TAG_LEN || (last && index > 0 && len == TAG_LEN) {
            return Err(CryptoError::Integrity);
        }
        open_chunk(cipher, index, last, &mut buf[..len])?;
        writer.write_all(&buf[..len - TAG_LEN])?;
        total += (len - TAG_LEN) as u64;
        Ok(())
    })?;
    Ok(total)
}

/// Reads from `reader` until `prefix` is `len` bytes long; a stream that ends first is a
/// truncated envelope.
fn extend_to(reader: &mut dyn Read, prefix: &mut Vec<u8>, len: usize) -> Result<(), CryptoError> {
    let have = prefix.len();
    prefix.resize(len, 0);
    if read_full(reader, &mut prefix[have..])? != len - have {
        return Err(CryptoError::Integrity);
    }
    Ok(())
}

/// Seals `reader` into `writer` for `ctx`, with bounded memory. Returns the plaintext length.
pub fn seal_stream(
    keyring: &Keyring,
    ctx: &Context,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
) -> Result<u64, CryptoError> {
    seal_stream_with_rng(
        keyring,
        ctx,
        content_type,
        metadata,
        reader,
        writer,
        &mut OsRandom,
    )
}

/// [`seal_stream`] with injected randomness (test vectors only).
pub fn seal_stream_with_rng(
    keyring: &Keyring,
    ctx: &Context,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    rng: &mut dyn RandomSource,
) -> Result<u64, CryptoError> {
    let (prefix, cipher) = envelope::begin_seal(keyring, ctx, content_type, metadata, rng)?;
    writer.write_all(&prefix)?;
    let n = seal_chunks(&cipher, CHUNK_SIZE, reader, writer)?;
    writer.flush()?;
    Ok(n)
}

/// Opens an envelope from `reader` for `ctx`, with bounded memory, writing plaintext to
/// `writer` chunk by chunk as each chunk verifies.
///
/// On error, `writer` may already hold the plaintext of the chunks that verified before the
/// failure; callers that must not expose partial output write to a temporary file and keep it
/// only when this returns `Ok` (as `bitatlas open` does).
pub fn open_stream(
    keyring: &Keyring,
    ctx: &Context,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
) -> Result<(ObjectInfo, u64), CryptoError> {
    let mut prefix = Vec::with_capacity(256);
    let layout = loop {
        match envelope::Layout::parse(&prefix) {
            Ok(layout) => break layout,
            Err(CryptoError::TooShort { needed }) => extend_to(reader, &mut prefix, needed)?,
            Err(e) => return Err(e),
        }
    };
    extend_to(reader, &mut prefix, layout.prefix_len() as usize)?;
    let (info, opener) = envelope::open_info(keyring, ctx.tenant, ctx.store, &prefix)?;
    let cipher = opener.payload_cipher(ctx)?;
    let n = open_chunks(
        &cipher,
        opener.layout().chunk_size() as usize,
        reader,
        writer,
    )?;
    writer.flush()?;
    Ok((info, n))
}
