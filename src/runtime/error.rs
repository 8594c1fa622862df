//! Why start-up stopped, as a type: the CLI maps it to an exit code without reading text.

use bitatlas_adapters::LocationError;

use super::keyrings::KeyringError;
use crate::residency::{ResidencyCode, ResidencyError};

/// A start-up failure. Only [`StartupError::Denied`] is a residency refusal (exit 3); every
/// other variant means start-up could not complete (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The residency guard refused a store: its configuration, or its verified location,
    /// breaks the policy (a non-EEA region, a location that differs from the configured one,
    /// an endpoint of another region, ...).
    #[error("{subject}: {code}: {message}")]
    Denied {
        /// What was refused (`store NAME` or `tenant NAME: store NAME`).
        subject: String,
        /// The stable residency code.
        code: ResidencyCode,
        /// Why.
        message: String,
    },
    /// A store's real location could not be checked: the server could not be reached, or
    /// answered with something that is no evidence of a location (missing bucket, refused
    /// credentials, a key without read access, a server error).
    #[error(
        "store {store}: the bucket location could not be verified: GET {url}: {cause}{}; \
         refusing to use the store",
        hint(cause)
    )]
    Unverified {
        /// Store name.
        store: String,
        /// The location request URL (endpoint and bucket; no credentials).
        url: String,
        /// What the server answered, or why it did not.
        cause: LocationError,
    },
    /// The configuration is invalid or inconsistent.
    #[error("{0}")]
    Config(String),
    /// `[server] max_inline_bytes` is too large for the stdio transport: an inline `put` of
    /// that size, as base64 in its JSON-RPC line, would be longer than the line limit and
    /// could never be read.
    #[error(
        "[server] max_inline_bytes = {configured} does not fit the stdio transport: an inline \
         put of that size is {base64_bytes} bytes of base64 plus up to {envelope_bytes} bytes of \
         JSON-RPC, above the stdio line limit of {line_limit} bytes; set max_inline_bytes to at \
         most {largest}, or serve over HTTP (--http), whose body limit follows max_inline_bytes \
         (files of any size move with `put {{key, path}}` or a `transfer` link)"
    )]
    InlineLimitTooLarge {
        /// The configured inline limit.
        configured: u64,
        /// Its base64 length.
        base64_bytes: u64,
        /// The room kept for the JSON-RPC envelope.
        envelope_bytes: usize,
        /// The stdio line limit.
        line_limit: usize,
        /// The largest inline limit that fits.
        largest: u64,
    },
    /// A store could not be opened or configured (directory, credentials, S3 client).
    #[error("store {store}: {message}")]
    Store {
        /// Store name.
        store: String,
        /// What failed.
        message: String,
    },
    /// A tenant's keyring (or the audit secret) could not be loaded, or may not be created
    /// because the tenant's data shows it existed.
    // Not a `#[source]`: its text is already part of this one, and printing the chain too
    // would say it twice.
    #[error("{0}")]
    Keyring(KeyringError),
    /// A configured file root is unusable (missing, not a directory, not absolute in the
    /// configuration file). The message names it.
    #[error("{0}")]
    Files(#[from] crate::files::FilesError),
    /// The audit trail could not be opened, continued or written.
    #[error("{context}: {cause}")]
    Audit {
        /// What was being done.
        context: String,
        /// The underlying failure.
        cause: String,
    },
}

impl From<KeyringError> for StartupError {
    fn from(e: KeyringError) -> Self {
        StartupError::Keyring(e)
    }
}

impl StartupError {
    /// The residency code of a refusal; `None` for failures that are not policy decisions.
    pub fn residency_code(&self) -> Option<ResidencyCode> {
        match self {
            StartupError::Denied { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A residency error about `subject`: a refusal stays a refusal (with its code), an
    /// invalid or unknown policy is a configuration error.
    pub(crate) fn residency(subject: impl Into<String>, e: ResidencyError) -> StartupError {
        let subject = subject.into();
        match e {
            ResidencyError::Denied(d) => StartupError::Denied {
                subject,
                code: d.code,
                message: d.message,
            },
            other => StartupError::Config(format!("{subject}: {}: {other}", other.code())),
        }
    }

    pub(crate) fn store(store: &str, message: impl Into<String>) -> StartupError {
        StartupError::Store {
            store: store.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn audit(context: impl Into<String>, cause: impl std::fmt::Display) -> StartupError {
        StartupError::Audit {
            context: context.into(),
            cause: cause.to_string(),
        }
    }
}

/// What an operator can do about an unverifiable location.
fn hint(cause: &LocationError) -> &'static str {
    match (cause.status(), cause.s3_code()) {
        (Some(404), _) | (_, Some("NoSuchBucket")) => " (does the bucket exist?)",
        (Some(401 | 403), _) => {
            " (check the access key and secret, and that the key may read the bucket: \
             GetBucketLocation needs read permission)"
        }
        (Some(500..=599), _) => " (the server failed; retry later)",
        (None, _) => " (is the endpoint right and the server running?)",
        _ => "",
    }
}
