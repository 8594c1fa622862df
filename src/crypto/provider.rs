//! Key providers: where a tenant's keyring (its KEKs and naming key) is kept, and the
//! in-memory cache in front of them.
//!
//! One trait, [`KeyProvider`], for every place a keyring can live: a keyring file (the
//! zero-config default), an environment variable, a KMS that wraps the keyring (OpenBao /
//! Vault Transit, implemented in `runtime`, which does the I/O). The service only ever sees
//! [`TenantKeys`]: it asks for the keyring, gets the cached one while it is younger than the
//! TTL, and otherwise loads it again from the provider. A provider that cannot be reached or
//! refuses (KMS down, key disabled or deleted, file gone) fails closed with
//! [`CryptoError::KeyUnavailable`]: nothing is sealed or opened without a fresh answer.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::CryptoError;
use super::keyring::Keyring;

/// A future a provider returns.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CryptoError>> + Send + 'a>>;

/// Public facts about where a tenant's keys are: never key bytes, never a token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderInfo {
    /// `keyring` (a file), `env` (an environment variable) or `transit` (OpenBao / Vault).
    pub kind: &'static str,
    /// The file, the variable, or the Transit key (`<address>/v1/<mount>/keys/<key>`).
    pub location: String,
    /// The provider's own key version wrapping the keyring (Transit), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// A keyring as a provider handed it out.
pub struct Loaded {
    /// The keyring.
    pub ring: Keyring,
    /// The provider's key version that protects it (Transit), if any.
    pub version: Option<u64>,
}

/// Where a tenant's keyring lives.
pub trait KeyProvider: Send + Sync {
    /// Where the keys are, for `locate`, `residency report` and the start-up banner.
    fn describe(&self) -> ProviderInfo;
    /// Reads (and for a KMS, unwraps) the keyring.
    fn load(&self) -> KeyFuture<'_, Loaded>;
    /// Writes the keyring back after a rotation or a retirement (a KMS wraps it under its
    /// latest key version). Returns that version, if the provider has versions.
    fn save<'a>(&'a self, ring: &'a Keyring) -> KeyFuture<'a, Option<u64>>;
    /// Adds a key version at the provider (Transit `rotate`); `None` when it has no versions.
    fn rotate(&self) -> KeyFuture<'_, Option<u64>> {
        Box::pin(async { Ok(None) })
    }
    /// Stops the provider opening anything older than `version` (Transit
    /// `min_decryption_version`); a no-op for providers without versions.
    fn retire_below(&self, _version: u64) -> KeyFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// Destroys the keyring for good (crypto-shredding): afterwards no copy of the tenant's
    /// data opens, whatever keyring backups are left that this provider wrapped.
    fn destroy(&self) -> KeyFuture<'_, ()>;
}

/// A keyring file (`docs/keyring.md`), re-read when the cache expires so that a rotation by
/// `bitatlas keys` reaches a running server.
pub struct FileProvider {
    path: PathBuf,
}

impl FileProvider {
    /// The keyring file at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The keyring file.
    pub fn describe_path(&self) -> PathBuf {
        self.path.clone()
    }
}

impl KeyProvider for FileProvider {
    fn describe(&self) -> ProviderInfo {
        ProviderInfo {
            kind: "keyring",
            location: self.path.display().to_string(),
            version: None,
        }
    }

    fn load(&self) -> KeyFuture<'_, Loaded> {
        Box::pin(async move {
            let path = self.path.clone();
            let ring = tokio::task::spawn_blocking(move || Keyring::load(&path))
                .await
                .map_err(|e| CryptoError::KeyUnavailable(format!("keyring loader: {e}")))?
                .map_err(|e| CryptoError::KeyUnavailable(e.to_string()))?;
            Ok(Loaded {
                ring,
                version: None,
            })
        })
    }

    fn save<'a>(&'a self, ring: &'a Keyring) -> KeyFuture<'a, Option<u64>> {
        Box::pin(async move { ring.save(&self.path).map(|()| None) })
    }

    fn destroy(&self) -> KeyFuture<'_, ()> {
        Box::pin(async move {
            match std::fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(CryptoError::Io(e)),
            }
        })
    }
}

/// A keyring held in memory only: given by the caller (tests, embedding) or read once from an
/// environment variable. It never expires, and cannot be saved or destroyed here.
pub struct FixedProvider {
    ring: Arc<Keyring>,
    info: ProviderInfo,
}

impl FixedProvider {
    /// `ring`, described as `kind` at `location`.
    pub fn new(ring: Arc<Keyring>, kind: &'static str, location: String) -> Self {
        Self {
            ring,
            info: ProviderInfo {
                kind,
                location,
                version: None,
            },
        }
    }
}

impl KeyProvider for FixedProvider {
    fn describe(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn load(&self) -> KeyFuture<'_, Loaded> {
        let ring = (*self.ring).clone();
        Box::pin(async move {
            Ok(Loaded {
                ring,
                version: None,
            })
        })
    }

    fn save<'a>(&'a self, _ring: &'a Keyring) -> KeyFuture<'a, Option<u64>> {
        let location = self.info.location.clone();
        Box::pin(async move {
            Err(CryptoError::Keyring(format!(
                "the keyring comes from {location}; change it where it is kept"
            )))
        })
    }

    fn destroy(&self) -> KeyFuture<'_, ()> {
        let save = self.save(&self.ring);
        Box::pin(async move { save.await.map(|_| ()) })
    }
}

struct Cached {
    ring: Arc<Keyring>,
    version: Option<u64>,
    at: Instant,
}

/// A tenant's keys at run time: a provider and the cached keyring. Cloning shares the cache.
#[derive(Clone)]
pub struct TenantKeys {
    provider: Arc<dyn KeyProvider>,
    ttl: Option<Duration>,
    cached: Arc<Mutex<Option<Cached>>>,
    /// One load at a time: callers arriving during a load wait for its result.
    loading: Arc<futures::lock::Mutex<()>>,
}

impl std::fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantKeys")
            .field("provider", &self.provider.describe())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TenantKeys {
    /// Keys from `provider`, starting from `initial` (just loaded), kept for `ttl` after each
    /// load; `None`: kept for ever (a fixed keyring).
    pub fn new(provider: Arc<dyn KeyProvider>, initial: Loaded, ttl: Option<Duration>) -> Self {
        Self {
            provider,
            ttl,
            cached: Arc::new(Mutex::new(Some(Cached {
                ring: Arc::new(initial.ring),
                version: initial.version,
                at: Instant::now(),
            }))),
            loading: Arc::new(futures::lock::Mutex::new(())),
        }
    }

    /// A keyring that never changes (tests and embedding).
    pub fn fixed(ring: Arc<Keyring>) -> Self {
        let provider = Arc::new(FixedProvider::new(
            Arc::clone(&ring),
            "keyring",
            "memory".into(),
        ));
        Self::new(
            provider,
            Loaded {
                ring: (*ring).clone(),
                version: None,
            },
            None,
        )
    }

    fn fresh(&self) -> Option<Arc<Keyring>> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|c| self.ttl.is_none_or(|ttl| c.at.elapsed() < ttl))
            .map(|c| Arc::clone(&c.ring))
    }

    /// The keyring: the cached one while it is fresh, otherwise loaded anew. Once the TTL has
    /// passed, the old keyring is forgotten whether or not the load succeeds: an unreachable
    /// provider means [`CryptoError::KeyUnavailable`], never stale keys.
    pub async fn keyring(&self) -> Result<Arc<Keyring>, CryptoError> {
        if let Some(ring) = self.fresh() {
            return Ok(ring);
        }
        let _one = self.loading.lock().await;
        if let Some(ring) = self.fresh() {
            return Ok(ring);
        }
        self.reload_locked().await
    }

    /// Loads the keyring now, whatever the cache holds (after a rotation, or when an envelope
    /// names a KEK the cached keyring lacks).
    pub async fn reload(&self) -> Result<Arc<Keyring>, CryptoError> {
        let _one = self.loading.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<Arc<Keyring>, CryptoError> {
        if self.ttl.is_none() {
            return self
                .fresh()
                .ok_or_else(|| CryptoError::KeyUnavailable("no keyring".into()));
        }
        // Forget the old keys first: a failed load must not leave them usable.
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let loaded = self.provider.load().await?;
        let ring = Arc::new(loaded.ring);
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            ring: Arc::clone(&ring),
            version: loaded.version,
            at: Instant::now(),
        });
        Ok(ring)
    }

    /// Where the keys are, with the provider's key version of the last load.
    pub fn describe(&self) -> ProviderInfo {
        let mut info = self.provider.describe();
        if let Some(c) = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            info.version = c.version.or(info.version);
        }
        info
    }

    /// The provider itself (rotation, retirement, destruction).
    pub fn provider(&self) -> &Arc<dyn KeyProvider> {
        &self.provider
    }
}
