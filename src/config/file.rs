//! The `bitatlas.toml` file: plain data, deserialised and schema-described.
//!
//! Secrets never appear inline: the file names environment variables or files that hold them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Server-wide settings.
    #[serde(default)]
    pub server: ServerSection,
    /// Named residency policies. `eea` (all EEA countries) always exists.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyConfig>,
    /// Named stores: where sealed objects live.
    #[serde(default)]
    pub stores: BTreeMap<String, StoreConfig>,
    /// Named tenants: who owns objects, which store and policy they use.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Streamable HTTP transport settings.
    #[serde(default)]
    pub http: HttpSection,
    /// Where the audit trail goes.
    #[serde(default)]
    pub audit: AuditSection,
    /// Local files that `put {path}` may read and `get {save_to}` may write.
    #[serde(default)]
    pub files: FilesSection,
    /// The synthetic probe: a put, list, get and delete round trip on every store.
    #[serde(default)]
    pub probe: ProbeSection,
    /// OAuth 2.1 access tokens from authorization servers (the HTTP transport as a resource
    /// server, beside the tenants' static tokens).
    #[serde(default)]
    pub oauth: OAuthSection,
}

/// `[oauth]`: which authorization servers' access tokens are accepted, for which resource,
/// and what their scopes allow.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthSection {
    /// The accepted issuers; empty: OAuth is off.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Scope name -> the tools it allows (default: `read` = get, list, search, versions;
    /// `write` = put, restore, transfer; `delete` = delete; `presign` = presign).
    #[serde(default)]
    pub scopes: BTreeMap<String, Vec<String>>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 30, at most 300).
    pub leeway_secs: Option<u64>,
    /// The canonical URL of this server's MCP endpoint (RFC 8707/9728 resource), e.g.
    /// `https://mcp.example.eu/mcp` (default: the first issuer's `audience`).
    pub resource: Option<String>,
}

/// One accepted authorization server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer identifier, exactly as its tokens' `iss` (https, or http on loopback).
    pub issuer: String,
    /// The audience its tokens must carry for this server: this resource's URL.
    pub audience: String,
    /// The claim whose value names the tenant (default `tenant`).
    pub tenant_claim: Option<String>,
    /// Claim value -> tenant, when the claim's values are not tenant names themselves; a
    /// value not in the map is refused.
    #[serde(default)]
    pub tenants: BTreeMap<String, String>,
    /// The JWKS URL, when the issuer publishes no RFC 8414 / OpenID metadata.
    pub jwks_uri: Option<String>,
    /// Accepted signature algorithms (default RS256, PS256, ES256, EdDSA; never `none` or
    /// an HMAC).
    pub algorithms: Option<Vec<String>>,
}

/// `[probe]`: the periodic synthetic round trip of `serve --http` (and the limits of
/// `bitatlas probe`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Seconds between round trips on every configured store while serving HTTP (default
    /// 300); 0 turns the periodic probe off. Results go to `/metrics`
    /// (`bitatlas_probe_success`, `bitatlas_probe_duration_seconds`) and `/readyz`.
    #[serde(default = "default_probe_interval_secs")]
    pub interval_secs: u64,
    /// Longest wait for each step of a round trip, in seconds (default 10).
    #[serde(default = "default_probe_timeout_secs")]
    pub timeout_secs: u64,
    /// Consecutive failed round trips of one store after which `/readyz` answers 503
    /// (default 2; one failure can be a blip).
    #[serde(default = "default_probe_unready_after")]
    pub unready_after: u32,
}

fn default_probe_interval_secs() -> u64 {
    300
}
fn default_probe_timeout_secs() -> u64 {
    10
}
fn default_probe_unready_after() -> u32 {
    2
}

impl Default for ProbeSection {
    fn default() -> Self {
        Self {
            interval_secs: default_probe_interval_secs(),
            timeout_secs: default_probe_timeout_secs(),
            unready_after: default_probe_unready_after(),
        }
    }
}

/// `[files]`: the directories local files may be read from and saved to.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    /// Absolute paths of existing directories. `put {key, path}` reads and `get {key,
    /// save_to}` writes only inside them (symbolic links that lead out are refused); a
    /// relative `path` or `save_to` resolves against the first root. Empty or absent: local
    /// files are off.
    /// `bitatlas serve --files-root DIR` adds to this list.
    #[serde(default)]
    pub roots: Vec<PathBuf>,
}

/// `[audit]`: the audit sink.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// Name of a configured store (admitted by the residency guard like any other) to hold the
    /// trail as segment objects under `audit/<chain>/`. Default: the file
    /// `<data_dir>/audit/audit.jsonl`.
    pub store: Option<String>,
    /// Serve `get`/`list`/`search` even when their audit record cannot be written (default
    /// false: reads fail closed too). Writes, deletes and presigns always fail closed.
    #[serde(default)]
    pub reads_fail_open: bool,
}

/// `[http]`: limits and host checks of the streamable HTTP transport.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Requests of one tenant processed at the same time; more get 429 (default 32).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_per_tenant: u32,
    /// Sustained requests per second allowed per tenant (token bucket refill, default 50).
    #[serde(default = "default_rate_per_second")]
    pub rate_per_second: f64,
    /// Requests per tenant allowed in a burst above the sustained rate (bucket size, default 100).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Seconds a request may take before the server answers 504 (default 60).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Client connections open at once (default 1024). At the cap new connections wait in
    /// the kernel's accept queue until one closes. The open-file limit is raised to hold them
    /// plus 256 descriptors for files and stores where the hard limit allows; where it does
    /// not, fewer are served and a warning says so.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Seconds a client has to send a request's complete header, counted from when the
    /// server starts waiting for it (default 20). The same deadline closes a keep-alive
    /// connection that stays idle between requests. Clients that trickle their header, or
    /// connect and send nothing, are disconnected when it passes.
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Sessions (protocol 2025-11-25) one tenant may hold at once (default 64). A new one
    /// beyond it closes the tenant's least recently used session that has no request
    /// running; when all are busy, the `initialize` is refused with 429 `SESSION_LIMIT`.
    #[serde(default = "default_max_sessions_per_tenant")]
    pub max_sessions_per_tenant: u32,
    /// Seconds without a request after which a session expires and its memory is freed;
    /// presenting it afterwards answers 404 (default 600, at least `request_timeout_secs`).
    #[serde(default = "default_session_idle_secs")]
    pub session_idle_secs: u64,
    /// Seconds a shutdown waits for running requests (and transfers) before it closes their
    /// connections (default `request_timeout_secs` + 10). An upload cut this way stores
    /// nothing.
    #[serde(default)]
    pub shutdown_grace_secs: Option<u64>,
    /// Values of the `Host` header accepted (`name` or `name:port`), in addition to
    /// `--allowed-host`. Required when binding a non-loopback address; loopback names are
    /// always accepted on a loopback bind.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the endpoint, in addition to `--allow-origin`
    /// (e.g. `https://app.example.com`). Requests without `Origin` always pass.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The URL clients reach this server at (`https://mcp.example.eu`, optionally with a path
    /// prefix a reverse proxy adds), used in transfer links. Without it, links point at the
    /// bound address on a loopback bind and `transfer` is unavailable on any other.
    #[serde(default)]
    pub public_url: Option<String>,
}

fn default_max_in_flight() -> u32 {
    32
}
fn default_rate_per_second() -> f64 {
    50.0
}
fn default_burst() -> u32 {
    100
}
fn default_request_timeout_secs() -> u64 {
    60
}
fn default_max_connections() -> u32 {
    1024
}
fn default_header_read_timeout_secs() -> u64 {
    20
}
fn default_max_sessions_per_tenant() -> u32 {
    64
}
fn default_session_idle_secs() -> u64 {
    600
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            max_in_flight_per_tenant: default_max_in_flight(),
            rate_per_second: default_rate_per_second(),
            burst: default_burst(),
            request_timeout_secs: default_request_timeout_secs(),
            max_connections: default_max_connections(),
            header_read_timeout_secs: default_header_read_timeout_secs(),
            max_sessions_per_tenant: default_max_sessions_per_tenant(),
            session_idle_secs: default_session_idle_secs(),
            shutdown_grace_secs: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            public_url: None,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Directory for the default local store, keyring and audit file.
    pub data_dir: Option<PathBuf>,
    /// Name of this instance's audit chain (default: the host name). Give each instance that
    /// shares an audit store its own name.
    pub instance: Option<String>,
    /// Tenant served over stdio (default: the only tenant, or `default`).
    pub stdio_tenant: Option<String>,
    /// Largest inline payload accepted by `put` / returned by `get`, in bytes (default 8 MiB).
    pub max_inline_bytes: Option<u64>,
    /// How stale the object index may get, in milliseconds, before `list`/`search` re-read
    /// the store to pick up objects written by other instances (default 5000).
    pub index_max_age_ms: Option<u64>,
    /// Country attested for the zero-config local store (default `DE`; must be in the EEA).
    pub local_country: Option<String>,
    /// Seconds between the background checks (a HEAD of one name) that every tenant's home
    /// store still answers; over HTTP, `/readyz` answers 503 while the last check of one
    /// failed (default 5, at least 1). A store that stops answering is seen within two
    /// intervals.
    pub store_check_secs: Option<u64>,
    /// Serve only `get`, `list`, `search` and the GET forms of `presign` and `transfer`, for
    /// every tenant (as `serve --read-only`).
    #[serde(default)]
    pub read_only: bool,
    /// The only tools served, for every tenant, by name (as `serve --tools get,list`).
    pub tools: Option<Vec<String>>,
    /// The undo window: overwritten and deleted objects stay restorable (tools `versions` and
    /// `restore`) for this many days, sealed like any object in the tenant's own store
    /// (default 0: off; at most 3650). Kept versions are personal data too: an erasure must
    /// purge them (`delete` with `purge`), and they cost storage.
    pub keep_versions_days: Option<u32>,
    /// How long a tenant's keyring, once loaded from its key provider (keyring file or
    /// Transit), is kept in memory before it is loaded again (default 60, at most 3600; 0:
    /// every call loads it). When the provider cannot be reached after that, calls that
    /// seal or open fail with `KEY_UNAVAILABLE`.
    pub key_cache_ttl_secs: Option<u64>,
}

/// `[policies.NAME]`: which countries may hold P0/P1 data.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// ISO 3166-1 alpha-2 codes allowed; empty or absent means the whole EEA.
    /// Every code must itself be in the EEA unless `allow_adequacy` is set.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Region ids refused even when their country is allowed, as `provider:region`.
    #[serde(default)]
    pub deny_regions: Vec<String>,
    /// Refuse providers whose owner is not under EU/EEA jurisdiction (CLOUD Act concern).
    #[serde(default)]
    pub sovereign: bool,
    /// Also allow countries with an EU adequacy decision (CH, GB, ...). Off by default; logged loudly.
    #[serde(default)]
    pub allow_adequacy: bool,
    /// Allow `presign` with method PUT for tenants under this policy.
    #[serde(default)]
    pub allow_presign_put: bool,
    /// Destructive calls that ask the person first, through the MCP client (elicitation):
    /// `"delete"` (deleting an object that exists) and `"overwrite"` (a `put` over one). A
    /// client that cannot ask gets `CONFIRMATION_REQUIRED` and nothing happens.
    #[serde(default)]
    pub confirm: Vec<String>,
}

/// `[stores.NAME]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Catalog provider id: `local`, `memory`, `scaleway`, `ovh`, `hetzner`, `exoscale`, `ionos`,
    /// `aws`, `cloudflare-r2`, `garage`, `minio`.
    pub provider: String,
    /// Provider region id as in the catalog (e.g. `fr-par`, `eu-central-1`); for self-hosted
    /// stores, the S3 region the server answers with.
    #[serde(default)]
    pub region: Option<String>,
    /// S3 endpoint URL. Must match the catalog exactly for public providers.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Bucket name (S3 stores).
    #[serde(default)]
    pub bucket: Option<String>,
    /// Directory (local stores).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Country the operator attests for self-hosted and local stores (ISO alpha-2).
    #[serde(default)]
    pub country: Option<String>,
    /// Residency policy applied to this store (default `eea`).
    #[serde(default)]
    pub policy: Option<String>,
    /// Where the S3 credentials come from.
    #[serde(default)]
    pub credentials: Option<CredentialsConfig>,
    /// S3 stores: longest time for one request, answer body included (default 30).
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
    /// S3 stores: longest time to open a connection (default 5).
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// S3 stores: further tries of a request that timed out or failed on the server's side
    /// (default 4, at most 10).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// S3 stores: no further try of a request starts this long after its first (default 60).
    #[serde(default)]
    pub retry_timeout_secs: Option<u64>,
    /// Writes a crash left unfinished (S3 multipart uploads under BitAtlas's names, local
    /// staging files) that were started this long before start-up are aborted or removed at
    /// start-up, in the background (default 86400, one day; 0 turns the clean-up off).
    #[serde(default)]
    pub stale_upload_secs: Option<u64>,
}

/// Credentials are read from the environment or from files, never written in the config.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    /// Environment variable holding the access key id.
    pub access_key_id_env: Option<String>,
    /// Environment variable holding the secret access key.
    pub secret_access_key_env: Option<String>,
    /// File holding the access key id.
    pub access_key_id_file: Option<PathBuf>,
    /// File holding the secret access key.
    pub secret_access_key_file: Option<PathBuf>,
}

/// `[tenants.NAME]`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Home store of the tenant.
    pub store: String,
    /// Residency policy of the tenant (default `eea`); the store must satisfy it too.
    #[serde(default)]
    pub policy: Option<String>,
    /// Keyring file of the tenant (default `<data_dir>/keys/<tenant>.keyring`).
    #[serde(default)]
    pub keyring: Option<PathBuf>,
    /// Environment variable holding the tenant's keyring document instead of a file.
    #[serde(default)]
    pub keyring_env: Option<String>,
    /// Bearer tokens of the tenant for the HTTP transport, as hashes only
    /// (`sha256:<64 hex digits>`, printed by `bitatlas tokens create`). The tokens themselves
    /// are never stored. When no tenant has a token, HTTP serves the stdio tenant on loopback.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// The only tools this tenant may call, by name (default: all the server serves). Meets
    /// the server's `tools` and `read_only`: a tool must pass both.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Where the tenant's keys are kept (default: the keyring file). With `kind =
    /// "transit"`, the keyring file holds the keyring only as OpenBao / Vault Transit
    /// ciphertext, unwrapped into memory for at most `[server] key_cache_ttl_secs`.
    #[serde(default)]
    pub key_provider: Option<KeyProviderConfig>,
    /// Stores holding a copy of everything the tenant has, beside `store`. Each is admitted
    /// by the residency guard and the tenant's policy like the home store; a write is
    /// acknowledged once every copy holds it, reads fail over to them in this order when the
    /// home store is unavailable (`docs/residency.md`, replicas).
    #[serde(default)]
    pub replicas: Vec<String>,
}

/// `key_provider = { kind = "transit", address, token_env, key }` of a tenant.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyProviderConfig {
    /// `keyring` (the keyring file, the default) or `transit` (OpenBao / Vault Transit).
    pub kind: String,
    /// Transit: the server's base URL, `https://` (plain `http://` only on a loopback
    /// address, for a local dev server).
    #[serde(default)]
    pub address: Option<String>,
    /// Transit: the environment variable holding the token (never the token itself). Give
    /// either this or the AppRole pair below.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Transit with AppRole login: the environment variable holding the role id.
    #[serde(default)]
    pub role_id_env: Option<String>,
    /// Transit with AppRole login: the environment variable holding the secret id.
    #[serde(default)]
    pub secret_id_env: Option<String>,
    /// Transit with AppRole login: the auth method's mount path (default `approle`).
    #[serde(default)]
    pub approle_mount: Option<String>,
    /// Transit: the name of the Transit key that wraps this tenant's keyring. One key per
    /// tenant: crypto-shredding a tenant deletes it.
    #[serde(default)]
    pub key: Option<String>,
    /// Transit: the mount path of the secrets engine (default `transit`).
    #[serde(default)]
    pub mount: Option<String>,
    /// Transit: a PEM file of CA certificates to trust for `address` (default: the system's
    /// web PKI roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}
