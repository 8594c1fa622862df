//! `put`: validate, seal, store, index.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;

use super::error::{ErrorCode, ServiceError};
use super::index::Entry;
use super::metadata::{check_content_type, check_metadata};
use super::seal_write::{Sealing, seal_and_write};
use super::{Caller, ObjectKey, PutBytes, PutInput, PutOutput, Service, Tenant};

/// Content type given to text payloads without one.
pub const DEFAULT_TEXT_TYPE: &str = "text/plain; charset=utf-8";
/// Content type given to binary payloads without one.
pub const DEFAULT_BINARY_TYPE: &str = "application/octet-stream";

impl Service {
    /// Seals and stores an object given as text or base64 (the `put` tool).
    pub async fn put(&self, caller: &Caller, input: PutInput) -> Result<PutOutput, ServiceError> {
        let key_for_audit = input.key.clone();
        let call = self.begin(caller, "put", Some(&key_for_audit), true)?;
        let result = async {
            let max = self.limits().max_inline_bytes;
            let (data, default_type) = decode_payload(input.text, input.base64, max)?;
            let object = PutBytes {
                key: input.key,
                data: Bytes::from(data),
                content_type: input.content_type,
                metadata: input.metadata,
            };
            self.store_object(call.tenant, object, default_type).await
        }
        .await;
        self.finish(call, result)
    }

    /// Seals and stores an object given as bytes: [`Service::put`] without the wire encoding.
    pub async fn put_bytes(
        &self,
        caller: &Caller,
        input: PutBytes,
    ) -> Result<PutOutput, ServiceError> {
        let key_for_audit = input.key.clone();
        let call = self.begin(caller, "put", Some(&key_for_audit), true)?;
        let result = async {
            let max = self.limits().max_inline_bytes;
            if input.data.len() as u64 > max {
                return Err(too_large(max));
            }
            self.store_object(call.tenant, input, DEFAULT_BINARY_TYPE)
                .await
        }
        .await;
        self.finish(call, result)
    }

    async fn store_object(
        &self,
        tenant: &Tenant,
        input: PutBytes,
        default_type: &str,
    ) -> Result<(PutOutput, Option<u64>), ServiceError> {
        let key = ObjectKey::parse(&input.key)?;
        let content_type = input
            .content_type
            .unwrap_or_else(|| default_type.to_owned());
        check_content_type(&content_type)?;
        let metadata = input.metadata.unwrap_or_default();
        check_metadata(&metadata)?;

        let size = input.data.len() as u64;
        let sealing = Sealing {
            keyring: Arc::clone(&tenant.keyring),
            tenant: tenant.id.clone(),
            store: tenant.store_name().to_owned(),
            key: key.as_str().to_owned(),
            content_type: content_type.clone(),
            metadata: metadata.clone(),
        };
        let name = tenant.name_of(key.as_str())?;
        let write_guard = tenant.index.writes.read().await;
        let stored_size = seal_and_write(tenant.adapter(), &name, sealing, input.data).await?;
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
        drop(write_guard);
        let out = PutOutput {
            key: key.as_str().to_owned(),
            size,
            stored: tenant.placement().clone(),
        };
        Ok((out, Some(size)))
    }
}

fn too_large(max: u64) -> ServiceError {
    ServiceError::new(
        ErrorCode::TooLarge,
        format!(
            "payload exceeds the inline limit of {max} bytes; upload large objects with \
             `bitatlas seal` and a presigned PUT URL (tool `presign`)"
        ),
    )
}

fn decode_payload(
    text: Option<String>,
    base64: Option<String>,
    max: u64,
) -> Result<(Vec<u8>, &'static str), ServiceError> {
    match (text, base64) {
        (Some(text), None) => {
            if text.len() as u64 > max {
                return Err(too_large(max));
            }
            Ok((text.into_bytes(), DEFAULT_TEXT_TYPE))
        }
        (None, Some(b64)) => {
            // Decoded size is at most 3/4 of the encoded length: refuse early.
            if (b64.len() as u64 / 4).saturating_mul(3) > max.saturating_add(3) {
                return Err(too_large(max));
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
                return Err(too_large(max));
            }
            Ok((data, DEFAULT_BINARY_TYPE))
        }
        _ => Err(ServiceError::new(
            ErrorCode::InvalidArgument,
            "give exactly one of `text` or `base64`",
        )),
    }
}
