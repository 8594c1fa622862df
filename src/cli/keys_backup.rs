//! `keys export` / `keys import`: a keyring as a passphrase-protected backup.
//!
//! The bundle is an age file (scrypt passphrase recipient, ASCII-armoured so it can be pasted
//! or printed) whose plaintext is the keyring document itself. The passphrase comes from an
//! environment variable, never from the command line (where `ps` would show it). Passphrase,
//! document and key bytes live in zeroizing buffers and never reach stdout, logs or errors.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::Exit;
use crate::crypto::Keyring;

/// Largest bundle `keys import` reads (a keyring of thousands of keys is far smaller).
const MAX_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// Arguments shared by `keys export` and `keys import`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Keyring file (default: the data directory's default keyring).
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Environment variable holding the bundle's passphrase.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: String,
}

fn passphrase(var: &str) -> Result<SecretString, Exit> {
    let Some(value) = std::env::var_os(var) else {
        eprintln!("error: environment variable {var} is not set (it holds the passphrase)");
        return Err(Exit::Usage);
    };
    let Some(text) = value.to_str().map(|s| Zeroizing::new(s.to_owned())) else {
        eprintln!("error: the passphrase in {var} is not valid UTF-8");
        return Err(Exit::Usage);
    };
    drop(value);
    if text.is_empty() {
        eprintln!("error: the passphrase in {var} is empty");
        return Err(Exit::Usage);
    }
    Ok(SecretString::from(text.as_str()))
}

/// `keys export`: the keyring, encrypted to the passphrase, on stdout.
pub fn export(args: BackupArgs, path: &Path) -> Exit {
    let pass = match passphrase(&args.passphrase_env) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let ring = match Keyring::load(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failure;
        }
    };
    let recipient = age::scrypt::Recipient::new(pass);
    let written = (|| -> std::io::Result<()> {
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(std::io::Error::other)?;
        let stdout = std::io::stdout().lock();
        let armored =
            age::armor::ArmoredWriter::wrap_output(stdout, age::armor::Format::AsciiArmor)?;
        let mut w = encryptor.wrap_output(armored)?;
        w.write_all(ring.to_json().as_bytes())?;
        w.finish()?.finish()?.flush()
    })();
    match written {
        Ok(()) => {
            eprintln!(
                "exported keyring {} ({} key(s), primary {}), encrypted to the passphrase in ${}",
                path.display(),
                ring.entries().len(),
                ring.primary_id(),
                args.passphrase_env
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: cannot write the bundle: {e}");
            Exit::Failure
        }
    }
}

/// Decrypts a bundle into a keyring.
fn open_bundle(bundle: &[u8], pass: SecretString) -> Result<Keyring, (Exit, String)> {
    let bad = |e: age::DecryptError| {
        (
            Exit::Integrity,
            format!("the bundle does not open with this passphrase, or it is damaged ({e})"),
        )
    };
    let decryptor =
        age::Decryptor::new(age::armor::ArmoredReader::new(bundle)).map_err(|e| match e {
            age::DecryptError::InvalidHeader
            | age::DecryptError::UnknownFormat
            | age::DecryptError::Io(_) => (
                Exit::Failure,
                "standard input is not a keyring bundle (an age file from `bitatlas keys export`)"
                    .to_owned(),
            ),
            other => bad(other),
        })?;
    if !decryptor.is_scrypt() {
        return Err((
            Exit::Failure,
            "the bundle is not passphrase-protected; use one made by `bitatlas keys export`".into(),
        ));
    }
    let identity = age::scrypt::Identity::new(pass);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(bad)?;
    // The plaintext is shorter than the bundle, so this buffer never reallocates (and never
    // leaves an unzeroized copy of key material behind).
    let mut plain = Zeroizing::new(Vec::with_capacity(bundle.len() + 1024));
    reader.read_to_end(&mut plain).map_err(|e| {
        (
            Exit::Integrity,
            format!("the bundle is damaged or truncated ({e})"),
        )
    })?;
    let text = std::str::from_utf8(&plain).map_err(|_| {
        (
            Exit::Failure,
            "the bundle does not hold a keyring".to_owned(),
        )
    })?;
    Keyring::from_json(text).map_err(|e| {
        (
            Exit::Failure,
            format!("the bundle does not hold a valid keyring: {e}"),
        )
    })
}

/// `keys import`: a bundle from stdin into a new keyring file.
pub fn import(args: BackupArgs, path: &Path) -> Exit {
    let pass = match passphrase(&args.passphrase_env) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut bundle = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_BUNDLE_BYTES + 1)
        .read_to_end(&mut bundle)
    {
        eprintln!("error: cannot read the bundle from standard input: {e}");
        return Exit::Failure;
    }
    if bundle.len() as u64 > MAX_BUNDLE_BYTES {
        eprintln!("error: standard input is larger than any keyring bundle");
        return Exit::Failure;
    }
    let ring = match open_bundle(&bundle, pass) {
        Ok(r) => r,
        Err((exit, msg)) => {
            eprintln!("error: {msg}");
            return exit;
        }
    };
    match place(&ring, path) {
        Ok(Placed::Written) => {
            eprintln!(
                "imported keyring {} ({} key(s), primary {}), mode 0600",
                path.display(),
                ring.entries().len(),
                ring.primary_id()
            );
            Exit::Ok
        }
        Ok(Placed::AlreadyThere) => {
            eprintln!(
                "{} already holds this keyring; nothing to do",
                path.display()
            );
            Exit::Ok
        }
        Err(msg) => {
            eprintln!("error: {msg}");
            Exit::Failure
        }
    }
}

enum Placed {
    Written,
    AlreadyThere,
}

/// Writes `ring` to a new file at `path`; an existing file is only accepted when it holds the
/// very same keyring.
fn place(ring: &Keyring, path: &Path) -> Result<Placed, String> {
    let compare = || match Keyring::load(path) {
        Ok(existing) if existing.same_keys(ring) => Ok(Placed::AlreadyThere),
        Ok(_) => Err(format!(
            "{} holds a different keyring; refusing to overwrite it (move it away first if \
             you really mean to replace it)",
            path.display()
        )),
        Err(e) => Err(format!(
            "{} exists and cannot be compared with the bundle ({e}); refusing to overwrite it",
            path.display()
        )),
    };
    if std::fs::symlink_metadata(path).is_ok() {
        return compare();
    }
    match ring.save_new(path) {
        Ok(()) => Ok(Placed::Written),
        // Created by someone else meanwhile.
        Err(_) if std::fs::symlink_metadata(path).is_ok() => compare(),
        Err(e) => Err(e.to_string()),
    }
}
