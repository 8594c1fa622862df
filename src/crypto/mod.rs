//! Envelope encryption: every object is sealed before an adapter sees it.
//!
//! Modules, as in age/rage: [`format`](mod@format) (frozen constants, header and info block encoding),
//! [`keyring`] (KEKs and the naming key), [`secret`] (zeroizing key types and randomness),
//! `aead` (algorithm dispatch), `stream` (STREAM chunking, sync `Read`/`Write`), `chunks`
//! (whole in-memory payloads over all cores),
//! `envelope` (whole-object and ranged API), `token` (small sealed tokens such as cursors),
//! [`error`].
//!
//! The byte-level format is specified in `docs/envelope-format.md`.

mod aead;
mod chunks;
mod envelope;
pub mod error;
pub mod format;
pub mod keyring;
pub mod provider;
mod sealer;
pub mod secret;
mod stream;
mod token;

pub use aead::Algorithm;
pub use envelope::{
    ChunkSpan, Context, Layout, ObjectInfo, Opened, Opener, Rewrapped, open, open_info, open_owned,
    rewrap, rewrap_with_rng, seal, seal_parts, seal_v1_with_rng, seal_with_rng,
};
pub use error::CryptoError;
pub use keyring::{KeyEntry, Keyring};
pub use provider::{
    FileProvider, FixedProvider, KeyFuture, KeyProvider, Loaded, ProviderInfo, TenantKeys,
};
pub use sealer::Sealer;
pub use secret::{FixedRandom, OsRandom, RandomSource, SecretKey};
pub use stream::{open_stream, seal_stream, seal_stream_with_rng};
pub use token::{TOKEN_MAX_PLAINTEXT, open_token, seal_token, token_from_text, token_text};
