//! An issuer's signing keys: found through its RFC 8414 (or OpenID) metadata, fetched as a
//! JWKS, cached, and fetched again when a token names a key id the cache does not hold (at
//! most once per [`REFETCH_AFTER`], so that tokens with made-up key ids cannot make the server
//! hammer the issuer).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;
use url::Url;

/// Shortest time between two fetches of one issuer's keys.
pub const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again at the next token (rotation without a new kid).
const MAX_AGE: Duration = Duration::from_secs(3600);
/// Longest wait for metadata or keys.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest metadata or JWKS document accepted.
const MAX_DOCUMENT: usize = 256 * 1024;

/// A verification key and the algorithm it was published for (if the JWK names one).
#[derive(Clone)]
pub struct Key {
    /// The key, ready to verify.
    pub decoding: DecodingKey,
    /// The algorithm the JWK was published for, when it names one.
    pub alg: Option<Algorithm>,
}

/// Why no key could be found for a token; never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The issuer (or its JWKS) could not be reached or answered nonsense.
    #[error("issuer keys unavailable: {0}")]
    Unavailable(String),
    /// The keys were fetched and none has this id.
    #[error("no signing key with this id")]
    UnknownKid,
}

/// The cached keys of one issuer.
pub struct IssuerKeys {
    issuer: String,
    jwks_uri: Option<Url>,
    http: reqwest::Client,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Key>,
    /// Keys without a `kid` (a JWKS of one key may leave it out).
    anonymous: Vec<Key>,
    fetched: Option<Instant>,
    jwks_uri: Option<Url>,
}

impl IssuerKeys {
    /// The keys of `issuer`, from `jwks_uri` when given, else from its metadata.
    pub fn new(issuer: &str, jwks_uri: Option<Url>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            issuer: issuer.to_owned(),
            jwks_uri,
            http,
            state: Mutex::new(State::default()),
        })
    }

    /// The key for `kid` (or the only key, when the token names none).
    pub async fn key(&self, kid: Option<&str>) -> Result<Key, KeyError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched.is_none_or(|t| t.elapsed() > MAX_AGE);
        if !stale && let Some(key) = find(&state, kid) {
            return Ok(key);
        }
        if state.fetched.is_some_and(|t| t.elapsed() < REFETCH_AFTER) {
            return find(&state, kid).ok_or(KeyError::UnknownKid);
        }
        self.fetch(&mut state).await?;
        find(&state, kid).ok_or(KeyError::UnknownKid)
    }

    async fn fetch(&self, state: &mut State) -> Result<(), KeyError> {
        // A failed fetch also counts, so an unreachable issuer is not asked at every token.
        state.fetched = Some(Instant::now());
        let jwks_uri = match (&self.jwks_uri, &state.jwks_uri) {
            (Some(u), _) | (None, Some(u)) => u.clone(),
            (None, None) => {
                let u = self.discover().await?;
                state.jwks_uri = Some(u.clone());
                u
            }
        };
        let set: JwkSet = self.get_json(&jwks_uri).await?;
        let mut keys = HashMap::new();
        let mut anonymous = Vec::new();
        for jwk in &set.keys {
            let Some(key) = usable(jwk) else { continue };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.insert(kid.clone(), key);
                }
                None => anonymous.push(key),
            }
        }
        state.keys = keys;
        state.anonymous = anonymous;
        Ok(())
    }

    /// The JWKS URL from the issuer's metadata: RFC 8414 first, then OpenID Connect
    /// discovery; the document must name this very issuer (mix-up defence).
    async fn discover(&self) -> Result<Url, KeyError> {
        let issuer = Url::parse(&self.issuer).map_err(|e| KeyError::Unavailable(e.to_string()))?;
        let mut last = String::new();
        for url in metadata_urls(&issuer) {
            match self.get_json::<serde_json::Value>(&url).await {
                Ok(doc) => {
                    if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
                        return Err(KeyError::Unavailable(format!(
                            "the metadata at {url} names another issuer"
                        )));
                    }
                    let jwks = doc
                        .get("jwks_uri")
                        .and_then(|v| v.as_str())
                        .ok_or_else(|| KeyError::Unavailable("metadata without jwks_uri".into()))?;
                    let jwks =
                        Url::parse(jwks).map_err(|e| KeyError::Unavailable(e.to_string()))?;
                    check_fetchable(&jwks).map_err(KeyError::Unavailable)?;
                    return Ok(jwks);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(KeyError::Unavailable(last))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, KeyError> {
        let unavailable = |e: String| KeyError::Unavailable(format!("{url}: {e}"));
        let resp = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("HTTP {}", resp.status())));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(unavailable("document too large".into()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if body.len() > MAX_DOCUMENT {
            return Err(unavailable("document too large".into()));
        }
        serde_json::from_slice(&body).map_err(|e| unavailable(e.to_string()))
    }
}

fn find(state: &State, kid: Option<&str>) -> Option<Key> {
    match kid {
        Some(kid) => state.keys.get(kid).cloned(),
        None if state.keys.len() + state.anonymous.len() == 1 => state
            .anonymous
            .first()
            .or_else(|| state.keys.values().next())
            .cloned(),
        None => None,
    }
}

/// A JWK that may verify signatures: public, for signing, of an asymmetric type.
fn usable(jwk: &Jwk) -> Option<Key> {
    use jsonwebtoken::jwk::{AlgorithmParameters, KeyAlgorithm, PublicKeyUse};
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    // A symmetric key in a JWKS is never trusted: it would let anyone who knows it mint tokens.
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(match a {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            // Encryption keys and HMACs are not signing keys of an issuer.
            _ => return None,
        }),
    };
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { decoding, alg })
}

/// RFC 8414 §3.1 (the well-known path inserted before the issuer's path), then OpenID
/// Connect Discovery (appended).
fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut out = Vec::new();
    let mut rfc = issuer.clone();
    rfc.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    out.push(rfc);
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    out.push(oidc);
    out
}

/// Keys are fetched over https only, except from a loopback address (a local test issuer).
pub fn check_fetchable(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(format!(
            "{url} is not https (http is allowed on loopback only)"
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_up_where_the_rfcs_say() {
        let u = |s: &str| Url::parse(s).unwrap();
        let got: Vec<String> = metadata_urls(&u("https://auth.example.eu/realms/eu"))
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            got,
            [
                "https://auth.example.eu/.well-known/oauth-authorization-server/realms/eu",
                "https://auth.example.eu/realms/eu/.well-known/openid-configuration",
            ]
        );
        let root: Vec<String> = metadata_urls(&u("https://auth.example.eu"))
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            root[0],
            "https://auth.example.eu/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn keys_come_over_https_or_from_loopback_only() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(check_fetchable(&u("https://auth.example.eu/jwks")).is_ok());
        assert!(check_fetchable(&u("http://127.0.0.1:9000/jwks")).is_ok());
        assert!(check_fetchable(&u("http://localhost:9000/jwks")).is_ok());
        assert!(check_fetchable(&u("http://auth.example.eu/jwks")).is_err());
        assert!(check_fetchable(&u("file:///etc/passwd")).is_err());
    }
}
