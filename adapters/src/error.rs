//! The one error type every adapter returns. Backend errors are mapped into it and never
//! carry host paths, URLs or credentials.

/// What went wrong in a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The object does not exist.
    #[error("object not found")]
    NotFound,
    /// The storage name is not acceptable to the adapter.
    #[error("invalid storage name")]
    InvalidName,
    /// The backend refused the credentials or the operation.
    #[error("storage backend denied access")]
    PermissionDenied,
    /// A conditional operation lost a race.
    #[error("storage precondition failed")]
    Precondition,
    /// The backend does not offer this operation.
    #[error("operation not supported by this store")]
    Unsupported,
    /// The backend has no room for the write (a full disk or an exhausted quota); nothing
    /// was written.
    #[error("storage backend is full")]
    Full,
    /// The backend could not be reached or failed; retrying later may work.
    #[error("storage backend unavailable: {0}")]
    Unavailable(&'static str),
}

impl From<object_store::Error> for AdapterError {
    fn from(e: object_store::Error) -> Self {
        use object_store::Error as E;
        // Log the backend's own message for operators (it may name paths); callers only see
        // the typed variant.
        tracing::debug!(error = %e, "storage backend error");
        match e {
            E::NotFound { .. } => AdapterError::NotFound,
            E::InvalidPath { .. } => AdapterError::InvalidName,
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                AdapterError::PermissionDenied
            }
            E::Precondition { .. } | E::AlreadyExists { .. } | E::NotModified { .. } => {
                AdapterError::Precondition
            }
            E::NotSupported { .. } | E::NotImplemented { .. } => AdapterError::Unsupported,
            e if timed_out(&e) => AdapterError::Unavailable(TIMED_OUT),
            _ => AdapterError::Unavailable("backend request failed"),
        }
    }
}

/// The reason given when a store did not answer within its request timeout, after its tries.
pub const TIMED_OUT: &str = "backend did not answer in time";

/// Whether a request failed because the backend did not answer within the client's timeout
/// (the cause sits a few sources down: retry error, HTTP error, client error).
fn timed_out(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(http) = c.downcast_ref::<object_store::client::HttpError>() {
            return http.kind() == object_store::client::HttpErrorKind::Timeout;
        }
        cause = c.source();
    }
    false
}
