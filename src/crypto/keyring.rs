//! The keyring: key-encryption keys (KEKs) with ids, plus the naming key.
//!
//! On disk a keyring is a small JSON document (see `docs/keyring.md`), written atomically
//! with mode 0600 and refused when group or others may access it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::aead::Algorithm;
use super::error::CryptoError;
use super::format::valid_kek_id;
use super::secret::{OsRandom, RandomSource, SecretKey};

/// FROZEN. The `format` field of a keyring document.
pub const KEYRING_FORMAT: &str = "bitatlas-keyring/1";

/// One key-encryption key.
#[derive(Clone)]
pub(crate) struct Kek {
    pub id: String,
    pub algorithm: Algorithm,
    pub created: DateTime<Utc>,
    pub key: SecretKey,
}

/// Public facts about one KEK: never its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyEntry {
    /// The id written in envelope headers.
    pub id: String,
    /// The AEAD envelopes sealed under this KEK use.
    pub algorithm: Algorithm,
    /// When the KEK was generated.
    pub created: DateTime<Utc>,
    /// Whether new envelopes are sealed under this KEK.
    pub primary: bool,
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A set of KEKs (one primary, older ones kept to open older envelopes) and the naming key.
///
/// `Debug` shows KEK ids only. Key bytes are zeroized when the keyring is dropped.
#[derive(Clone)]
pub struct Keyring {
    keks: Vec<Kek>,
    primary: usize,
    naming_key: SecretKey,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field(
                "keks",
                &self.keks.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .field("primary", &self.keks[self.primary].id)
            .field("naming_key", &"[redacted]")
            .finish()
    }
}

fn keyring_err(msg: impl Into<String>) -> CryptoError {
    CryptoError::Keyring(msg.into())
}

fn new_kek(algorithm: Algorithm, rng: &mut dyn RandomSource) -> Result<Kek, CryptoError> {
    let mut id_bytes = [0u8; 8];
    rng.fill(&mut id_bytes)?;
    Ok(Kek {
        id: format!("kek-{}", hex::encode(id_bytes)),
        algorithm,
        // Stored with one-second precision, so a loaded keyring equals the generated one.
        created: Utc::now().trunc_subsecs(0),
        key: SecretKey::random(rng)?,
    })
}

impl Keyring {
    /// A new in-memory keyring: one primary KEK of `algorithm` and a fresh naming key.
    ///
    /// # Panics
    /// If the operating system random number generator fails (use
    /// [`Keyring::generate_with_rng`] to handle that as an error).
    pub fn generate(algorithm: Algorithm) -> Keyring {
        Self::generate_with_rng(algorithm, &mut OsRandom)
            .expect("the operating system random number generator failed")
    }

    /// Like [`Keyring::generate`], drawing randomness from `rng`.
    pub fn generate_with_rng(
        algorithm: Algorithm,
        rng: &mut dyn RandomSource,
    ) -> Result<Keyring, CryptoError> {
        let kek = new_kek(algorithm, rng)?;
        Ok(Keyring {
            keks: vec![kek],
            primary: 0,
            naming_key: SecretKey::random(rng)?,
        })
    }

    /// Adds a new primary KEK with the same algorithm as the current primary. Older KEKs stay
    /// (they still open older envelopes); the naming key never changes.
    pub fn rotate(&mut self) -> Result<KeyEntry, CryptoError> {
        let alg = self.primary_algorithm();
        self.rotate_to(alg)
    }

    /// Adds a new primary KEK using `algorithm`.
    pub fn rotate_to(&mut self, algorithm: Algorithm) -> Result<KeyEntry, CryptoError> {
        let mut kek = new_kek(algorithm, &mut OsRandom)?;
        while self.keks.iter().any(|k| k.id == kek.id) {
            kek = new_kek(algorithm, &mut OsRandom)?;
        }
        self.keks.push(kek);
        self.primary = self.keks.len() - 1;
        Ok(self.entry(self.primary))
    }

    /// This keyring's naming key with none of its KEKs: for what only names objects and seals
    /// links and cursors, kept for a process's life while the KEKs are held only as long as
    /// the key cache allows. Its one KEK is fresh and random, known to nothing else, so an
    /// envelope sealed with it by mistake opens nowhere.
    pub fn naming_only(&self) -> Result<Keyring, CryptoError> {
        Ok(Keyring {
            keks: vec![new_kek(self.primary_algorithm(), &mut OsRandom)?],
            primary: 0,
            naming_key: self.naming_key.clone(),
        })
    }

    /// Removes the KEK `id`, so envelopes still wrapped under it no longer open: callers check
    /// first that none is left (`bitatlas keys retire`). The primary KEK cannot be retired.
    pub fn retire(&mut self, id: &str) -> Result<KeyEntry, CryptoError> {
        let i =
            self.keks.iter().position(|k| k.id == id).ok_or_else(|| {
                keyring_err(format!("no key-encryption key {id:?} in this keyring"))
            })?;
        if i == self.primary {
            return Err(keyring_err(format!(
                "{id} is the primary key-encryption key; rotate first"
            )));
        }
        let entry = self.entry(i);
        self.keks.remove(i);
        if i < self.primary {
            self.primary -= 1;
        }
        Ok(entry)
    }

    fn entry(&self, i: usize) -> KeyEntry {
        let k = &self.keks[i];
        KeyEntry {
            id: k.id.clone(),
            algorithm: k.algorithm,
            created: k.created,
            primary: i == self.primary,
        }
    }

    /// Public information about every KEK, oldest first.
    pub fn entries(&self) -> Vec<KeyEntry> {
        (0..self.keks.len()).map(|i| self.entry(i)).collect()
    }

    /// The algorithm of the primary KEK (used for new envelopes).
    pub fn primary_algorithm(&self) -> Algorithm {
        self.keks[self.primary].algorithm
    }

    /// The id of the primary KEK.
    pub fn primary_id(&self) -> &str {
        &self.keks[self.primary].id
    }

    pub(crate) fn primary_kek(&self) -> &Kek {
        &self.keks[self.primary]
    }

    /// Whether the keyring holds the KEK `id`.
    pub fn has_kek(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    pub(crate) fn find(&self, id: &str) -> Option<&Kek> {
        self.keks.iter().find(|k| k.id == id)
    }

    /// The opaque storage name of `key` in `tenant`: lowercase hex of
    /// HMAC-SHA256(naming key, len32(tenant) || tenant || len32(key) || key), always 64
    /// characters `[0-9a-f]`, safe for S3 and file systems. Stable across rotations.
    pub fn object_name(&self, tenant: &str, key: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.naming_key.expose())
            .expect("HMAC accepts any key length");
        mac.update(&(tenant.len() as u32).to_be_bytes());
        mac.update(tenant.as_bytes());
        mac.update(&(key.len() as u32).to_be_bytes());
        mac.update(key.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `name` is the storage name of `key` in `tenant` (constant-time comparison).
    pub fn object_name_matches(&self, tenant: &str, key: &str, name: &str) -> bool {
        let expected = self.object_name(tenant, key);
        expected.len() == name.len() && bool::from(expected.as_bytes().ct_eq(name.as_bytes()))
    }

    // ----- serialization -------------------------------------------------------------

    /// Parses a keyring document (the JSON text of a keyring file).
    pub fn from_json(text: &str) -> Result<Keyring, CryptoError> {
        let raw: RawKeyring = serde_json::from_str(text).map_err(|e| {
            keyring_err(format!("not a valid keyring document (line {})", e.line()))
        })?;
        if raw.format != KEYRING_FORMAT {
            return Err(keyring_err(format!(
                "unsupported keyring format (expected `{KEYRING_FORMAT}`)"
            )));
        }
        let naming_key = decode_key(&raw.naming_key, "naming_key")?;
        let mut keks = Vec::with_capacity(raw.keys.len());
        let mut primary = None;
        for (i, k) in raw.keys.iter().enumerate() {
            if !valid_kek_id(&k.id) {
                return Err(keyring_err(format!("key #{i} has an invalid id")));
            }
            if keks.iter().any(|o: &Kek| o.id == k.id) {
                return Err(keyring_err(format!("duplicate key id `{}`", k.id)));
            }
            let algorithm: Algorithm = k
                .algorithm
                .parse()
                .map_err(|_| keyring_err(format!("key `{}` has an unknown algorithm", k.id)))?;
            // In UTC the year must stay within 0..=9999, what `to_json` can write back as
            // RFC 3339: `0000-01-01T00:00:00+01:00` would be saved as an unloadable year -1.
            let created = DateTime::parse_from_rfc3339(&k.created)
                .ok()
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| (0..=9999).contains(&t.year()))
                .ok_or_else(|| {
                    keyring_err(format!("key `{}` has an invalid creation time", k.id))
                })?;
            if k.primary {
                if primary.is_some() {
                    return Err(keyring_err("more than one primary key"));
                }
                primary = Some(i);
            }
            keks.push(Kek {
                id: k.id.clone(),
                algorithm,
                created,
                key: decode_key(&k.key, &k.id)?,
            });
        }
        let primary = primary.ok_or_else(|| keyring_err("no primary key"))?;
        Ok(Keyring {
            keks,
            primary,
            naming_key,
        })
    }

    /// The keyring document (JSON, contains key material: handle as a secret).
    pub fn to_json(&self) -> Zeroizing<String> {
        // Reserve enough up front so the buffer never reallocates (and never leaves an
        // un-zeroized copy of key material behind).
        let mut out = Zeroizing::new(String::with_capacity(256 + self.keks.len() * 256));
        let _ = writeln!(out, "{{");
        let _ = writeln!(out, "  \"format\": \"{KEYRING_FORMAT}\",");
        out.push_str("  \"naming_key\": \"");
        B64.encode_string(self.naming_key.expose(), &mut out);
        out.push_str("\",\n  \"keys\": [\n");
        for (i, k) in self.keks.iter().enumerate() {
            let _ = write!(
                out,
                "    {{\"id\": \"{}\", \"algorithm\": \"{}\", \"created\": \"{}\", \"primary\": {}, \"key\": \"",
                k.id,
                k.algorithm,
                k.created.to_rfc3339_opts(SecondsFormat::Secs, true),
                i == self.primary
            );
            B64.encode_string(k.key.expose(), &mut out);
            out.push_str(if i + 1 == self.keks.len() {
                "\"}\n"
            } else {
                "\"},\n"
            });
        }
        out.push_str("  ]\n}\n");
        out
    }

    /// Loads the keyring document held in environment variable `var` (the whole JSON text,
    /// for deployments that inject secrets through the environment).
    pub fn from_env(var: &str) -> Result<Keyring, CryptoError> {
        let text = Zeroizing::new(
            std::env::var(var)
                .map_err(|_| keyring_err(format!("environment variable {var} is not set")))?,
        );
        Self::from_json(&text)
    }

    /// Loads a keyring file. Refused (on unix) when group or others have any permission on it.
    pub fn load(path: &Path) -> Result<Keyring, CryptoError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| keyring_err(format!("cannot read {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(keyring_err(format!("{} is not a file", path.display())));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(keyring_err(format!(
                    "{} has mode {mode:04o}: group or others can access it; run `chmod 600` on it",
                    path.display()
                )));
            }
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| keyring_err(format!("cannot read {}: {e}", path.display())))?,
        );
        Self::from_json(&text)
            .map_err(|e| keyring_err(format!("{}: {}", path.display(), strip_prefix(&e))))
    }

    /// Writes the keyring to `path` atomically (temporary file in the same directory, mode
    /// 0600, fsync, rename), replacing any existing file.
    pub fn save(&self, path: &Path) -> Result<(), CryptoError> {
        self.write_file(path, true)
    }

    /// Generates a keyring and writes it to `path`; refuses to overwrite an existing file.
    pub fn create_file(path: &Path, algorithm: Algorithm) -> Result<Keyring, CryptoError> {
        if path.exists() {
            return Err(keyring_err(format!(
                "{} already exists; refusing to overwrite it",
                path.display()
            )));
        }
        let ring = Keyring::generate_with_rng(algorithm, &mut OsRandom)?;
        ring.write_file(path, false)?;
        Ok(ring)
    }

    /// Writes this keyring to a new file at `path` (atomically, mode 0600, its directory
    /// created with mode 0700 when missing); refuses to replace an existing file, so two
    /// writers racing for one path cannot both win.
    pub fn save_new(&self, path: &Path) -> Result<(), CryptoError> {
        create_private_dir(path)?;
        self.write_file(path, false)
    }

    /// Whether `other` holds exactly the same keys, ids, algorithms, times, primary and naming
    /// key (compared in constant time over the whole document).
    pub fn same_keys(&self, other: &Keyring) -> bool {
        let (a, b) = (self.to_json(), other.to_json());
        a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
    }

    /// Loads `path`, or creates a new keyring there (and its directory, mode 0700) when it
    /// does not exist. The flag says whether it was created.
    pub fn load_or_create(
        path: &Path,
        algorithm: Algorithm,
    ) -> Result<(Keyring, bool), CryptoError> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        create_private_dir(path)?;
        match Self::create_file(path, algorithm) {
            Ok(ring) => Ok((ring, true)),
            // Lost a race with another process creating it: use theirs.
            Err(_) if path.exists() => Ok((Self::load(path)?, false)),
            Err(e) => Err(e),
        }
    }

    fn write_file(&self, path: &Path, overwrite: bool) -> Result<(), CryptoError> {
        write_private(path, self.to_json().as_bytes(), overwrite)
    }
}

/// Writes `bytes` to `path` with mode 0600, atomically (a synced temporary file renamed into
/// place, then the directory synced): a reader sees the old file or the new one, never part.
/// Without `overwrite`, an existing file is refused. For keyring documents and wrapped ones.
pub fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), CryptoError> {
    create_private_dir(path)?;
    let dir = parent_dir(path).unwrap_or_else(|| Path::new("."));
    let io = |e: std::io::Error| keyring_err(format!("cannot write {}: {e}", path.display()));
    let mut tmp = tempfile::Builder::new()
        .prefix(".keyring-")
        .tempfile_in(dir)
        .map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    if overwrite {
        tmp.persist(path).map_err(|e| io(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                keyring_err(format!(
                    "{} already exists; refusing to overwrite it",
                    path.display()
                ))
            } else {
                io(e.error)
            }
        })?;
    }
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

fn strip_prefix(e: &CryptoError) -> String {
    match e {
        CryptoError::Keyring(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Creates the directory of `path` with mode 0700 when it does not exist yet.
fn create_private_dir(path: &Path) -> Result<(), CryptoError> {
    if let Some(dir) = parent_dir(path)
        && !dir.exists()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)
            .map_err(|e| keyring_err(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}

fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

fn decode_key(text: &str, what: &str) -> Result<SecretKey, CryptoError> {
    let bytes = Zeroizing::new(
        B64.decode(text.trim())
            .map_err(|_| keyring_err(format!("`{what}`: key is not valid base64")))?,
    );
    SecretKey::from_slice(&bytes)
        .ok_or_else(|| keyring_err(format!("`{what}`: key must be 32 bytes")))
}

/// The document as parsed; secret strings are wiped when it is dropped.
#[derive(serde::Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct RawKeyring {
    format: String,
    naming_key: String,
    keys: Vec<RawKey>,
}

#[derive(serde::Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: String,
    algorithm: String,
    created: String,
    #[zeroize(skip)]
    primary: bool,
    key: String,
}
