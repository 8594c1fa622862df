//! `presign`: time-limited URLs on the verified endpoint of S3 stores.

use super::error::{ErrorCode, ServiceError};
use super::{Caller, ObjectKey, PresignInput, PresignMethod, PresignOutput, Service};

/// Default lifetime of a presigned URL, seconds.
pub const DEFAULT_EXPIRY: u64 = 900;
/// Longest lifetime of a presigned URL, seconds.
pub const MAX_EXPIRY: u64 = 3600;

impl Service {
    /// Returns a presigned URL for the sealed object.
    pub async fn presign(
        &self,
        caller: &Caller,
        input: PresignInput,
    ) -> Result<PresignOutput, ServiceError> {
        let key_for_audit = input.key.clone();
        let call = self.begin(caller, "presign", Some(&key_for_audit), true)?;
        let tenant = call.tenant;
        let result = async {
            ObjectKey::parse(&input.key)?;
            let expires = input.expires_in.unwrap_or(DEFAULT_EXPIRY);
            if expires == 0 || expires > MAX_EXPIRY {
                return Err(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    format!("expires_in must be 1-{MAX_EXPIRY} seconds"),
                ));
            }
            if input.method == PresignMethod::Put && !tenant.allow_presign_put {
                return Err(ServiceError::new(
                    ErrorCode::PolicyPresignPutDisabled,
                    "presigned PUT is not enabled by this tenant's policy",
                ));
            }
            Err(ServiceError::new(
                ErrorCode::Unsupported,
                format!(
                    "presign is not available on a {} store; use `get` with a range",
                    tenant.adapter().kind()
                ),
            ))
        }
        .await;
        self.finish(call, result)
    }
}
