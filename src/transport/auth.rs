//! Who is calling over HTTP: bearer-token authentication.
//!
//! The HTTP transport asks an [`Authenticator`] to turn request headers into a
//! [`Caller`]. Two implementations exist today:
//!
//! * [`LoopbackDefault`]: no tokens are configured anywhere, so every request is the stdio
//!   tenant. Only allowed on a loopback bind (the transport refuses anything else).
//! * [`TokenAuthenticator`]: opaque bearer tokens (`bat_` + 32 random bytes, base64url),
//!   of which the configuration holds only SHA-256 hashes, mapped to tenants.
//!
//! The trait is deliberately small so that an OAuth 2.1 resource-server validator (checking
//! a JWT or introspecting an access token issued by an authorization server, audience bound
//! to this server, mapping a claim to a tenant) can be added later as a third
//! implementation without touching the transport.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::TenantConfig;
use crate::service::Caller;

/// Prefix of every token, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "bat_";
/// Prefix of a token hash in the configuration file.
pub const HASH_PREFIX: &str = "sha256:";

/// Why a request was not authenticated. Never carries the presented credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer ...` header.
    Missing,
    /// A credential was presented but is malformed, unknown or revoked.
    Invalid,
    /// A valid access token that names no tenant of this server.
    Forbidden,
}

/// Turns an HTTP request's headers into the calling tenant.
pub trait Authenticator: Send + Sync + 'static {
    /// Authenticates one request.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError>;
    /// Whether requests must carry a credential (false only for [`LoopbackDefault`]).
    fn requires_credentials(&self) -> bool {
        true
    }
}

/// Every request is one fixed tenant: the behaviour without configured tokens, loopback only.
#[derive(Debug, Clone)]
pub struct LoopbackDefault {
    /// The tenant served.
    pub tenant: String,
}

impl Authenticator for LoopbackDefault {
    fn authenticate(&self, _headers: &HeaderMap) -> Result<Caller, AuthError> {
        Ok(Caller::new(self.tenant.clone()))
    }
    fn requires_credentials(&self) -> bool {
        false
    }
}

/// No static token is configured, but requests must still authenticate (OAuth is on): every
/// bearer is left to OAuth.
#[derive(Debug, Clone, Copy)]
pub struct NoStaticTokens;

impl Authenticator for NoStaticTokens {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        if headers.contains_key(http::header::AUTHORIZATION) {
            Err(AuthError::Invalid)
        } else {
            Err(AuthError::Missing)
        }
    }
}

/// Bearer tokens checked against configured SHA-256 hashes, in constant time.
pub struct TokenAuthenticator {
    entries: Vec<([u8; 32], String)>,
}

impl std::fmt::Debug for TokenAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthenticator")
            .field("tokens", &self.entries.len())
            .finish()
    }
}

impl TokenAuthenticator {
    /// Collects the token hashes of every tenant. `Ok(None)` when no tenant has a token.
    /// Fails on a malformed hash or one hash listed twice (naming the tenant, never the hash).
    pub fn from_tenants(tenants: &BTreeMap<String, TenantConfig>) -> anyhow::Result<Option<Self>> {
        let mut entries: Vec<([u8; 32], String)> = Vec::new();
        for (tenant, cfg) in tenants {
            for (i, line) in cfg.tokens.iter().enumerate() {
                let hash = parse_hash(line).ok_or_else(|| {
                    anyhow::anyhow!(
                        "tenant {tenant}: tokens[{i}] is not `{HASH_PREFIX}<64 hex digits>`; \
                         create one with `bitatlas tokens create --tenant {tenant}`"
                    )
                })?;
                if entries.iter().any(|(h, _)| *h == hash) {
                    anyhow::bail!("tenant {tenant}: tokens[{i}] is configured more than once");
                }
                entries.push((hash, tenant.clone()));
            }
        }
        Ok((!entries.is_empty()).then_some(Self { entries }))
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(AuthError::Missing);
        };
        if values.next().is_some() {
            return Err(AuthError::Invalid);
        }
        let value = value.to_str().map_err(|_| AuthError::Invalid)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Invalid);
        }
        let presented = hash_token(token.trim());
        // Compare against every entry without stopping early.
        let mut found: Option<&str> = None;
        for (hash, tenant) in &self.entries {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(tenant);
            }
        }
        found
            .map(|tenant| Caller::new(tenant.to_owned()))
            .ok_or(AuthError::Invalid)
    }
}

/// A new random token: `bat_` + 32 random bytes in unpadded base64url.
pub fn generate_token() -> anyhow::Result<String> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..]).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..])
    ))
}

/// The configuration line for a token: `sha256:<hex>`.
pub fn token_hash_line(token: &str) -> String {
    format!("{HASH_PREFIX}{}", hex::encode(hash_token(token)))
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_hash(line: &str) -> Option<[u8; 32]> {
    let hex_part = line.trim().strip_prefix(HASH_PREFIX)?;
    let bytes = hex::decode(hex_part).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants(pairs: &[(&str, &str)]) -> BTreeMap<String, TenantConfig> {
        let mut out = BTreeMap::new();
        for (tenant, hash) in pairs {
            out.entry(tenant.to_string())
                .or_insert_with(|| TenantConfig {
                    store: "local".into(),
                    policy: None,
                    keyring: None,
                    keyring_env: None,
                    tokens: Vec::new(),
                    tools: None,
                    key_provider: None,
                    replicas: Vec::new(),
                })
                .tokens
                .push(hash.to_string());
        }
        out
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn tokens_map_to_their_tenant() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        let auth = TokenAuthenticator::from_tenants(&tenants(&[
            ("a", &token_hash_line(&a)),
            ("b", &token_hash_line(&b)),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(auth.authenticate(&bearer(&a)).unwrap().tenant, "a");
        assert_eq!(auth.authenticate(&bearer(&b)).unwrap().tenant, "b");
        assert_eq!(
            auth.authenticate(&HeaderMap::new()).unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            auth.authenticate(&bearer("bat_nope")).unwrap_err(),
            AuthError::Invalid
        );
        let mut basic = HeaderMap::new();
        basic.insert(
            http::header::AUTHORIZATION,
            "Basic Zm9vOmJhcg==".parse().unwrap(),
        );
        assert_eq!(auth.authenticate(&basic).unwrap_err(), AuthError::Invalid);
        assert!(!format!("{auth:?}").contains(&token_hash_line(&a)[7..]));
    }

    #[test]
    fn no_tokens_means_no_authenticator_and_bad_hashes_fail() {
        assert!(
            TokenAuthenticator::from_tenants(&BTreeMap::new())
                .unwrap()
                .is_none()
        );
        assert!(TokenAuthenticator::from_tenants(&tenants(&[("a", "sha256:abc")])).is_err());
        let line = token_hash_line("bat_x");
        assert!(TokenAuthenticator::from_tenants(&tenants(&[("a", &line), ("b", &line)])).is_err());
    }
}
