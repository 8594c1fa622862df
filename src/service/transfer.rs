//! Transfer links: a URL on BitAtlas itself through which a client sends or receives an
//! object's plaintext, sealed and opened here on the fly, so that files of any size move
//! without passing through the model and without the keyring leaving the server.
//!
//! A link is stateless: its path carries the tenant and a token sealed under a key derived
//! from the tenant's keyring (`crypto::seal_token`, purpose `transfer-link`), holding the key,
//! the method, the expiry, the size limit, the content type of an upload, a random link id
//! and, for an upload, the version of the object it may replace. Any instance holding the same
//! keyring verifies it; nothing about a link is stored anywhere until it is revoked.
//!
//! - **Bound**: a token opens only for its tenant's keyring; a tampered token does not open;
//!   its method, key and limit are inside the seal.
//! - **Expiring**: 15 minutes by default, at most an hour (as `presign`).
//! - **Single use for uploads**: an upload link names the version of the object it was issued
//!   against (absent, or the store's entity tag); it is refused once the object changed, so
//!   after one successful upload it is spent, on every instance, and it can never overwrite a
//!   newer object someone else wrote meanwhile. One instance also refuses a second concurrent
//!   upload through the same link.
//! - **Revocable**: revoking records the link id in memory and as an empty marker object in
//!   the tenant's store (under an opaque name beside the objects), which every instance checks.
//! - **Never logged**: tokens appear in no log and no audit record; issuing (`transfer`) and
//!   each use (`transfer-put`, `transfer-get`) are audited with the key, size and outcome.

use std::collections::HashSet;
use std::sync::Mutex;

use bitatlas_adapters::{AdapterError, StorageName};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use super::call::Audited;
use super::error::{ErrorCode, ServiceError, not_found};
use super::presign::{DEFAULT_EXPIRY, MAX_EXPIRY};
use super::put_stream::{Version, stream_object};
use super::{
    ByteRange, Caller, Download, ObjectKey, PresignMethod, Progress, Service, Stored, StreamPut,
    Tenant, Tool,
};
use crate::crypto::{open_token, seal_token, token_from_text, token_text};

/// Token purpose: keys derived for links open nothing else.
const PURPOSE: &str = "transfer-link";
/// Longest token accepted in a URL (a token for the longest key is well below).
const MAX_TOKEN_CHARS: usize = 4096;
/// Link format version inside the token.
const CLAIMS_VERSION: u8 = 1;

/// Hand out a transfer link.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    /// Object key.
    pub key: String,
    /// `PUT` to upload, `GET` to download.
    pub method: PresignMethod,
    /// Lifetime in seconds (default and bound as for presign).
    pub expires_in: Option<u64>,
    /// An upload stops (storing nothing) beyond this many bytes; a download link serves only
    /// an object up to this size.
    pub max_bytes: Option<u64>,
    /// Content type of the uploaded object (PUT only); else the upload's `Content-Type`.
    pub content_type: Option<String>,
}

/// A link issued by [`Service::transfer`].
#[derive(Debug, Clone)]
pub struct TransferLink {
    /// The full URL (a bearer credential until it expires).
    pub url: String,
    /// Upload or download.
    pub method: PresignMethod,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Its size limit.
    pub max_bytes: Option<u64>,
}

impl Audited for TransferLink {}

/// What a token holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    v: u8,
    key: String,
    put: bool,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ct: Option<String>,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ver: Option<Version>,
}

/// A link that verified: who it is for and what it allows.
#[derive(Debug, Clone)]
pub struct Link {
    caller: Caller,
    claims: Claims,
}

impl Link {
    /// The object key it is for.
    pub fn key(&self) -> &str {
        &self.claims.key
    }

    /// Upload or download.
    pub fn method(&self) -> PresignMethod {
        if self.claims.put {
            PresignMethod::Put
        } else {
            PresignMethod::Get
        }
    }

    /// Its size limit.
    pub fn max_bytes(&self) -> Option<u64> {
        self.claims.max
    }
}

/// Which bytes a download link is asked for (an HTTP `Range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The whole object.
    All,
    /// From `start` to `end` (exclusive; the object's end when absent).
    Range(ByteRange),
    /// The last `n` bytes.
    Last(u64),
}

/// Links of this process: revoked ids (also recorded in the store) and uploads in progress.
#[derive(Debug, Default)]
pub(super) struct Links {
    revoked: Mutex<HashSet<String>>,
    uploading: Mutex<HashSet<String>>,
}

/// Removes a link id from the uploads in progress when the upload ends, however it ends.
struct Uploading<'a> {
    links: &'a Links,
    id: String,
}

impl Drop for Uploading<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.links.uploading.lock() {
            set.remove(&self.id);
        }
    }
}

impl Service {
    /// Issues a transfer link for `request.key`. Needs the HTTP transport, which serves the
    /// links and tells the service its public address.
    pub async fn transfer(
        &self,
        caller: &Caller,
        request: TransferRequest,
    ) -> Result<TransferLink, ServiceError> {
        let key = request.key.clone();
        self.run(caller, Tool::Transfer, Some(&key), async |tenant| {
            if request.method == PresignMethod::Put && !tenant.tools.allows_writes() {
                return Err(super::profile::writes_disabled(Tool::Transfer));
            }
            let parsed = ObjectKey::parse(&request.key)?;
            let Some(base) = self.inner.link_base.get() else {
                return Err(ServiceError::new(
                    ErrorCode::Unsupported,
                    "transfer links are served by the HTTP transport (`bitatlas serve --http \
                     ADDR`, with `[http] public_url` when it is not on loopback); over stdio, \
                     store files with `put` and a `path`, read them with `get` and `save_to` \
                     (needs `--files-root DIR`)",
                ));
            };
            let expires = request.expires_in.unwrap_or(DEFAULT_EXPIRY);
            if expires == 0 || expires > MAX_EXPIRY {
                return Err(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    format!("expires_in must be 1-{MAX_EXPIRY} seconds"),
                ));
            }
            if request.max_bytes == Some(0) && request.method == PresignMethod::Get {
                return Err(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    "max_bytes must be at least 1 for a download link",
                ));
            }
            let name = tenant.name_of(parsed.as_str())?;
            let ver = match request.method {
                PresignMethod::Put => {
                    if let Some(ct) = &request.content_type {
                        super::metadata::check_content_type(ct)?;
                    }
                    Some(Version::of(tenant, &name).await?)
                }
                PresignMethod::Get => {
                    if request.content_type.is_some() {
                        return Err(ServiceError::new(
                            ErrorCode::InvalidArgument,
                            "content_type applies to upload (PUT) links only",
                        ));
                    }
                    if Version::of(tenant, &name).await? == Version::Absent {
                        return Err(not_found(parsed.as_str()));
                    }
                    None
                }
            };
            let expires_at = Utc::now() + chrono::Duration::seconds(expires as i64);
            let claims = Claims {
                v: CLAIMS_VERSION,
                key: parsed.as_str().to_owned(),
                put: request.method == PresignMethod::Put,
                exp: expires_at.timestamp(),
                max: request.max_bytes,
                ct: request.content_type,
                id: link_id()?,
                ver,
            };
            let token = seal_claims(tenant, &claims)?;
            Ok(TransferLink {
                url: format!(
                    "{}/transfer/{}/{token}",
                    base.trim_end_matches('/'),
                    tenant.id
                ),
                method: request.method,
                expires_at,
                max_bytes: request.max_bytes,
            })
        })
        .await
    }

    /// Sets the address links are served at (`[http] public_url`, or the bound loopback
    /// address); set once, by the HTTP transport. Until then `transfer` is unsupported.
    pub fn set_link_base(&self, base: String) {
        let _ = self.inner.link_base.set(base);
    }

    /// Verifies a link presented for `method`: it opens for `tenant`, has not expired, is for
    /// that method and was not revoked.
    pub async fn redeem(
        &self,
        tenant: &str,
        token: &str,
        method: PresignMethod,
    ) -> Result<Link, ServiceError> {
        let caller = Caller::new(tenant.to_owned());
        let t = self.tenant(&caller).map_err(|_| bad_link())?;
        let claims = open_claims(t, token)?;
        if claims.exp < Utc::now().timestamp() {
            return Err(ServiceError::new(
                ErrorCode::LinkExpired,
                "this transfer link has expired; ask for a new one with `transfer`",
            ));
        }
        if claims.put != (method == PresignMethod::Put) {
            return Err(ServiceError::new(
                ErrorCode::Unauthorized,
                "this transfer link is not for this method",
            ));
        }
        if self.is_revoked(t, &claims.id).await? {
            return Err(revoked());
        }
        Ok(Link { caller, claims })
    }

    /// Revokes a link on every instance sharing the store: it is refused from now on.
    pub async fn revoke(&self, link: &Link) -> Result<(), ServiceError> {
        let tenant = self.tenant(&link.caller)?;
        let marker = marker_name(tenant, &link.claims.id)?;
        tenant.adapter().put(&marker, Bytes::new()).await?;
        if let Ok(mut set) = self.inner.links.revoked.lock() {
            set.insert(link.claims.id.clone());
        }
        Ok(())
    }

    /// Stores the body sent through an upload link: the link's content type, or else
    /// `content_type` (the request's), and never more than its limit. Refused once the object
    /// changed since the link was issued (so a link uploads once).
    pub async fn upload_via(
        &self,
        link: &Link,
        content_type: Option<String>,
        expected_size: Option<u64>,
        body: &mut (dyn AsyncRead + Send + Unpin),
        progress: Option<&dyn Progress>,
    ) -> Result<Stored, ServiceError> {
        let claims = &link.claims;
        self.run(
            &link.caller,
            Tool::LinkUpload,
            Some(&claims.key),
            async |tenant| {
                let _in_progress = self.claim_upload(&claims.id)?;
                let name = tenant.name_of(&claims.key)?;
                let expected = claims.ver.as_ref();
                if let Some(v) = expected
                    && &Version::of(tenant, &name).await? != v
                {
                    return Err(spent());
                }
                let request = StreamPut {
                    key: claims.key.clone(),
                    content_type: claims.ct.clone().or(content_type),
                    metadata: Default::default(),
                    max_bytes: claims.max,
                    expected_size,
                };
                stream_object(tenant, request, body, progress, expected)
                    .await
                    .map_err(|e| {
                        if e.code == ErrorCode::Conflict {
                            spent()
                        } else {
                            e
                        }
                    })
            },
        )
        .await
    }

    /// Opens the object of a download link for streaming, `want` of it.
    pub async fn download_via(&self, link: &Link, want: Want) -> Result<Download, ServiceError> {
        let claims = &link.claims;
        self.download_as(
            &link.caller,
            Tool::LinkDownload,
            claims.key.clone(),
            want,
            claims.max,
        )
        .await
    }

    fn claim_upload(&self, id: &str) -> Result<Uploading<'_>, ServiceError> {
        let links = &self.inner.links;
        let mut set = links
            .uploading
            .lock()
            .map_err(|_| ServiceError::new(ErrorCode::Internal, "link state poisoned"))?;
        if !set.insert(id.to_owned()) {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                "an upload through this link is already in progress",
            ));
        }
        Ok(Uploading {
            links,
            id: id.to_owned(),
        })
    }

    async fn is_revoked(&self, tenant: &Tenant, id: &str) -> Result<bool, ServiceError> {
        if self
            .inner
            .links
            .revoked
            .lock()
            .is_ok_and(|set| set.contains(id))
        {
            return Ok(true);
        }
        match tenant.adapter().head(&marker_name(tenant, id)?).await {
            Ok(_) => Ok(true),
            Err(AdapterError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Where the revocation marker of link `id` lives: `<root>/l/<keyed hash>`, beside the
/// objects (`<root>/o/...`), opaque to the provider.
fn marker_name(tenant: &Tenant, id: &str) -> Result<StorageName, ServiceError> {
    tenant.side_name("l", &format!("\0link\0{id}"))
}

fn link_id() -> Result<String, ServiceError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|_| ServiceError::new(ErrorCode::Internal, "no randomness for a link id"))?;
    Ok(hex::encode(b))
}

fn seal_claims(tenant: &Tenant, claims: &Claims) -> Result<String, ServiceError> {
    let plain = serde_json::to_vec(claims)
        .map_err(|_| ServiceError::new(ErrorCode::Internal, "cannot encode a link"))?;
    let sealed = seal_token(&tenant.keyring, &tenant.id, PURPOSE, b"", &plain)
        .map_err(|_| ServiceError::new(ErrorCode::Internal, "cannot seal a link"))?;
    Ok(token_text(&sealed))
}

fn open_claims(tenant: &Tenant, token: &str) -> Result<Claims, ServiceError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(bad_link());
    }
    let raw = token_from_text(token).ok_or_else(bad_link)?;
    let plain =
        open_token(&tenant.keyring, &tenant.id, PURPOSE, b"", &raw).map_err(|_| bad_link())?;
    let claims: Claims = serde_json::from_slice(&plain).map_err(|_| bad_link())?;
    if claims.v != CLAIMS_VERSION {
        return Err(bad_link());
    }
    Ok(claims)
}

fn bad_link() -> ServiceError {
    ServiceError::new(
        ErrorCode::Unauthorized,
        "not a valid transfer link (altered, for another tenant, or from another keyring)",
    )
}

fn revoked() -> ServiceError {
    ServiceError::new(ErrorCode::LinkRevoked, "this transfer link was revoked")
}

fn spent() -> ServiceError {
    ServiceError::new(
        ErrorCode::LinkRevoked,
        "this upload link was already used, or the object changed since it was issued; ask \
         for a new link with `transfer`",
    )
}
