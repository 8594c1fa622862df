//! The whole-object API: seal, open, and ranged access without I/O.

use std::collections::BTreeMap;
use std::ops::Range;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::aead::{Algorithm, Cipher};
use super::chunks;
use super::error::CryptoError;
use super::format::{
    self, CHUNK_SIZE, DEK_LEN, Header, LABEL_INFO_KEY, LABEL_INFO_KEY_V2, LABEL_PAYLOAD_KEY,
    LABEL_PAYLOAD_KEY_V2, LABEL_WRAP, LABEL_WRAP_V2, PREFIX_MAX, TAG_LEN, VERSION_1,
    WRAPPED_DEK_LEN, put_lp,
};
use super::keyring::Keyring;
use super::secret::{KEY_LEN, OsRandom, RandomSource};

/// Where an object lives. The payload is bound to all three fields; the info block to
/// `tenant` and `store` only (so a listing can learn an object's key from its info block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    /// Tenant id.
    pub tenant: &'a str,
    /// Store name.
    pub store: &'a str,
    /// Object key.
    pub key: &'a str,
}

/// What the sealed info block carries. `Debug` does not print the key, content type or
/// metadata values (they may identify people).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ObjectInfo {
    /// The object key the envelope was sealed for.
    pub key: String,
    /// Content type given at seal time.
    pub content_type: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for ObjectInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectInfo")
            .field("key", &format_args!("[{} bytes]", self.key.len()))
            .field("content_type", &self.content_type.as_ref().map(|_| "[set]"))
            .field(
                "metadata",
                &format_args!("[{} entries]", self.metadata.len()),
            )
            .finish()
    }
}

/// An opened envelope. `Debug` does not print the data.
pub struct Opened {
    /// The info block.
    pub info: ObjectInfo,
    /// The whole plaintext.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("info", &self.info)
            .field("data", &format_args!("[{} bytes]", self.data.len()))
            .finish()
    }
}

/// Encodes the context fields for associated data or key derivation, each length-prefixed.
fn context_bytes(fields: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        put_lp(&mut out, f.as_bytes());
    }
    out
}

/// The per-object secret from which the info and payload keys are expanded.
struct ObjectSecret {
    prk: Zeroizing<[u8; 32]>,
    algorithm: Algorithm,
    version: u8,
}

impl ObjectSecret {
    /// Version 1 salts with the whole header, version 2 with its body only, so that a v2
    /// envelope's key block can be rewrapped without touching its info block or chunks.
    fn new(dek: &[u8; DEK_LEN], header: &Header) -> Self {
        let salt = if header.version == VERSION_1 {
            Sha256::digest(&header.bytes)
        } else {
            Sha256::digest(header.body())
        };
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&salt), dek);
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&prk);
        ObjectSecret {
            prk: out,
            algorithm: header.algorithm,
            version: header.version,
        }
    }

    fn expand(&self, info: &[&[u8]]) -> Cipher {
        let hk = Hkdf::<Sha256>::from_prk(&self.prk[..]).expect("PRK has the hash length");
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        hk.expand_multi_info(info, &mut key[..])
            .expect("32 bytes is a valid HKDF output length");
        Cipher::new(self.algorithm, &key)
    }

    fn info_cipher(&self) -> Cipher {
        if self.version == VERSION_1 {
            self.expand(&[LABEL_INFO_KEY])
        } else {
            self.expand(&[LABEL_INFO_KEY_V2])
        }
    }

    /// Version 1 binds the payload to tenant, store and key; version 2 to tenant and key,
    /// so that one envelope can be copied between the tenant's stores (replicas).
    fn payload_cipher(&self, ctx: &Context) -> Cipher {
        if self.version == VERSION_1 {
            let c = context_bytes(&[ctx.tenant, ctx.store, ctx.key]);
            self.expand(&[LABEL_PAYLOAD_KEY, &c])
        } else {
            let c = context_bytes(&[ctx.tenant, ctx.key]);
            self.expand(&[LABEL_PAYLOAD_KEY_V2, &c])
        }
    }
}

/// The DEK wrap's associated data: `head` is every header byte before the wrapped DEK.
fn wrap_ad(version: u8, head: &[u8], tenant: &str, store: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(LABEL_WRAP.len() + head.len() + 64);
    if version == VERSION_1 {
        ad.extend_from_slice(LABEL_WRAP);
        ad.extend_from_slice(head);
        ad.extend_from_slice(&context_bytes(&[tenant, store]));
    } else {
        ad.extend_from_slice(LABEL_WRAP_V2);
        ad.extend_from_slice(head);
        ad.extend_from_slice(&context_bytes(&[tenant]));
    }
    ad
}

fn info_ad(header: &Header, tenant: &str, store: &str) -> Vec<u8> {
    if header.version == VERSION_1 {
        let mut ad = header.bytes.to_vec();
        ad.extend_from_slice(&context_bytes(&[tenant, store]));
        ad
    } else {
        let mut ad = header.body().to_vec();
        ad.extend_from_slice(&context_bytes(&[tenant]));
        ad
    }
}

/// Wraps `dek` under the keyring's primary KEK for a header whose body (the first
/// [`format::BODY_LEN`] bytes) is `body`; returns the complete header.
fn wrap_header(
    keyring: &Keyring,
    body: &[u8],
    tenant: &str,
    store: &str,
    dek: &[u8; DEK_LEN],
    rng: &mut dyn RandomSource,
) -> Result<Header, CryptoError> {
    let kek = keyring.primary_kek();
    let version = body[8];
    let alg = Algorithm::from_id(body[9]).ok_or(CryptoError::Integrity)?;
    if kek.algorithm != alg {
        return Err(CryptoError::InvalidInput(format!(
            "the primary key-encryption key uses {}, the envelope {}",
            kek.algorithm.as_str(),
            alg.as_str()
        )));
    }
    let mut nonce = [0u8; 24];
    let nonce = &mut nonce[..alg.nonce_len()];
    rng.fill(nonce)?;
    let mut head = body.to_vec();
    head.push(kek.id.len() as u8);
    head.extend_from_slice(kek.id.as_bytes());
    head.extend_from_slice(nonce);
    let mut wrapped = [0u8; WRAPPED_DEK_LEN];
    wrapped[..DEK_LEN].copy_from_slice(&dek[..]);
    let tag = Cipher::new(alg, kek.key.expose()).seal(
        nonce,
        &wrap_ad(version, &head, tenant, store),
        &mut wrapped[..DEK_LEN],
    )?;
    wrapped[DEK_LEN..].copy_from_slice(&tag);
    head.extend_from_slice(&wrapped);
    Header::parse(&head)
}

/// Unwraps the DEK of `header` with the KEK it names.
fn unwrap_dek(
    keyring: &Keyring,
    header: &Header,
    tenant: &str,
    store: &str,
) -> Result<Zeroizing<[u8; DEK_LEN]>, CryptoError> {
    let kek = keyring
        .find(&header.kek_id)
        .ok_or_else(|| CryptoError::UnknownKek(header.kek_id.clone()))?;
    if kek.algorithm != header.algorithm {
        return Err(CryptoError::Integrity);
    }
    let mut dek = Zeroizing::new([0u8; DEK_LEN]);
    let wrapped = header.wrapped_dek();
    dek.copy_from_slice(&wrapped[..DEK_LEN]);
    Cipher::new(header.algorithm, kek.key.expose()).open(
        header.wrap_nonce(),
        &wrap_ad(header.version, header.unwrapped_part(), tenant, store),
        &mut dek[..],
        &wrapped[DEK_LEN..],
    )?;
    Ok(dek)
}

/// Builds header + sealed info block in envelope format `version`; returns them and the
/// payload cipher.
pub(crate) fn begin_seal(
    keyring: &Keyring,
    ctx: &Context,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    rng: &mut dyn RandomSource,
) -> Result<(Vec<u8>, Cipher), CryptoError> {
    begin_seal_version(format::VERSION, keyring, ctx, (content_type, metadata), rng)
}

fn begin_seal_version(
    version: u8,
    keyring: &Keyring,
    ctx: &Context,
    (content_type, metadata): (Option<&str>, &BTreeMap<String, String>),
    rng: &mut dyn RandomSource,
) -> Result<(Vec<u8>, Cipher), CryptoError> {
    let alg = keyring.primary_kek().algorithm;
    let mut info = format::encode_info(ctx.key, content_type, metadata)?;
    let info_len = (info.len() + TAG_LEN) as u32;

    let mut dek = Zeroizing::new([0u8; DEK_LEN]);
    rng.fill(&mut dek[..])?;
    let mut body = Header::encode_head(version, alg, CHUNK_SIZE as u32, info_len, "", &[]);
    body.truncate(format::BODY_LEN);
    let header = wrap_header(keyring, &body, ctx.tenant, ctx.store, &dek, rng)?;

    let secret = ObjectSecret::new(&dek, &header);
    let zero_nonce = [0u8; 24];
    let tag = secret.info_cipher().seal(
        &zero_nonce[..alg.nonce_len()],
        &info_ad(&header, ctx.tenant, ctx.store),
        &mut info[..],
    )?;
    let mut prefix = header.bytes;
    prefix.extend_from_slice(&info);
    prefix.extend_from_slice(&tag);
    debug_assert!(prefix.len() <= PREFIX_MAX);
    Ok((prefix, secret.payload_cipher(ctx)))
}

/// Seals `plaintext` in envelope format version 1, which this code no longer writes. Exists
/// for the v1 test vectors and for tests that show v1 objects stay readable and migrate.
#[doc(hidden)]
pub fn seal_v1_with_rng(
    keyring: &Keyring,
    ctx: &Context,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    plaintext: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, CryptoError> {
    let (prefix, cipher) =
        begin_seal_version(VERSION_1, keyring, ctx, (content_type, metadata), rng)?;
    seal_whole(prefix, &cipher, plaintext)
}

/// The envelope of `plaintext` after `prefix`, every chunk sealed with `cipher`.
fn seal_whole(prefix: Vec<u8>, cipher: &Cipher, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = vec![0u8; prefix.len() + chunks::sealed_len(plaintext.len(), CHUNK_SIZE)];
    let (head, payload) = out.split_at_mut(prefix.len());
    head.copy_from_slice(&prefix);
    let total = chunks::chunk_count(plaintext.len(), CHUNK_SIZE) as u64;
    chunks::seal_all(cipher, CHUNK_SIZE, (0, total), plaintext, payload)?;
    Ok(out)
}

/// What [`rewrap`] made of an envelope prefix.
#[derive(Debug)]
pub struct Rewrapped {
    /// The new header, to replace the first `old_header_len` bytes of the envelope; the info
    /// block and every chunk after them stay byte for byte.
    pub header: Vec<u8>,
    /// Length of the header it replaces.
    pub old_header_len: usize,
}

/// Rewraps a version 2 envelope's DEK under the keyring's primary KEK without touching its
/// info block or payload. `prefix` is the envelope's start (at least the header and info
/// block: the info block is opened to check the DEK before anything is rewritten). A version 1
/// envelope cannot be rewrapped (its payload keys depend on the whole header):
/// [`CryptoError::Format`] says it needs migrating, i.e. opening and sealing anew.
pub fn rewrap(
    keyring: &Keyring,
    tenant: &str,
    store: &str,
    prefix: &[u8],
) -> Result<Rewrapped, CryptoError> {
    rewrap_with_rng(keyring, tenant, store, prefix, &mut OsRandom)
}

/// [`rewrap`] with injected randomness (test vectors only).
pub fn rewrap_with_rng(
    keyring: &Keyring,
    tenant: &str,
    store: &str,
    prefix: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Rewrapped, CryptoError> {
    let layout = Layout::parse(prefix)?;
    if layout.header.version == VERSION_1 {
        return Err(CryptoError::Format(
            "a version 1 envelope cannot be rewrapped; it must be migrated (sealed anew)".into(),
        ));
    }
    // Proves the DEK opens this envelope's info block before a new wrap is made of it.
    open_info(keyring, tenant, store, prefix)?;
    let dek = unwrap_dek(keyring, &layout.header, tenant, store)?;
    let header = wrap_header(keyring, layout.header.body(), tenant, store, &dek, rng)?;
    Ok(Rewrapped {
        header: header.bytes,
        old_header_len: layout.header.len(),
    })
}

/// Seals `plaintext` for `ctx` under the keyring's primary KEK.
pub fn seal(
    keyring: &Keyring,
    ctx: &Context,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_with_rng(
        keyring,
        ctx,
        content_type,
        metadata,
        plaintext,
        &mut OsRandom,
    )
}

/// [`seal`] with injected randomness. Exists for the test vectors: production code must use
/// [`seal`], which draws the DEK and nonce from the operating system.
pub fn seal_with_rng(
    keyring: &Keyring,
    ctx: &Context,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    plaintext: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, CryptoError> {
    let (prefix, cipher) = begin_seal(keyring, ctx, content_type, metadata, rng)?;
    seal_whole(prefix, &cipher, plaintext)
}

/// [`seal`], handing the envelope to `emit` in pieces as they are sealed, so that storing one
/// piece can overlap with sealing the next: the prefix with the first `part_chunks` chunks,
/// then `part_chunks` chunks at a time. The pieces, concatenated, are an envelope exactly
/// like [`seal`]'s. Stops as soon as `emit` returns false; returns the envelope's total size.
pub fn seal_parts(
    keyring: &Keyring,
    ctx: &Context,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    plaintext: &[u8],
    part_chunks: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<u64, CryptoError> {
    seal_parts_with_rng(
        keyring,
        ctx,
        (content_type, metadata),
        plaintext,
        part_chunks,
        emit,
        &mut OsRandom,
    )
}

pub(crate) fn seal_parts_with_rng(
    keyring: &Keyring,
    ctx: &Context,
    (content_type, metadata): (Option<&str>, &BTreeMap<String, String>),
    plaintext: &[u8],
    part_chunks: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
    rng: &mut dyn RandomSource,
) -> Result<u64, CryptoError> {
    if part_chunks == 0 {
        return Err(CryptoError::InvalidInput(
            "parts need at least one chunk".into(),
        ));
    }
    let (mut prefix, cipher) = begin_seal(keyring, ctx, content_type, metadata, rng)?;
    let total = chunks::chunk_count(plaintext.len(), CHUNK_SIZE) as u64;
    let mut written = 0u64;
    let mut first = 0u64;
    // An empty payload still has one (empty) chunk, so the loop runs at least once.
    for piece in plaintext
        .chunks(part_chunks * CHUNK_SIZE)
        .chain(plaintext.is_empty().then_some(&[][..]))
    {
        let mut out = std::mem::take(&mut prefix);
        let head = out.len();
        out.resize(head + chunks::sealed_len(piece.len(), CHUNK_SIZE), 0);
        chunks::seal_all(&cipher, CHUNK_SIZE, (first, total), piece, &mut out[head..])?;
        first += chunks::chunk_count(piece.len(), CHUNK_SIZE) as u64;
        written += out.len() as u64;
        if !emit(out) {
            break;
        }
    }
    Ok(written)
}

/// Opens a whole envelope for `ctx`. Returns no plaintext unless every chunk verifies and the
/// info block names `ctx.key`.
pub fn open(keyring: &Keyring, ctx: &Context, envelope: &[u8]) -> Result<Opened, CryptoError> {
    let (info, opener, span) = open_whole(keyring, ctx, envelope)?;
    let payload = &envelope[opener.layout.prefix_len() as usize..];
    let data = opener.open_chunks(ctx, &span, payload)?;
    Ok(Opened { info, data })
}

/// [`open`] for an envelope the caller owns: the chunks are opened in place and the same
/// buffer comes back holding the plaintext, so no second buffer of the object's size is
/// allocated (and none of its pages faulted in).
pub fn open_owned(
    keyring: &Keyring,
    ctx: &Context,
    mut envelope: Vec<u8>,
) -> Result<Opened, CryptoError> {
    let (info, opener, span) = open_whole(keyring, ctx, &envelope)?;
    let start = opener.layout.prefix_len() as usize;
    let chunk = opener.check_span(&span, envelope.len() - start)?;
    let cipher = opener.payload_cipher(ctx)?;
    chunks::open_in_place(
        &cipher,
        chunk,
        (span.first_chunk, span.total_chunks),
        &mut envelope,
        start,
    )?;
    Ok(Opened {
        info,
        data: envelope,
    })
}

/// The info block, an opener and the span of every chunk of a whole envelope.
fn open_whole(
    keyring: &Keyring,
    ctx: &Context,
    envelope: &[u8],
) -> Result<(ObjectInfo, Opener, ChunkSpan), CryptoError> {
    let (info, opener) = open_info(keyring, ctx.tenant, ctx.store, envelope).map_err(truncated)?;
    let total = envelope.len() as u64;
    let len = opener.layout.plaintext_len(total)?;
    let span = opener.layout.chunk_span(total, 0..len)?;
    Ok((info, opener, span))
}

/// A prefix too short to hold the header is a truncated envelope.
fn truncated(e: CryptoError) -> CryptoError {
    match e {
        CryptoError::TooShort { .. } => CryptoError::Integrity,
        other => other,
    }
}

/// Where things are in an envelope, computed from its first bytes only.
#[derive(Clone)]
pub struct Layout {
    header: Header,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("algorithm", &self.header.algorithm)
            .field("kek_id", &self.header.kek_id)
            .field("chunk_size", &self.header.chunk_size)
            .field("prefix_len", &self.prefix_len())
            .finish()
    }
}

/// The ciphertext to fetch for a plaintext range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSpan {
    /// Absolute byte range of the envelope to fetch.
    pub ciphertext: Range<u64>,
    /// Index of the first chunk in that range.
    pub first_chunk: u64,
    /// Number of chunks in that range.
    pub chunk_count: u64,
    /// Number of chunks in the whole envelope.
    pub total_chunks: u64,
    /// Plaintext length of the whole object.
    pub plaintext_len: u64,
}

impl Layout {
    /// A prefix of this many bytes (or the whole envelope, if shorter) always suffices for
    /// [`Layout::parse`] and [`open_info`].
    pub const PREFIX_MAX: usize = PREFIX_MAX;

    /// Parses the header at the start of `prefix`. [`CryptoError::TooShort`] says how many
    /// bytes are needed when `prefix` is too short; other errors mean "not an envelope".
    pub fn parse(prefix: &[u8]) -> Result<Layout, CryptoError> {
        Ok(Layout {
            header: Header::parse(prefix)?,
        })
    }

    /// Header plus info block length: where chunk 0 starts.
    pub fn prefix_len(&self) -> u64 {
        (self.header.len() + self.header.info_len as usize) as u64
    }

    /// Header length.
    pub fn header_len(&self) -> u64 {
        self.header.len() as u64
    }

    /// The algorithm named in the header.
    pub fn algorithm(&self) -> Algorithm {
        self.header.algorithm
    }

    /// The envelope format version (1 or 2).
    pub fn version(&self) -> u8 {
        self.header.version
    }

    /// The KEK id named in the header.
    pub fn kek_id(&self) -> &str {
        &self.header.kek_id
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> u64 {
        self.header.chunk_size as u64
    }

    /// Number of chunks for an envelope of `total` bytes. Lengths no sealer can produce
    /// (truncation inside a tag, an empty non-first last chunk) are integrity failures.
    pub fn chunk_count(&self, total: u64) -> Result<u64, CryptoError> {
        let tag = TAG_LEN as u64;
        let payload = total
            .checked_sub(self.prefix_len())
            .ok_or(CryptoError::Integrity)?;
        let stride = self.chunk_size() + tag;
        let n = payload.div_ceil(stride);
        if n == 0 {
            return Err(CryptoError::Integrity);
        }
        let last = payload - (n - 1) * stride;
        if last < tag || (n > 1 && last == tag) {
            return Err(CryptoError::Integrity);
        }
        Ok(n)
    }

    /// Plaintext length of an envelope of `total` bytes (payload is not padded).
    pub fn plaintext_len(&self, total: u64) -> Result<u64, CryptoError> {
        let n = self.chunk_count(total)?;
        Ok(total - self.prefix_len() - n * TAG_LEN as u64)
    }

    /// The chunks holding plaintext bytes `plain` of an envelope of `total` bytes.
    pub fn chunk_span(&self, total: u64, plain: Range<u64>) -> Result<ChunkSpan, CryptoError> {
        let n = self.chunk_count(total)?;
        let len = total - self.prefix_len() - n * TAG_LEN as u64;
        if plain.start > plain.end || plain.end > len {
            return Err(CryptoError::InvalidRange {
                start: plain.start,
                end: plain.end,
                len,
            });
        }
        let c = self.chunk_size();
        let stride = c + TAG_LEN as u64;
        let (first, count) = if len == 0 {
            // The one (empty) final chunk.
            (0, 1)
        } else if plain.is_empty() {
            (plain.start.min(len - 1) / c, 0)
        } else {
            let first = plain.start / c;
            (first, (plain.end - 1) / c - first + 1)
        };
        let start = self.prefix_len() + first * stride;
        // Saturating: `total` is the size the store reports, which may be near `u64::MAX`.
        let end = start
            .saturating_add(count.saturating_mul(stride))
            .min(total);
        Ok(ChunkSpan {
            ciphertext: start..end,
            first_chunk: first,
            chunk_count: count,
            total_chunks: n,
            plaintext_len: len,
        })
    }
}

/// Opens payload chunks of one envelope after its info block was opened.
pub struct Opener {
    layout: Layout,
    secret: ObjectSecret,
    tenant: String,
    store: String,
    key: String,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// Opens the header and info block at the start of `prefix` (which may be the whole
/// envelope). Checks the KEK, the header and the tenant/store binding; does not look at the
/// payload.
pub fn open_info(
    keyring: &Keyring,
    tenant: &str,
    store: &str,
    prefix: &[u8],
) -> Result<(ObjectInfo, Opener), CryptoError> {
    let layout = Layout::parse(prefix)?;
    let header = &layout.header;
    let prefix_len = layout.prefix_len() as usize;
    if prefix.len() < prefix_len {
        return Err(CryptoError::TooShort { needed: prefix_len });
    }
    let alg = header.algorithm;
    let dek = unwrap_dek(keyring, header, tenant, store)?;
    let secret = ObjectSecret::new(&dek, header);

    let sealed = &prefix[header.len()..prefix_len];
    let (body, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let mut info = Zeroizing::new(body.to_vec());
    let zero_nonce = [0u8; 24];
    secret.info_cipher().open(
        &zero_nonce[..alg.nonce_len()],
        &info_ad(header, tenant, store),
        &mut info[..],
        tag,
    )?;
    let (key, content_type, metadata) = format::decode_info(&info)?;
    let info = ObjectInfo {
        key: key.clone(),
        content_type,
        metadata,
    };
    let opener = Opener {
        layout,
        secret,
        tenant: tenant.to_owned(),
        store: store.to_owned(),
        key,
    };
    Ok((info, opener))
}

impl Opener {
    /// The envelope's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The payload cipher for `ctx`, after checking that `ctx` is the context this envelope
    /// was sealed for (as far as the info block tells).
    pub(crate) fn payload_cipher(&self, ctx: &Context) -> Result<Cipher, CryptoError> {
        let store_bound = self.layout.header.version == VERSION_1;
        if ctx.tenant != self.tenant
            || (store_bound && ctx.store != self.store)
            || ctx.key != self.key
        {
            return Err(CryptoError::Integrity);
        }
        Ok(self.secret.payload_cipher(ctx))
    }

    /// Decrypts the chunks of `span` (whose ciphertext is `bytes`, exactly
    /// `span.ciphertext`) and returns plaintext bytes `plain`. Only those chunks are touched;
    /// each is verified, including the last-chunk flag of the envelope's final chunk.
    pub fn open_span(
        &self,
        ctx: &Context,
        span: &ChunkSpan,
        bytes: &[u8],
        plain: Range<u64>,
    ) -> Result<Vec<u8>, CryptoError> {
        let c = self.layout.chunk_size();
        if plain.is_empty() && span.chunk_count == 0 {
            self.payload_cipher(ctx)?;
            if plain.start > span.plaintext_len || !bytes.is_empty() {
                return Err(CryptoError::InvalidRange {
                    start: plain.start,
                    end: plain.end,
                    len: span.plaintext_len,
                });
            }
            return Ok(Vec::new());
        }
        let covered_start = span.first_chunk * c;
        let covered_end = ((span.first_chunk + span.chunk_count) * c).min(span.plaintext_len);
        if plain.start > plain.end || plain.start < covered_start || plain.end > covered_end {
            return Err(CryptoError::InvalidRange {
                start: plain.start,
                end: plain.end,
                len: span.plaintext_len,
            });
        }
        let mut data = self.open_chunks(ctx, span, bytes)?;
        let from = (plain.start - covered_start) as usize;
        let to = (plain.end - covered_start) as usize;
        // A piece on chunk boundaries (every piece of a stream but the first and last) is
        // the opened buffer itself; otherwise the bytes outside `plain` are wiped and cut.
        data[to..].zeroize();
        data.truncate(to);
        if from > 0 {
            data[..from].zeroize();
            data.drain(..from);
        }
        Ok(data)
    }

    /// Decrypts every chunk of `span` (whose ciphertext is `bytes`, exactly
    /// `span.ciphertext`) into `out`, which must be exactly the plaintext those chunks hold.
    /// On failure `out` is wiped.
    pub fn open_span_into(
        &self,
        ctx: &Context,
        span: &ChunkSpan,
        bytes: &[u8],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let chunk = self.check_span(span, bytes.len())?;
        let cipher = self.payload_cipher(ctx)?;
        chunks::open_into(
            &cipher,
            chunk,
            (span.first_chunk, span.total_chunks),
            bytes,
            out,
        )
    }

    /// Decrypts every chunk of `span`; returns their concatenated plaintext.
    fn open_chunks(
        &self,
        ctx: &Context,
        span: &ChunkSpan,
        bytes: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let chunk = self.check_span(span, bytes.len())?;
        let cipher = self.payload_cipher(ctx)?;
        chunks::open_all(&cipher, chunk, span.first_chunk, span.total_chunks, bytes)
    }

    /// Checks that `len` sealed bytes are exactly the chunks of `span`; returns the chunk size.
    fn check_span(&self, span: &ChunkSpan, len: usize) -> Result<usize, CryptoError> {
        let chunk = self.layout.chunk_size() as usize;
        if len as u64 != span.ciphertext.end - span.ciphertext.start
            || len.div_ceil(chunk + TAG_LEN) as u64 != span.chunk_count
        {
            return Err(CryptoError::Integrity);
        }
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::FixedRandom;

    const CTX: Context<'static> = Context {
        tenant: "t",
        store: "s",
        key: "k",
    };

    fn randomness() -> FixedRandom {
        FixedRandom::new((0..64u8).collect())
    }

    #[test]
    fn parts_concatenate_to_the_whole_envelope() {
        let ring = Keyring::generate(Algorithm::Aes256Gcm);
        let meta = BTreeMap::new();
        for len in [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 5] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
            let whole = seal_with_rng(&ring, &CTX, None, &meta, &plain, &mut randomness()).unwrap();
            for part_chunks in [1, 2, 8] {
                let mut parts = Vec::new();
                let size = seal_parts_with_rng(
                    &ring,
                    &CTX,
                    (None, &meta),
                    &plain,
                    part_chunks,
                    &mut |p| {
                        parts.push(p);
                        true
                    },
                    &mut randomness(),
                )
                .unwrap();
                assert_eq!(
                    parts.concat(),
                    whole,
                    "len {len}, {part_chunks} chunks a part"
                );
                assert_eq!(size, whole.len() as u64);
                let want = len.div_ceil(part_chunks * CHUNK_SIZE).max(1);
                assert_eq!(parts.len(), want);
            }
        }
    }

    #[test]
    fn sealing_stops_when_the_receiver_does() {
        let ring = Keyring::generate(Algorithm::XChaCha20Poly1305);
        let plain = vec![7u8; 4 * CHUNK_SIZE];
        let mut calls = 0;
        seal_parts(&ring, &CTX, None, &BTreeMap::new(), &plain, 1, &mut |_| {
            calls += 1;
            false
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert!(
            seal_parts(&ring, &CTX, None, &BTreeMap::new(), &plain, 0, &mut |_| {
                true
            })
            .is_err()
        );
    }
}
