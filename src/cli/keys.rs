//! `bitatlas keys ...`: create, rotate, list, back up and restore keyrings. Never prints key
//! material (an export prints it encrypted only).

use std::path::PathBuf;

use super::Exit;
use super::keys_backup::{self, BackupArgs};
use super::keys_tenant;
use crate::crypto::{Algorithm, Keyring};

/// Keyring subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a new keyring file (mode 0600, in a 0700 directory created if missing);
    /// refuses to overwrite an existing file.
    Generate {
        /// Keyring file to create (default: the data directory's default keyring).
        #[arg(long, value_name = "FILE")]
        keyring: Option<PathBuf>,
        /// AEAD for envelopes sealed under this keyring.
        #[arg(long, default_value = "aes-256-gcm", value_parser = parse_algorithm)]
        algorithm: Algorithm,
    },
    /// Add a new primary key; older keys stay so older objects still open. With --tenant,
    /// the tenant's key provider is rotated too (a new Transit key version wraps the keyring).
    Rotate {
        /// Keyring file to rotate.
        #[arg(long, value_name = "FILE", conflicts_with = "tenant")]
        keyring: Option<PathBuf>,
        /// Rotate this tenant's keys, wherever its configuration keeps them.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        #[command(flatten)]
        at: keys_tenant::Installation,
        /// Algorithm of the new key (default: that of the current primary).
        #[arg(long, value_parser = parse_algorithm)]
        algorithm: Option<Algorithm>,
    },
    /// List key ids, algorithms, creation times and the primary, one JSON object per line.
    List {
        /// Keyring file to list.
        #[arg(long, value_name = "FILE")]
        keyring: Option<PathBuf>,
    },
    /// Rewrap every object of a tenant under its primary key (after `rotate`) without
    /// re-encrypting payloads; version 1 objects are migrated. Resumable: run it again.
    Rewrap {
        /// The tenant.
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        at: keys_tenant::Installation,
    },
    /// Remove a key (KEK id) from a tenant's keyring; refused while any object still uses it.
    Retire {
        /// The KEK id, as `keys list` or `locate` show it.
        id: String,
        /// The tenant.
        #[arg(long, value_name = "NAME")]
        tenant: String,
        #[command(flatten)]
        at: keys_tenant::Installation,
    },
    /// Print a passphrase-protected backup of a keyring on stdout (an ASCII-armoured age
    /// file; the passphrase is read from the environment variable named by --passphrase-env).
    Export(BackupArgs),
    /// Restore a keyring from a backup read on stdin. Refuses to overwrite a different
    /// existing keyring; importing the keyring that is already there changes nothing.
    Import(BackupArgs),
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
        .map_err(|e: crate::crypto::CryptoError| e.to_string())
}

fn path_or_default(p: Option<PathBuf>) -> PathBuf {
    p.unwrap_or_else(|| crate::config::default_keyring_path(&crate::config::default_data_dir()))
}

/// Runs one keyring subcommand.
pub fn run(cmd: KeysCommand) -> Exit {
    match cmd {
        KeysCommand::Generate { keyring, algorithm } => {
            let path = path_or_default(keyring);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.exists()
            {
                let mut b = std::fs::DirBuilder::new();
                b.recursive(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    b.mode(0o700);
                }
                if let Err(e) = b.create(dir) {
                    eprintln!("error: cannot create {}: {e}", dir.display());
                    return Exit::Failure;
                }
            }
            match Keyring::create_file(&path, algorithm) {
                Ok(ring) => {
                    eprintln!(
                        "created keyring {} (primary key {}, {algorithm})",
                        path.display(),
                        ring.primary_id()
                    );
                    Exit::Ok
                }
                Err(e) => fail(&e),
            }
        }
        KeysCommand::Rotate {
            tenant: Some(tenant),
            at,
            algorithm,
            ..
        } => keys_tenant::rotate(&at, &tenant, algorithm),
        KeysCommand::Rewrap { tenant, at } => keys_tenant::rewrap(&at, &tenant),
        KeysCommand::Retire { id, tenant, at } => keys_tenant::retire(&at, &tenant, &id),
        KeysCommand::Rotate {
            keyring, algorithm, ..
        } => {
            let path = path_or_default(keyring);
            let mut ring = match Keyring::load(&path) {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            let rotated = match algorithm {
                Some(a) => ring.rotate_to(a),
                None => ring.rotate(),
            };
            match rotated.and_then(|entry| ring.save(&path).map(|()| entry)) {
                Ok(entry) => {
                    eprintln!(
                        "new primary key {} ({}) in {}",
                        entry.id,
                        entry.algorithm,
                        path.display()
                    );
                    Exit::Ok
                }
                Err(e) => fail(&e),
            }
        }
        KeysCommand::Export(mut args) => {
            let path = path_or_default(args.keyring.take());
            keys_backup::export(args, &path)
        }
        KeysCommand::Import(mut args) => {
            let path = path_or_default(args.keyring.take());
            keys_backup::import(args, &path)
        }
        KeysCommand::List { keyring } => {
            let path = path_or_default(keyring);
            match Keyring::load(&path) {
                Ok(ring) => {
                    for entry in ring.entries() {
                        match serde_json::to_string(&entry) {
                            Ok(line) => println!("{line}"),
                            Err(_) => return Exit::Failure,
                        }
                    }
                    Exit::Ok
                }
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(e: &crate::crypto::CryptoError) -> Exit {
    eprintln!("error: {e}");
    Exit::Failure
}
