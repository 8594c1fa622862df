//! The HTTP transport as an OAuth 2.1 resource server (MCP authorization, RFC 9728 / 9068 /
//! 8707): access tokens are JWTs from configured issuers, verified with the issuer's JWKS
//! ([`keys`]) for exactly this resource, then mapped to a tenant (a claim) and to the tools
//! their scopes allow. Protected Resource Metadata ([`metadata`]) tells clients where to get
//! one.
//!
//! What is refused, each as `invalid_token` unless said otherwise: a token that is not a JWT
//! access token (`typ` other than `at+jwt`), an issuer not configured (compared exactly), an
//! algorithm outside the issuer's allowlist (never `none`, never an HMAC: a public key is never
//! used as a shared secret), a key id the issuer's JWKS does not hold (after one refetch), an
//! audience other than this resource (no token passthrough), `exp`/`nbf` outside the leeway,
//! no `sub`. A valid token whose tenant claim names no configured tenant is forbidden (403).

mod cache;
pub mod gate;
pub mod keys;
pub mod metadata;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use url::Url;

use crate::config::OAuthSection;
use crate::service::{Caller, Tool, ToolSet};

use super::auth::AuthError;
use keys::{IssuerKeys, KeyError};

/// Default clock skew allowed on `exp` and `nbf`.
const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Largest leeway a configuration may ask for.
const MAX_LEEWAY_SECS: u64 = 300;
/// Longest token accepted, in bytes (well above any real access token).
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The claim naming the tenant unless configured otherwise.
const DEFAULT_TENANT_CLAIM: &str = "tenant";

/// The default scopes: what each lets a token call.
fn default_scopes() -> BTreeMap<String, Vec<Tool>> {
    BTreeMap::from([
        (
            "read".to_owned(),
            vec![
                Tool::Get,
                Tool::List,
                Tool::Search,
                Tool::Locate,
                Tool::Versions,
            ],
        ),
        (
            "write".to_owned(),
            vec![Tool::Put, Tool::Restore, Tool::Transfer],
        ),
        ("delete".to_owned(), vec![Tool::Delete]),
        ("presign".to_owned(), vec![Tool::Presign]),
    ])
}

/// The configured issuers, scopes and resource.
pub struct OAuth {
    issuers: Vec<Issuer>,
    scopes: BTreeMap<String, Vec<Tool>>,
    leeway: u64,
    resource: Url,
    verified: cache::Verified,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field(
                "issuers",
                &self.issuers.iter().map(|i| &i.issuer).collect::<Vec<_>>(),
            )
            .field("resource", &self.resource.as_str())
            .finish_non_exhaustive()
    }
}

struct Issuer {
    issuer: String,
    audience: String,
    tenant_claim: String,
    tenants: BTreeMap<String, String>,
    algorithms: Vec<Algorithm>,
    keys: IssuerKeys,
}

impl OAuth {
    /// `[oauth]` checked against the configured tenants; `Ok(None)` when no issuer is set.
    pub fn from_config(
        section: &OAuthSection,
        tenants: &BTreeSet<String>,
    ) -> Result<Option<Arc<Self>>, String> {
        if section.issuers.is_empty() {
            return Ok(None);
        }
        let leeway = section.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
        if leeway > MAX_LEEWAY_SECS {
            return Err(format!(
                "[oauth] leeway_secs = {leeway} is above the most allowed, {MAX_LEEWAY_SECS}"
            ));
        }
        let mut issuers = Vec::new();
        for (i, c) in section.issuers.iter().enumerate() {
            let at = |what: &str| format!("[oauth] issuers[{i}]: {what}");
            let url = Url::parse(&c.issuer).map_err(|e| at(&format!("issuer: {e}")))?;
            keys::check_fetchable(&url).map_err(|e| at(&format!("issuer: {e}")))?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err(at("issuer must have no query or fragment (RFC 8414)"));
            }
            Url::parse(&c.audience).map_err(|e| at(&format!("audience: {e}")))?;
            let jwks_uri = match &c.jwks_uri {
                None => None,
                Some(u) => {
                    let u = Url::parse(u).map_err(|e| at(&format!("jwks_uri: {e}")))?;
                    keys::check_fetchable(&u).map_err(|e| at(&format!("jwks_uri: {e}")))?;
                    Some(u)
                }
            };
            for (value, tenant) in &c.tenants {
                if !tenants.contains(tenant) {
                    return Err(at(&format!(
                        "tenants: {value:?} maps to {tenant:?}, which is not a configured tenant"
                    )));
                }
            }
            let algorithms = match &c.algorithms {
                None => vec![
                    Algorithm::RS256,
                    Algorithm::PS256,
                    Algorithm::ES256,
                    Algorithm::EdDSA,
                ],
                Some(names) => names
                    .iter()
                    .map(|n| signature_algorithm(n).ok_or_else(|| at(&format!("algorithms: {n:?} is not an accepted signature algorithm (RS256/384/512, PS256/384/512, ES256/384, EdDSA)"))))
                    .collect::<Result<_, _>>()?,
            };
            issuers.push(Issuer {
                issuer: c.issuer.clone(),
                audience: c.audience.clone(),
                tenant_claim: c
                    .tenant_claim
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TENANT_CLAIM.to_owned()),
                tenants: c.tenants.clone(),
                algorithms,
                keys: IssuerKeys::new(&c.issuer, jwks_uri).map_err(|e| at(&e))?,
            });
        }
        let scopes = if section.scopes.is_empty() {
            default_scopes()
        } else {
            section
                .scopes
                .iter()
                .map(|(name, tools)| {
                    ToolSet::parse_names(tools)
                        .map(|t| (name.clone(), t))
                        .map_err(|e| format!("[oauth.scopes] {name}: {e}"))
                })
                .collect::<Result<_, _>>()?
        };
        let resource = section
            .resource
            .clone()
            .unwrap_or_else(|| section.issuers[0].audience.clone());
        let resource = Url::parse(&resource).map_err(|e| format!("[oauth] resource: {e}"))?;
        Ok(Some(Arc::new(Self {
            issuers,
            scopes,
            leeway,
            resource,
            verified: cache::Verified::default(),
        })))
    }

    /// This server's resource identifier (its `/mcp` URL).
    pub fn resource(&self) -> &Url {
        &self.resource
    }

    /// The issuers, as Protected Resource Metadata lists them.
    pub fn issuer_ids(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(|i| i.issuer.as_str())
    }

    /// The scope names.
    pub fn scope_names(&self) -> impl Iterator<Item = &str> {
        self.scopes.keys().map(String::as_str)
    }

    /// A scope that allows `tool`, for a step-up challenge.
    pub fn scope_for(&self, tool: Tool) -> Option<&str> {
        self.scopes
            .iter()
            .find(|(_, tools)| tools.contains(&tool))
            .map(|(name, _)| name.as_str())
    }

    /// Verifies `token` and returns who it speaks for.
    pub async fn authenticate(
        &self,
        token: &str,
        is_tenant: impl Fn(&str) -> bool,
    ) -> Result<Caller, AuthError> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(AuthError::Invalid);
        }
        if let Some(caller) = self.verified.get(token) {
            return Ok(caller);
        }
        // `alg: none` and unknown algorithms fail here: the header does not parse.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let typ = header.typ.as_deref().map(str::to_ascii_lowercase);
        if !matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
            return Err(AuthError::Invalid);
        }
        let issuer = self.issuer_of(token)?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid);
        }
        let key = match issuer.keys.key(header.kid.as_deref()).await {
            Ok(key) => key,
            Err(KeyError::UnknownKid) => return Err(AuthError::Invalid),
            Err(e @ KeyError::Unavailable(_)) => {
                tracing::warn!(issuer = %issuer.issuer, error = %e, "cannot check an access token");
                return Err(AuthError::Invalid);
            }
        };
        if key.alg.is_some_and(|alg| alg != header.alg) {
            return Err(AuthError::Invalid);
        }
        let mut v = Validation::new(header.alg);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_issuer(&[&issuer.issuer]);
        v.set_audience(&[&issuer.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Value>(token, &key.decoding, &v)
            .map_err(|_| AuthError::Invalid)?
            .claims;
        let value = claims
            .get(&issuer.tenant_claim)
            .and_then(Value::as_str)
            .ok_or(AuthError::Forbidden)?;
        let tenant = if issuer.tenants.is_empty() {
            value
        } else {
            issuer.tenants.get(value).ok_or(AuthError::Forbidden)?
        };
        if !is_tenant(tenant) {
            return Err(AuthError::Forbidden);
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or(AuthError::Invalid)?;
        let caller = Caller {
            tenant: tenant.to_owned(),
            subject: Some(format!("{}\0{sub}", issuer.issuer)),
            granted: Some(self.granted(&claims).into()),
        };
        // `exp` was checked; the token is trusted again without a check until it expires.
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let left = exp.saturating_sub(jsonwebtoken::get_current_timestamp());
        self.verified
            .put(token, &caller, std::time::Duration::from_secs(left));
        Ok(caller)
    }

    /// The configured issuer named by the token's (not yet verified) `iss`.
    fn issuer_of(&self, token: &str) -> Result<&Issuer, AuthError> {
        let payload = token.split('.').nth(1).ok_or(AuthError::Invalid)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthError::Invalid)?;
        let claims: Value = serde_json::from_slice(&bytes).map_err(|_| AuthError::Invalid)?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(AuthError::Invalid)?;
        self.issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or(AuthError::Invalid)
    }

    /// The tools the token's scopes (`scope`, space-separated, or `scp`, a list) allow.
    fn granted(&self, claims: &Value) -> Vec<Tool> {
        let names: Vec<&str> = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => s.split_ascii_whitespace().collect(),
            (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut tools: Vec<Tool> = Vec::new();
        for name in names {
            for t in self.scopes.get(name).into_iter().flatten() {
                if !tools.contains(t) {
                    tools.push(*t);
                }
            }
        }
        tools
    }
}

fn signature_algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}
