//! Sealing and opening a whole in-memory payload, chunk by chunk, spread over the machine's
//! cores. Each chunk has its own nonce (see `stream`), so disjoint runs of chunks can be
//! processed by different threads; the bytes produced are exactly those of a sequential loop.

use std::sync::OnceLock;

use zeroize::Zeroize;

use super::aead::Cipher;
use super::error::CryptoError;
use super::format::TAG_LEN;
use super::stream::{chunk_nonce, nonce_len, open_chunk, seal_chunk};

/// Payloads below this size per thread are not worth a thread.
const MIN_BYTES_PER_THREAD: usize = 1 << 20;
/// Upper bound on threads for one payload.
const MAX_THREADS: usize = 8;

/// How many chunks a payload of `len` bytes has (an empty payload has one, empty, chunk).
pub(crate) fn chunk_count(len: usize, chunk: usize) -> usize {
    len.div_ceil(chunk).max(1)
}

/// The sealed size of a `len`-byte payload: every chunk gains a tag.
pub(crate) fn sealed_len(len: usize, chunk: usize) -> usize {
    len + chunk_count(len, chunk) * TAG_LEN
}

fn threads_for(len: usize) -> usize {
    if len < 2 * MIN_BYTES_PER_THREAD {
        return 1;
    }
    // Asking the OS reads cgroup files each time (tens of microseconds): ask once.
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS)
    });
    (len / MIN_BYTES_PER_THREAD).clamp(1, cores)
}

/// How many chunks each thread takes for a payload of `len` bytes in `chunks` chunks.
fn chunks_per_run(len: usize, chunks: usize) -> usize {
    chunks.div_ceil(threads_for(len).min(chunks).max(1))
}

/// Runs `work(first_chunk_of_run, run)` for every run, each on its own thread (the first on
/// the calling one); returns the first error.
fn run_all<T: Send>(
    mut runs: impl Iterator<Item = T>,
    per: usize,
    work: impl Fn(u64, T) -> Result<(), CryptoError> + Sync,
) -> Result<(), CryptoError> {
    let Some(first) = runs.next() else {
        return Ok(());
    };
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .enumerate()
            .map(|(i, run)| s.spawn(move || work(((i + 1) * per) as u64, run)))
            .collect();
        let mut result = work(0, first);
        for h in handles {
            let r = h.join().unwrap_or(Err(CryptoError::Integrity));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// Runs `work(first_chunk, src_part, dst_part)` over runs of whole chunks, one run per
/// thread, with `src` and `dst` split at the same chunk boundaries.
fn split_runs<F>(
    chunks: usize,
    src: &[u8],
    src_stride: usize,
    dst: &mut [u8],
    dst_stride: usize,
    work: F,
) -> Result<(), CryptoError>
where
    F: Fn(u64, &[u8], &mut [u8]) -> Result<(), CryptoError> + Sync,
{
    let per = chunks_per_run(src.len().max(dst.len()), chunks);
    if per >= chunks {
        return work(0, src, dst);
    }
    let runs = src
        .chunks(per * src_stride)
        .zip(dst.chunks_mut(per * dst_stride));
    run_all(runs, per, |first, (s, d)| work(first, s, d))
}

/// Seals `plain`, chunks `first..` of an envelope of `total` chunks, into `out`, which must
/// be exactly [`sealed_len`] bytes: chunk `first + i` is `ciphertext || tag` at
/// `i * (chunk + TAG_LEN)`.
pub(crate) fn seal_all(
    cipher: &Cipher,
    chunk: usize,
    (first, total): (u64, u64),
    plain: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    if out.len() != sealed_len(plain.len(), chunk)
        || first + chunk_count(plain.len(), chunk) as u64 > total
    {
        return Err(CryptoError::InvalidInput("output buffer size".into()));
    }
    let stride = chunk + TAG_LEN;
    split_runs(
        chunk_count(plain.len(), chunk),
        plain,
        chunk,
        out,
        stride,
        |run_first, src, dst| {
            let mut pieces = src.chunks(chunk);
            for (i, slot) in dst.chunks_mut(stride).enumerate() {
                let index = first + run_first + i as u64;
                let piece = pieces.next().unwrap_or(&[]);
                let (body, tag) = slot.split_at_mut(piece.len());
                body.copy_from_slice(piece);
                tag.copy_from_slice(&seal_chunk(cipher, index, index + 1 == total, body)?);
            }
            Ok(())
        },
    )
}

/// Opens `sealed` (a run of `ciphertext || tag` chunks starting at chunk `first` of an
/// envelope of `total` chunks) into a new buffer. Fails, returning no plaintext, unless
/// every chunk verifies.
pub(crate) fn open_all(
    cipher: &Cipher,
    chunk: usize,
    first: u64,
    total: u64,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = vec![0u8; opened_len(chunk, first, total, sealed)?];
    open_into(cipher, chunk, (first, total), sealed, &mut out)?;
    Ok(out)
}

/// The plaintext length of `sealed` (as for [`open_all`]), or `Integrity` when it cannot be
/// a run of whole chunks of that envelope.
pub(crate) fn opened_len(
    chunk: usize,
    first: u64,
    total: u64,
    sealed: &[u8],
) -> Result<usize, CryptoError> {
    let stride = chunk + TAG_LEN;
    let chunks = sealed.len().div_ceil(stride).max(1);
    let last_len = sealed.len() - (chunks - 1) * stride;
    if last_len < TAG_LEN || first + chunks as u64 > total {
        return Err(CryptoError::Integrity);
    }
    Ok(sealed.len() - chunks * TAG_LEN)
}

/// Opens `sealed` (as for [`open_all`]) into `out`, which must be exactly its plaintext
/// length. On failure `out` is wiped: chunks that verified before it must not outlive it.
pub(crate) fn open_into(
    cipher: &Cipher,
    chunk: usize,
    (first, total): (u64, u64),
    sealed: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    if opened_len(chunk, first, total, sealed)? != out.len() {
        return Err(CryptoError::Integrity);
    }
    let stride = chunk + TAG_LEN;
    let chunks = sealed.len().div_ceil(stride).max(1);
    let nl = nonce_len(cipher);
    let result = split_runs(chunks, sealed, stride, out, chunk, |run_first, src, dst| {
        let mut slots = dst.chunks_mut(chunk);
        for (i, piece) in src.chunks(stride).enumerate() {
            let index = first + run_first + i as u64;
            let (body, tag) = piece.split_at(piece.len() - TAG_LEN);
            let slot = if body.is_empty() {
                &mut [][..]
            } else {
                slots.next().ok_or(CryptoError::Integrity)?
            };
            let nonce = chunk_nonce(nl, index, index + 1 == total);
            cipher.open_to(&nonce[..nl], &[], body, tag, slot)?;
        }
        Ok(())
    });
    if result.is_err() {
        out.zeroize();
    }
    result
}

/// Opens, in place, the chunks stored in `buf[start..]` (chunks `first..` of an envelope of
/// `total` chunks), then closes the gaps the tags and `buf[..start]` leave: on success `buf`
/// holds only the plaintext. No second buffer of the payload's size is allocated. On failure
/// `buf` is wiped and emptied.
pub(crate) fn open_in_place(
    cipher: &Cipher,
    chunk: usize,
    (first, total): (u64, u64),
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<(), CryptoError> {
    let stride = chunk + TAG_LEN;
    let sealed_len = buf.len().checked_sub(start).ok_or(CryptoError::Integrity)?;
    let chunks = sealed_len.div_ceil(stride).max(1);
    let last_len = sealed_len - (chunks - 1) * stride;
    if last_len < TAG_LEN || first + chunks as u64 > total {
        return Err(CryptoError::Integrity);
    }
    let open_run = |run_first: u64, run: &mut [u8]| {
        for (i, piece) in run.chunks_mut(stride).enumerate() {
            let index = first + run_first + i as u64;
            open_chunk(cipher, index, index + 1 == total, piece)?;
        }
        Ok(())
    };
    let sealed = &mut buf[start..];
    let per = chunks_per_run(sealed_len, chunks);
    let opened = if per >= chunks {
        open_run(0, sealed)
    } else {
        run_all(sealed.chunks_mut(per * stride), per, open_run)
    };
    if let Err(e) = opened {
        buf.zeroize();
        buf.clear();
        return Err(e);
    }
    // Chunk i moves from `start + i * stride` to `i * chunk`: always leftwards.
    for i in 0..chunks {
        let from = start + i * stride;
        let body = (buf.len() - from).min(stride) - TAG_LEN;
        buf.copy_within(from..from + body, i * chunk);
    }
    let plain_len = sealed_len - chunks * TAG_LEN;
    buf[plain_len..].zeroize();
    buf.truncate(plain_len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Algorithm;

    fn sequential_seal(cipher: &Cipher, chunk: usize, plain: &[u8]) -> Vec<u8> {
        let total = chunk_count(plain.len(), chunk) as u64;
        let mut out = Vec::new();
        let mut pieces = plain.chunks(chunk);
        for index in 0..total {
            let start = out.len();
            out.extend_from_slice(pieces.next().unwrap_or(&[]));
            let tag = seal_chunk(cipher, index, index + 1 == total, &mut out[start..]).unwrap();
            out.extend_from_slice(&tag);
        }
        out
    }

    #[test]
    fn parallel_output_equals_the_sequential_loop_and_opens() {
        for alg in [Algorithm::Aes256Gcm, Algorithm::XChaCha20Poly1305] {
            let cipher = Cipher::new(alg, &[7u8; 32]);
            let chunk = 4096;
            // Sizes around the thread threshold and chunk boundaries, and the empty payload.
            for len in [0, 1, chunk, chunk + 1, (2 << 20) + 17, 3 << 20] {
                let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
                let mut out = vec![0u8; sealed_len(len, chunk)];
                let total = chunk_count(len, chunk) as u64;
                seal_all(&cipher, chunk, (0, total), &plain, &mut out).unwrap();
                assert_eq!(out, sequential_seal(&cipher, chunk, &plain), "len {len}");
                assert_eq!(open_all(&cipher, chunk, 0, total, &out).unwrap(), plain);
                // In place, behind a 7-byte prefix that must go too.
                let mut owned = b"prefix!".to_vec();
                owned.extend_from_slice(&out);
                open_in_place(&cipher, chunk, (0, total), &mut owned, 7).unwrap();
                assert!(owned == plain, "in place, len {len}");
                // The last chunk opens on its own with the sequential opener too.
                let stride = chunk + TAG_LEN;
                let mut last = out[(total as usize - 1) * stride..].to_vec();
                open_chunk(&cipher, total - 1, true, &mut last).unwrap();
            }
        }
    }

    #[test]
    fn any_flipped_bit_in_any_run_fails_the_whole_open() {
        let cipher = Cipher::new(Algorithm::Aes256Gcm, &[9u8; 32]);
        let chunk = 65536;
        let plain = vec![0x5au8; 3 << 20];
        let mut out = vec![0u8; sealed_len(plain.len(), chunk)];
        let total = chunk_count(plain.len(), chunk) as u64;
        seal_all(&cipher, chunk, (0, total), &plain, &mut out).unwrap();
        for at in [0, out.len() / 2, out.len() - 1] {
            let mut bad = out.clone();
            bad[at] ^= 1;
            assert!(matches!(
                open_all(&cipher, chunk, 0, total, &bad),
                Err(CryptoError::Integrity)
            ));
        }
        for at in [0, out.len() / 2, out.len() - 1] {
            let mut bad = out.clone();
            bad[at] ^= 1;
            assert!(open_in_place(&cipher, chunk, (0, total), &mut bad, 0).is_err());
            assert!(
                bad.is_empty(),
                "nothing is left after a failed open in place"
            );
        }
        // Cut at a chunk boundary, the envelope's new last chunk lacks the last-chunk flag.
        let cut = &out[..out.len() - (chunk + TAG_LEN)];
        assert!(open_all(&cipher, chunk, 0, total - 1, cut).is_err());
        // Swapping two chunks moves each to the other's nonce.
        let stride = chunk + TAG_LEN;
        let mut swapped = out.clone();
        let (a, b) = swapped.split_at_mut(stride);
        a.swap_with_slice(&mut b[..stride]);
        assert!(open_all(&cipher, chunk, 0, total, &swapped).is_err());
    }
}
