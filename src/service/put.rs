//! `put`: validate, seal, store, index.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;

use super::error::{ErrorCode, ServiceError};
use super::index::Entry;
use super::metadata::{check_content_type, check_metadata};
use super::{Caller, ObjectKey, PutInput, PutOutput, Service};
use crate::crypto::{self, Context};

/// Content type given to text payloads without one.
pub const DEFAULT_TEXT_TYPE: &str = "text/plain; charset=utf-8";
/// Content type given to binary payloads without one.
pub const DEFAULT_BINARY_TYPE: &str = "application/octet-stream";

impl Service {
    /// Seals and stores an object.
    pub async fn put(&self, caller: &Caller, input: PutInput) -> Result<PutOutput, ServiceError> {
        let key_for_audit = input.key.clone();
        let call = self.begin(caller, "put", Some(&key_for_audit), true)?;
        let tenant = call.tenant;
        let result = async {
            let key = ObjectKey::parse(&input.key)?;
            let max = self.limits().max_inline_bytes;
            let (data, default_type) = decode_payload(&input, max)?;
            let content_type = input
                .content_type
                .unwrap_or_else(|| default_type.to_owned());
            check_content_type(&content_type)?;
            let metadata = input.metadata.unwrap_or_default();
            check_metadata(&metadata)?;

            let size = data.len() as u64;
            let keyring = Arc::clone(&tenant.keyring);
            let (tenant_id, store) = (tenant.id.clone(), tenant.store_name().to_owned());
            let (k, ct, md) = (
                key.as_str().to_owned(),
                content_type.clone(),
                metadata.clone(),
            );
            let sealed = tokio::task::spawn_blocking(move || {
                let ctx = Context {
                    tenant: &tenant_id,
                    store: &store,
                    key: &k,
                };
                crypto::seal(&keyring, &ctx, Some(&ct), &md, &data)
            })
            .await
            .map_err(|_| ServiceError::new(ErrorCode::Internal, "sealing task failed"))?
            .map_err(|e| {
                tracing::error!(code = e.code(), "sealing failed");
                ServiceError::new(ErrorCode::Internal, "sealing failed")
            })?;

            let name = tenant.name_of(key.as_str())?;
            let stored_size = sealed.len() as u64;
            {
                let _write = tenant.index.writes.read().await;
                tenant.adapter().put(&name, Bytes::from(sealed)).await?;
                let meta = tenant.adapter().head(&name).await?;
                tenant
                    .index
                    .upsert(
                        key.as_str().to_owned(),
                        Entry {
                            name,
                            size,
                            stored_size,
                            last_modified: meta.last_modified,
                            content_type,
                            metadata,
                        },
                    )
                    .await;
            }
            let out = PutOutput {
                key: key.as_str().to_owned(),
                size,
                stored: tenant.placement().clone(),
            };
            Ok((out, Some(size)))
        }
        .await;
        self.finish(call, result)
    }
}

fn decode_payload(input: &PutInput, max: u64) -> Result<(Vec<u8>, &'static str), ServiceError> {
    let too_large = || {
        ServiceError::new(
            ErrorCode::TooLarge,
            format!(
                "payload exceeds the inline limit of {max} bytes; upload large objects with \
                 `bitatlas seal` and a presigned PUT URL (tool `presign`)"
            ),
        )
    };
    match (&input.text, &input.base64) {
        (Some(text), None) => {
            if text.len() as u64 > max {
                return Err(too_large());
            }
            Ok((text.as_bytes().to_vec(), DEFAULT_TEXT_TYPE))
        }
        (None, Some(b64)) => {
            // Decoded size is at most 3/4 of the encoded length: refuse early.
            if (b64.len() as u64 / 4).saturating_mul(3) > max.saturating_add(3) {
                return Err(too_large());
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| {
                    ServiceError::new(
                        ErrorCode::InvalidArgument,
                        "base64 is not valid standard base64 (with padding)",
                    )
                })?;
            if data.len() as u64 > max {
                return Err(too_large());
            }
            Ok((data, DEFAULT_BINARY_TYPE))
        }
        _ => Err(ServiceError::new(
            ErrorCode::InvalidArgument,
            "give exactly one of `text` or `base64`",
        )),
    }
}
