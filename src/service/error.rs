//! Typed service errors with stable codes. Messages are written for the caller: they never
//! contain plaintext, key material, host paths or backend internals.

use std::fmt;

/// Stable error codes (a public API: never rename one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The object key breaks the key rules.
    InvalidKey,
    /// An argument other than the key is malformed.
    InvalidArgument,
    /// The requested byte range is outside the object.
    InvalidRange,
    /// No object under that key.
    NotFound,
    /// The payload exceeds the inline limit.
    TooLarge,
    /// The operation is not available on this store.
    Unsupported,
    /// The stored object failed authentication.
    IntegrityFailure,
    /// The audit sink could not record the call, so it did not happen.
    AuditUnavailable,
    /// The storage backend failed or is unreachable.
    StorageUnavailable,
    /// The storage backend has no room (disk full, quota exhausted); nothing was written.
    StorageFull,
    /// The person declined a destructive call they were asked to confirm; nothing was done.
    ConfirmationDeclined,
    /// The call needs the person's confirmation and the client cannot ask for it
    /// (elicitation); nothing was done.
    ConfirmationRequired,
    /// The tool is outside this server's or this tenant's tool profile (`--read-only`,
    /// `--tools`, `[tenants.NAME] tools`); nothing was done.
    ToolDisabled,
    /// The credential's scopes do not cover the tool (OAuth); nothing was done.
    InsufficientScope,
    /// Presign of PUT is not enabled by the tenant's policy.
    PolicyPresignPutDisabled,
    /// A store of the tenant is outside its policy's countries and no override grant for it
    /// is in force (it expired or was revoked); nothing was done.
    PolicyCountryNotAllowed,
    /// The caller is not authenticated or not allowed.
    Unauthorized,
    /// The object changed since the operation was allowed (e.g. a transfer link issued for
    /// an earlier version); nothing was written.
    Conflict,
    /// An upload stopped before its end; nothing was written.
    Incomplete,
    /// A transfer link is past its expiry time.
    LinkExpired,
    /// A transfer link was revoked, or an upload link was already used.
    LinkRevoked,
    /// Local files are not enabled (no files root is configured).
    FilesDisabled,
    /// A local path lies outside every files root.
    PathOutsideRoot,
    /// A local path names something other than a regular file.
    NotAFile,
    /// A local path names a directory.
    IsADirectory,
    /// A local path (or the directory to save into) does not exist.
    FileNotFound,
    /// A local path is malformed.
    InvalidPath,
    /// Reading or writing a local file failed.
    FileIo,
    /// The caller cancelled the call before it committed anything.
    Cancelled,
    /// The tenant's key provider (KMS, keyring) cannot hand out its keys now; nothing was
    /// written or returned.
    KeyUnavailable,
    /// A bug or an unexpected state; details are in the server log only.
    Internal,
}

impl ErrorCode {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidKey => "INVALID_KEY",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::InvalidRange => "INVALID_RANGE",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::TooLarge => "TOO_LARGE",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::IntegrityFailure => "INTEGRITY_FAILURE",
            ErrorCode::AuditUnavailable => "AUDIT_UNAVAILABLE",
            ErrorCode::StorageUnavailable => "STORAGE_UNAVAILABLE",
            ErrorCode::StorageFull => "STORAGE_FULL",
            ErrorCode::ToolDisabled => "TOOL_DISABLED",
            ErrorCode::InsufficientScope => "INSUFFICIENT_SCOPE",
            ErrorCode::ConfirmationDeclined => "CONFIRMATION_DECLINED",
            ErrorCode::ConfirmationRequired => "CONFIRMATION_REQUIRED",
            ErrorCode::PolicyPresignPutDisabled => "POLICY_PRESIGN_PUT_DISABLED",
            ErrorCode::PolicyCountryNotAllowed => "POLICY_COUNTRY_NOT_ALLOWED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Incomplete => "INCOMPLETE",
            ErrorCode::LinkExpired => "LINK_EXPIRED",
            ErrorCode::LinkRevoked => "LINK_REVOKED",
            ErrorCode::FilesDisabled => "FILES_DISABLED",
            ErrorCode::PathOutsideRoot => "PATH_OUTSIDE_ROOT",
            ErrorCode::NotAFile => "NOT_A_FILE",
            ErrorCode::IsADirectory => "IS_A_DIRECTORY",
            ErrorCode::FileNotFound => "FILE_NOT_FOUND",
            ErrorCode::InvalidPath => "INVALID_PATH",
            ErrorCode::FileIo => "FILE_IO",
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::KeyUnavailable => "KEY_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// A failed tool call: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// Stable code.
    pub code: ErrorCode,
    /// Message for the caller (no secrets, no internals).
    pub message: String,
}

impl ServiceError {
    /// Builds an error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The answer for a key with no object: it repeats the key (the caller's own) and says how to
/// find what exists.
pub fn not_found(key: &str) -> ServiceError {
    ServiceError::new(
        ErrorCode::NotFound,
        format!("no object under key '{key}'; use `list` or `search` to see which keys exist"),
    )
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ServiceError {}

impl From<bitatlas_adapters::AdapterError> for ServiceError {
    fn from(e: bitatlas_adapters::AdapterError) -> Self {
        use bitatlas_adapters::AdapterError as A;
        match e {
            A::NotFound => ServiceError::new(ErrorCode::NotFound, "no object under that key"),
            A::Full => {
                tracing::warn!("storage full: a write was refused");
                ServiceError::new(
                    ErrorCode::StorageFull,
                    "the store has no room for this write; nothing was written and the previous \
                     version is unchanged",
                )
            }
            other => {
                tracing::warn!(error = %other, "storage operation failed");
                ServiceError::new(ErrorCode::StorageUnavailable, other.to_string())
            }
        }
    }
}

impl From<crate::crypto::CryptoError> for ServiceError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        if let crate::crypto::CryptoError::KeyUnavailable(reason) = &e {
            tracing::warn!(%reason, "tenant keys unavailable");
            return ServiceError::new(
                ErrorCode::KeyUnavailable,
                "the tenant's keys are unavailable (key provider unreachable or key disabled); \
                 nothing was written or returned",
            );
        }
        tracing::warn!(code = e.code(), "envelope failed to open");
        ServiceError::new(
            ErrorCode::IntegrityFailure,
            "the stored object failed its integrity check; no data was returned",
        )
    }
}
