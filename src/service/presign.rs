//! `presign`: time-limited URLs on the verified endpoint of S3 stores.

use std::time::Duration;

use bitatlas_adapters::AdapterError;

use super::error::{ErrorCode, ServiceError};
use super::{Caller, ObjectKey, PresignMethod, PresignRequest, Presigned, Service, Tool, staged};

/// Default lifetime of a presigned URL, seconds.
pub const DEFAULT_EXPIRY: u64 = 900;
/// Longest lifetime of a presigned URL, seconds.
pub const MAX_EXPIRY: u64 = 3600;

impl Service {
    /// Returns a presigned URL for the sealed object.
    pub async fn presign(
        &self,
        caller: &Caller,
        request: PresignRequest,
    ) -> Result<Presigned, ServiceError> {
        let key = request.key.clone();
        self.run(caller, Tool::Presign, Some(&key), async |tenant| {
            if request.method == PresignMethod::Put && !tenant.tools.allows_writes() {
                return Err(super::profile::writes_disabled(Tool::Presign));
            }
            let parsed = ObjectKey::parse(&request.key)?;
            let expires = request.expires_in.unwrap_or(DEFAULT_EXPIRY);
            if expires == 0 || expires > MAX_EXPIRY {
                return Err(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    format!("expires_in must be 1-{MAX_EXPIRY} seconds"),
                ));
            }
            if request.method == PresignMethod::Put && !tenant.allow_presign_put {
                return Err(ServiceError::new(
                    ErrorCode::PolicyPresignPutDisabled,
                    "presigned PUT is not enabled by this tenant's policy",
                ));
            }
            // A PUT URL uploads beside the object, never over it (see `staged`).
            let name = match request.method {
                PresignMethod::Get => tenant.name_of(parsed.as_str())?,
                PresignMethod::Put => {
                    staged::sweep(tenant).await;
                    staged::staging_name(tenant, parsed.as_str())?
                }
            };
            let url = match tenant
                .adapter()
                .presign(&name, request.method, Duration::from_secs(expires))
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
            Ok(Presigned {
                host: url.host_str().unwrap_or_default().to_owned(),
                url: url.to_string(),
                method: request.method,
                expires_at: chrono::Utc::now() + chrono::Duration::seconds(expires as i64),
                placement: tenant.placement().clone(),
            })
        })
        .await
    }
}
