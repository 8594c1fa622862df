//! S3 credentials, read from the environment or from files named in the configuration.

use std::path::Path;

use zeroize::Zeroizing;

use super::error::StartupError;
use crate::config::CredentialsConfig;

/// Access key id and secret for one store.
pub struct Credentials {
    /// Access key id (not secret, but not logged either).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
}

/// Reads the credentials a store's configuration points to.
pub fn load(store: &str, cfg: Option<&CredentialsConfig>) -> Result<Credentials, StartupError> {
    let Some(cfg) = cfg else {
        return Err(StartupError::store(store, "no credentials configured"));
    };
    let id = read_one(
        store,
        "access key id",
        &cfg.access_key_id_env,
        &cfg.access_key_id_file,
    )?;
    let secret = read_one(
        store,
        "secret access key",
        &cfg.secret_access_key_env,
        &cfg.secret_access_key_file,
    )?;
    Ok(Credentials {
        access_key_id: id.to_string(),
        secret_access_key: secret,
    })
}

fn read_one(
    store: &str,
    what: &str,
    env: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> Result<Zeroizing<String>, StartupError> {
    let fail = |message: String| StartupError::store(store, message);
    let value = match (env, file) {
        (Some(var), None) => Zeroizing::new(
            std::env::var(var)
                .map_err(|_| fail(format!("{what}: environment variable {var} is not set")))?,
        ),
        (None, Some(path)) => read_secret_file(path)
            .map_err(|e| fail(format!("{what}: cannot use {}: {e}", path.display())))?,
        _ => {
            return Err(fail(format!(
                "give exactly one of the env or file settings for the {what}"
            )));
        }
    };
    let trimmed = Zeroizing::new(value.trim_end_matches(['\n', '\r']).to_owned());
    if trimmed.is_empty() || trimmed.chars().any(char::is_control) {
        return Err(fail(format!(
            "{what} is empty or contains control characters"
        )));
    }
    Ok(trimmed)
}

fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "file is readable by group or others (mode {:o}); chmod 600 it",
                mode & 0o777
            ));
        }
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| e.to_string())
}
