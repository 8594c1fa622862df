//! `presign`: time-limited URLs on the verified endpoint of S3 stores.

use std::time::Duration;

use bitatlas_adapters::{AdapterError, PresignMethod as AdapterMethod};

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
            let name = tenant.name_of(&input.key)?;
            let method = match input.method {
                PresignMethod::Get => AdapterMethod::Get,
                PresignMethod::Put => AdapterMethod::Put,
            };
            let url = match tenant
                .adapter()
                .presign(&name, method, Duration::from_secs(expires))
                .await
            {
                Ok(url) => url,
                Err(AdapterError::Unsupported) => {
                    return Err(ServiceError::new(
                        ErrorCode::Unsupported,
                        format!(
                            "presign is not available on a {} store; use `get` with a range",
                            tenant.adapter().kind()
                        ),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            // The URL must point at the endpoint the guard verified, nowhere else.
            if let Err(e) = tenant.store.check_presigned_url(url.as_str()) {
                tracing::error!(code = e.code(), "presigned URL refused by the guard");
                return Err(ServiceError::new(
                    ErrorCode::Internal,
                    "the presigned URL does not point at the verified endpoint; refused",
                ));
            }
            let host = url.host_str().unwrap_or_default().to_owned();
            let placement = tenant.placement();
            let expires_at = chrono::Utc::now() + chrono::Duration::seconds(expires as i64);
            Ok((
                PresignOutput {
                    url: url.to_string(),
                    method: input.method,
                    expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    host,
                    region: placement.region.clone(),
                    country: placement.country.clone(),
                },
                None,
            ))
        }
        .await;
        self.finish(call, result)
    }
}
