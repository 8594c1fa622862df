//! OpenBao / Vault Transit as a tenant's key provider.
//!
//! The tenant's keyring (KEKs and naming key, `docs/keyring.md`) is kept in its keyring file
//! only as Transit ciphertext: `{"format": "bitatlas-keyring-transit/1", "key": NAME,
//! "ciphertext": "vault:vN:..."}`. Loading it is one `transit/decrypt` call; the plaintext
//! keyring then lives in memory for at most the key cache TTL. The associated data binds the
//! ciphertext to the tenant, so a wrapped keyring copied to another tenant sharing the Transit
//! key does not open. Erasing the tenant (`erase --all`) deletes the Transit key: every copy of
//! the wrapped keyring, and so every object, becomes unreadable.
//!
//! The token is read from the environment once, kept in a zeroizing string, sent only in the
//! `X-Vault-Token` header and never logged. Errors carry the HTTP status and OpenBao's own
//! message (which names no secret).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::config::KeyProviderConfig;
use crate::crypto::keyring::write_private;
use crate::crypto::{CryptoError, KeyFuture, KeyProvider, Keyring, Loaded, ProviderInfo};

/// FROZEN. The `format` of a Transit-wrapped keyring file.
pub const WRAPPED_FORMAT: &str = "bitatlas-keyring-transit/1";
/// Every request to Transit ends within this time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The identity of a tenant's Transit key (address as a parsed URL, mount, key), so that two
/// tenants' configurations naming the same key in different spellings compare equal; `None`
/// when the provider is not Transit.
pub fn transit_identity(config: &KeyProviderConfig) -> Option<String> {
    if config.kind != "transit" {
        return None;
    }
    let url = url::Url::parse(config.address.as_deref()?).ok()?;
    let mount = config
        .mount
        .as_deref()
        .unwrap_or(super::defaults::DEFAULT_TRANSIT_MOUNT)
        .trim_matches('/');
    Some(format!(
        "{}|{mount}|{}",
        url.as_str().trim_end_matches('/'),
        config.key.as_deref()?
    ))
}

/// Whether another tenant of `config` uses `tenant`'s Transit key.
pub fn transit_key_shared(config: &crate::config::ConfigFile, tenant: &str) -> Option<String> {
    let mine = config
        .tenants
        .get(tenant)?
        .key_provider
        .as_ref()
        .and_then(transit_identity)?;
    config
        .tenants
        .iter()
        .find(|(id, t)| {
            id.as_str() != tenant
                && t.key_provider.as_ref().and_then(transit_identity).as_ref() == Some(&mine)
        })
        .map(|(id, _)| id.clone())
}

/// Why one Transit request failed.
enum Refused {
    /// 403: the token is not (or no longer) allowed; an AppRole login may fix it.
    Forbidden,
    /// Anything else.
    Other(CryptoError),
}

/// A Transit key wrapping one tenant's keyring file.
pub struct TransitProvider {
    client: reqwest::Client,
    base: url::Url,
    mount: String,
    key: String,
    auth: Auth,
    /// The token in use: the configured one, or the last AppRole login's.
    token: std::sync::Mutex<Zeroizing<String>>,
    file: PathBuf,
    tenant: String,
}

/// How the provider gets its token.
enum Auth {
    /// A token given in the environment.
    Token,
    /// An AppRole login (role id and secret id from the environment), repeated when the
    /// token it gave is refused (expired, revoked).
    AppRole {
        mount: String,
        role_id: Zeroizing<String>,
        secret_id: Zeroizing<String>,
    },
}

fn token_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 4096 && s.bytes().all(|b| b.is_ascii_graphic())
}

fn unavailable(what: impl std::fmt::Display) -> CryptoError {
    CryptoError::KeyUnavailable(what.to_string())
}

/// A path segment of a Transit URL: the mount may have inner slashes, the key may not.
fn segment_ok(s: &str, slashes: bool) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') || (slashes && b == b'/')
        })
}

impl TransitProvider {
    /// From the tenant's `key_provider`; `file` is where the wrapped keyring is kept.
    /// Problems are described for the start-up error (never with the token).
    pub fn from_config(
        tenant: &str,
        config: &KeyProviderConfig,
        file: PathBuf,
    ) -> Result<Self, String> {
        Self::with_token(tenant, config, file, |var| std::env::var(var).ok())
    }

    /// [`TransitProvider::from_config`] with the environment given as `lookup`.
    fn with_token(
        tenant: &str,
        config: &KeyProviderConfig,
        file: PathBuf,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let address = config
            .address
            .as_deref()
            .ok_or("key_provider: transit needs `address`")?;
        let base = url::Url::parse(address)
            .map_err(|e| format!("key_provider.address {address:?}: {e}"))?;
        let loopback = match base.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        match base.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(format!(
                    "key_provider.address {address:?}: must be https:// (http:// only on a \
                     loopback address)"
                ));
            }
        }
        if !base.username().is_empty()
            || base.password().is_some()
            || base.query().is_some()
            || base.fragment().is_some()
            || base.path() != "/"
        {
            return Err(format!(
                "key_provider.address {address:?}: give the server's base URL only (no \
                 credentials, path, query or fragment)"
            ));
        }
        let key = config
            .key
            .clone()
            .ok_or("key_provider: transit needs `key`")?;
        if !segment_ok(&key, false) {
            return Err(format!(
                "key_provider.key {key:?}: 1 to 128 of A-Z a-z 0-9 - _ ."
            ));
        }
        let mount = config
            .mount
            .clone()
            .unwrap_or_else(|| super::defaults::DEFAULT_TRANSIT_MOUNT.to_owned());
        if !segment_ok(&mount, true) {
            return Err(format!("key_provider.mount {mount:?}: not a mount path"));
        }
        let secret = |field: &str, var: &str| -> Result<Zeroizing<String>, String> {
            let value = Zeroizing::new(
                lookup(var).ok_or_else(|| format!("key_provider.{field}: ${var} is not set"))?,
            );
            if !token_like(&value) {
                return Err(format!("key_provider.{field}: ${var} is not a credential"));
            }
            Ok(value)
        };
        let (auth, token) = match (
            config.token_env.as_deref(),
            config.role_id_env.as_deref(),
            config.secret_id_env.as_deref(),
        ) {
            (Some(var), None, None) => (Auth::Token, secret("token_env", var)?),
            (None, Some(role), Some(sec)) => {
                let mount = config
                    .approle_mount
                    .clone()
                    .unwrap_or_else(|| "approle".into());
                if !segment_ok(&mount, true) {
                    return Err(format!(
                        "key_provider.approle_mount {mount:?}: not a mount path"
                    ));
                }
                let auth = Auth::AppRole {
                    mount,
                    role_id: secret("role_id_env", role)?,
                    secret_id: secret("secret_id_env", sec)?,
                };
                (auth, Zeroizing::new(String::new()))
            }
            _ => {
                return Err(
                    "key_provider: transit needs `token_env`, or `role_id_env` and \
                     `secret_id_env` (AppRole), not both"
                        .into(),
                );
            }
        };
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("key_provider.ca_file {}: {e}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("key_provider.ca_file {}: {e}", ca.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("key_provider: cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            base,
            mount,
            key,
            auth,
            token: std::sync::Mutex::new(token),
            file,
            tenant: tenant.to_owned(),
        })
    }

    /// The associated data of the wrapped keyring: its format and the tenant.
    fn associated_data(&self) -> String {
        let mut ad = WRAPPED_FORMAT.as_bytes().to_vec();
        ad.extend_from_slice(&(self.tenant.len() as u32).to_be_bytes());
        ad.extend_from_slice(self.tenant.as_bytes());
        B64.encode(ad)
    }

    fn current_token(&self) -> Zeroizing<String> {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Logs in with AppRole and keeps the token it gives.
    async fn login(&self) -> Result<(), CryptoError> {
        let Auth::AppRole {
            mount,
            role_id,
            secret_id,
        } = &self.auth
        else {
            return Ok(());
        };
        let url = self
            .base
            .join(&format!("v1/auth/{mount}/login"))
            .map_err(unavailable)?;
        let body = json!({ "role_id": role_id.as_str(), "secret_id": secret_id.as_str() });
        let (status, value) = self.send(self.client.post(url).json(&body)).await?;
        let token = value["auth"]["client_token"]
            .as_str()
            .filter(|t| token_like(t));
        match token {
            Some(t) if status.is_success() => {
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Zeroizing::new(t.into());
                Ok(())
            }
            _ => Err(unavailable(format!(
                "AppRole login at {} answered {status}",
                self.base
            ))),
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Value), CryptoError> {
        let resp = req
            .send()
            .await
            .map_err(|e| unavailable(format!("Transit at {} unreachable: {e}", self.base)))?;
        let status = resp.status();
        let text = Zeroizing::new(resp.text().await.map_err(unavailable)?);
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, value))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CryptoError> {
        let approle = matches!(self.auth, Auth::AppRole { .. });
        if approle && self.current_token().is_empty() {
            self.login().await?;
        }
        let mut value = self.call_once(method.clone(), path, body.clone()).await;
        // An AppRole token that expired or was revoked: log in again, once.
        if approle && matches!(&value, Err(Refused::Forbidden)) {
            self.login().await?;
            value = self.call_once(method, path, body).await;
        }
        value.map_err(|e| match e {
            Refused::Forbidden => unavailable(format!(
                "Transit key {} answered 403 Forbidden: permission denied",
                self.key
            )),
            Refused::Other(e) => e,
        })
    }

    async fn call_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Refused> {
        let url = self
            .base
            .join(&format!("v1/{}/{path}", self.mount))
            .map_err(|e| Refused::Other(unavailable(e)))?;
        let token = self.current_token();
        let mut req = self
            .client
            .request(method, url)
            .header("X-Vault-Token", token.as_str());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, value) = self.send(req).await.map_err(Refused::Other)?;
        if status == reqwest::StatusCode::FORBIDDEN {
            return Err(Refused::Forbidden);
        }
        if !status.is_success() {
            let said = value["errors"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>();
            return Err(Refused::Other(unavailable(format!(
                "Transit key {} answered {status}: {said}",
                self.key
            ))));
        }
        Ok(value)
    }

    /// The key version of a Transit ciphertext (`vault:vN:...`).
    fn version_of(ciphertext: &str) -> Option<u64> {
        let rest = ciphertext.strip_prefix("vault:v")?;
        rest.split(':').next()?.parse().ok()
    }

    async fn wrap(&self, ring: &Keyring) -> Result<(String, Option<u64>), CryptoError> {
        let plain = Zeroizing::new(B64.encode(ring.to_json().as_bytes()));
        let body =
            json!({ "plaintext": plain.as_str(), "associated_data": self.associated_data() });
        let out = self
            .call(
                reqwest::Method::POST,
                &format!("encrypt/{}", self.key),
                Some(body),
            )
            .await?;
        let ct = out["data"]["ciphertext"]
            .as_str()
            .ok_or_else(|| unavailable("Transit encrypt answered no ciphertext"))?
            .to_owned();
        let version = Self::version_of(&ct);
        let doc = json!({ "format": WRAPPED_FORMAT, "key": self.key, "ciphertext": ct });
        Ok((doc.to_string() + "\n", version))
    }

    /// Wraps `ring` and writes it as a new file; refuses an existing one.
    pub async fn create(&self, ring: &Keyring) -> Result<Option<u64>, CryptoError> {
        let (doc, version) = self.wrap(ring).await?;
        write_private(&self.file, doc.as_bytes(), false)?;
        Ok(version)
    }
}

impl KeyProvider for TransitProvider {
    fn describe(&self) -> ProviderInfo {
        ProviderInfo {
            kind: "transit",
            location: format!(
                "{}/v1/{}/keys/{}",
                self.base.as_str().trim_end_matches('/'),
                self.mount,
                self.key
            ),
            version: None,
        }
    }

    fn load(&self) -> KeyFuture<'_, Loaded> {
        Box::pin(async move {
            let text = std::fs::read_to_string(&self.file).map_err(|e| {
                unavailable(format!("wrapped keyring {}: {e}", self.file.display()))
            })?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|_| unavailable("the wrapped keyring file is not a wrapped keyring"))?;
            if doc["format"] != WRAPPED_FORMAT || doc["key"] != self.key.as_str() {
                return Err(unavailable(format!(
                    "{} is not a keyring wrapped by Transit key {}",
                    self.file.display(),
                    self.key
                )));
            }
            let ct = doc["ciphertext"]
                .as_str()
                .ok_or_else(|| unavailable("the wrapped keyring has no ciphertext"))?;
            let body = json!({ "ciphertext": ct, "associated_data": self.associated_data() });
            let out = self
                .call(
                    reqwest::Method::POST,
                    &format!("decrypt/{}", self.key),
                    Some(body),
                )
                .await?;
            let plain = Zeroizing::new(
                out["data"]["plaintext"]
                    .as_str()
                    .and_then(|p| B64.decode(p).ok())
                    .ok_or_else(|| unavailable("Transit decrypt answered no plaintext"))?,
            );
            let text = std::str::from_utf8(&plain)
                .map_err(|_| unavailable("the unwrapped keyring is not UTF-8"))?;
            Ok(Loaded {
                ring: Keyring::from_json(text).map_err(unavailable)?,
                version: Self::version_of(ct),
            })
        })
    }

    fn save<'a>(&'a self, ring: &'a Keyring) -> KeyFuture<'a, Option<u64>> {
        Box::pin(async move {
            let (doc, version) = self.wrap(ring).await?;
            write_private(&self.file, doc.as_bytes(), true)?;
            Ok(version)
        })
    }

    fn rotate(&self) -> KeyFuture<'_, Option<u64>> {
        Box::pin(async move {
            let path = format!("keys/{}", self.key);
            self.call(reqwest::Method::POST, &format!("{path}/rotate"), None)
                .await?;
            let info = self.call(reqwest::Method::GET, &path, None).await?;
            Ok(info["data"]["latest_version"].as_u64())
        })
    }

    fn retire_below(&self, version: u64) -> KeyFuture<'_, ()> {
        Box::pin(async move {
            let body = json!({ "min_decryption_version": version });
            self.call(
                reqwest::Method::POST,
                &format!("keys/{}/config", self.key),
                Some(body),
            )
            .await
            .map(|_| ())
        })
    }

    fn destroy(&self) -> KeyFuture<'_, ()> {
        Box::pin(async move {
            let path = format!("keys/{}", self.key);
            self.call(
                reqwest::Method::POST,
                &format!("{path}/config"),
                Some(json!({ "deletion_allowed": true })),
            )
            .await?;
            self.call(reqwest::Method::DELETE, &path, None).await?;
            match std::fs::remove_file(&self.file) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(CryptoError::Io(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: &str, key: &str) -> KeyProviderConfig {
        KeyProviderConfig {
            kind: "transit".into(),
            address: Some(address.into()),
            token_env: Some("BITATLAS_TEST_TRANSIT_TOKEN".into()),
            key: Some(key.into()),
            ..Default::default()
        }
    }

    #[test]
    fn addresses_keys_and_tokens_are_checked() {
        let env = |var: &str| (var == "BITATLAS_TEST_TRANSIT_TOKEN").then(|| "s.dev-token".into());
        let file = PathBuf::from("/nonexistent/t.keyring");
        let ok =
            |a: &str, k: &str| TransitProvider::with_token("t", &config(a, k), file.clone(), env);
        assert!(ok("https://bao.example.eu:8200", "tenant-a").is_ok());
        assert!(ok("http://127.0.0.1:8200", "tenant-a").is_ok());
        assert!(ok("http://[::1]:8200", "tenant-a").is_ok());
        for bad in [
            "http://bao.example.eu:8200",
            "http://127.0.0.1.example.eu",
            "https://user:pw@bao.example.eu", // pragma: allowlist secret
            "https://bao.example.eu/v1/transit",
            "https://bao.example.eu/?x=1",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(ok(bad, "tenant-a").is_err(), "{bad}");
        }
        for bad in ["", "../sys", "a/b", "a b", "k%2f"] {
            assert!(ok("https://bao.example.eu", bad).is_err(), "{bad:?}");
        }
        let mut c = config("https://bao.example.eu", "k");
        c.token_env = Some("BITATLAS_TEST_TRANSIT_TOKEN_UNSET".into());
        let err = TransitProvider::with_token("t", &c, file.clone(), env)
            .err()
            .unwrap();
        assert!(err.contains("is not set"), "{err}");
        assert!(!err.contains("s.dev-token"));
        // A token and an AppRole at once, or half an AppRole: refused.
        let mut c = config("https://bao.example.eu", "k");
        c.role_id_env = Some("BITATLAS_TEST_TRANSIT_TOKEN".into());
        assert!(TransitProvider::with_token("t", &c, file.clone(), env).is_err());
        c.token_env = None;
        assert!(TransitProvider::with_token("t", &c, file.clone(), env).is_err());
        c.secret_id_env = Some("BITATLAS_TEST_TRANSIT_TOKEN".into());
        assert!(TransitProvider::with_token("t", &c, file.clone(), env).is_ok());
    }

    #[test]
    fn versions_come_from_the_ciphertext() {
        assert_eq!(TransitProvider::version_of("vault:v3:abc"), Some(3));
        assert_eq!(TransitProvider::version_of("vault:v12:abc"), Some(12));
        assert_eq!(TransitProvider::version_of("bao:v1:abc"), None);
        assert_eq!(TransitProvider::version_of("vault:vx:abc"), None);
    }
}
