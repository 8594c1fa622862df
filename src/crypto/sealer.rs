//! Sealing a payload whose length is not known in advance (an upload arriving over the
//! network, a file being read), one piece at a time, with bounded memory.
//!
//! The envelope is exactly what [`super::seal`] produces for the same bytes; only the chunk
//! flags need care: the final chunk carries the last-chunk flag, so a piece can be sealed only
//! once the caller knows whether more follows. Callers therefore read one piece ahead (as
//! `stream::each_piece` does) and say `last` when the next read came back empty.

use std::collections::BTreeMap;

use super::aead::Cipher;
use super::chunks;
use super::envelope::{self, Context};
use super::error::CryptoError;
use super::format::CHUNK_SIZE;
use super::keyring::Keyring;
use super::secret::{OsRandom, RandomSource};

/// Seals the payload chunks of one envelope in order.
pub struct Sealer {
    cipher: Cipher,
    /// Index of the next chunk to seal.
    next: u64,
    finished: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("next_chunk", &self.next)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Plaintext bytes per chunk: every piece but the last must be a multiple of this.
    pub const CHUNK: usize = CHUNK_SIZE;

    /// Starts an envelope for `ctx` under the keyring's primary KEK; returns its prefix
    /// (header and sealed info block), which goes first, and the sealer for the payload.
    pub fn begin(
        keyring: &Keyring,
        ctx: &Context,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(Vec<u8>, Sealer), CryptoError> {
        Self::begin_with_rng(keyring, ctx, content_type, metadata, &mut OsRandom)
    }

    /// [`Sealer::begin`] with injected randomness (tests only).
    pub fn begin_with_rng(
        keyring: &Keyring,
        ctx: &Context,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
        rng: &mut dyn RandomSource,
    ) -> Result<(Vec<u8>, Sealer), CryptoError> {
        let (prefix, cipher) = envelope::begin_seal(keyring, ctx, content_type, metadata, rng)?;
        Ok((
            prefix,
            Sealer {
                cipher,
                next: 0,
                finished: false,
            },
        ))
    }

    /// Seals the next `plain` bytes and appends their chunks to `out`. Unless `last`, `plain`
    /// must be a non-empty multiple of [`Sealer::CHUNK`]; the last piece may be shorter, and
    /// may be empty only when it is the whole payload. Nothing may follow the last piece.
    pub fn seal(&mut self, plain: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::InvalidInput(
                "the payload was already finished".into(),
            ));
        }
        let whole_chunks = !plain.is_empty() && plain.len().is_multiple_of(CHUNK_SIZE);
        if !last && !whole_chunks {
            return Err(CryptoError::InvalidInput(
                "a piece before the last must be whole chunks".into(),
            ));
        }
        if last && plain.is_empty() && self.next > 0 {
            // An empty final chunk after full ones is not a valid envelope: the caller should
            // have flagged the previous piece as the last.
            return Err(CryptoError::InvalidInput(
                "the last piece is empty after earlier pieces".into(),
            ));
        }
        let count = chunks::chunk_count(plain.len(), CHUNK_SIZE) as u64;
        // Until the last piece, pretend one more chunk follows, so no chunk gets the flag.
        let total = if last {
            self.next + count
        } else {
            self.next + count + 1
        };
        let start = out.len();
        out.resize(start + chunks::sealed_len(plain.len(), CHUNK_SIZE), 0);
        chunks::seal_all(
            &self.cipher,
            CHUNK_SIZE,
            (self.next, total),
            plain,
            &mut out[start..],
        )?;
        self.next += count;
        self.finished = last;
        Ok(())
    }

    /// Whether the last piece was sealed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Algorithm, FixedRandom, seal_with_rng};

    fn fixture() -> (Keyring, BTreeMap<String, String>) {
        let keyring = Keyring::generate(Algorithm::Aes256Gcm);
        let mut md = BTreeMap::new();
        md.insert("k".to_owned(), "v".to_owned());
        (keyring, md)
    }

    fn ctx() -> Context<'static> {
        Context {
            tenant: "t",
            store: "s",
            key: "a/b.bin",
        }
    }

    /// Pieces of whole chunks followed by a short last piece give byte for byte the envelope
    /// that one-shot sealing gives, with the same randomness.
    #[test]
    fn pieces_give_the_one_shot_envelope() {
        let (keyring, md) = fixture();
        for len in [
            0usize,
            1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE,
            5 * CHUNK_SIZE + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let expected = seal_with_rng(
                &keyring,
                &ctx(),
                Some("x/y"),
                &md,
                &data,
                &mut FixedRandom::new(vec![7u8; 64]),
            )
            .unwrap();
            let (mut out, mut sealer) = Sealer::begin_with_rng(
                &keyring,
                &ctx(),
                Some("x/y"),
                &md,
                &mut FixedRandom::new(vec![7u8; 64]),
            )
            .unwrap();
            // Two chunks per piece, the remainder last; a payload of exactly whole pieces
            // ends with its final whole piece flagged last.
            let piece = 2 * CHUNK_SIZE;
            let mut rest = &data[..];
            loop {
                let take = rest.len().min(piece);
                let last = take == rest.len();
                sealer.seal(&rest[..take], last, &mut out).unwrap();
                rest = &rest[take..];
                if last {
                    break;
                }
            }
            assert!(sealer.is_finished());
            assert_eq!(out, expected, "length {len}");
            let opened = crate::crypto::open(&keyring, &ctx(), &out).unwrap();
            assert_eq!(opened.data, data);
        }
    }

    #[test]
    fn misuse_is_refused() {
        let (keyring, md) = fixture();
        let (mut out, mut sealer) = Sealer::begin(&keyring, &ctx(), None, &md).unwrap();
        let err = sealer.seal(&[1, 2, 3], false, &mut out).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidInput(_)), "{err:?}");
        let err = sealer.seal(&[], false, &mut out).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidInput(_)), "{err:?}");
        sealer
            .seal(&vec![0u8; CHUNK_SIZE], false, &mut out)
            .unwrap();
        let err = sealer.seal(&[], true, &mut out).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidInput(_)), "{err:?}");
        sealer.seal(&[9], true, &mut out).unwrap();
        let err = sealer.seal(&[9], true, &mut out).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidInput(_)), "{err:?}");
        let opened = crate::crypto::open(&keyring, &ctx(), &out).unwrap();
        assert_eq!(opened.data.len(), CHUNK_SIZE + 1);
    }

    /// A payload cut after a piece that was not flagged last does not open.
    #[test]
    fn an_unfinished_payload_does_not_open() {
        let (keyring, md) = fixture();
        let (mut out, mut sealer) = Sealer::begin(&keyring, &ctx(), None, &md).unwrap();
        sealer
            .seal(&vec![5u8; 2 * CHUNK_SIZE], false, &mut out)
            .unwrap();
        let err = crate::crypto::open(&keyring, &ctx(), &out).unwrap_err();
        assert!(matches!(err, CryptoError::Integrity), "{err:?}");
    }
}
