//! `put`: validate, seal, store, index.

use std::sync::Arc;

use super::error::{ErrorCode, ServiceError};
use super::index::Entry;
use super::metadata::{check_content_type, check_metadata};
use super::seal_write::{Sealing, seal_and_write};
use super::{Caller, DEFAULT_CONTENT_TYPE, ObjectKey, PutRequest, Service, Stored, Tenant, Tool};

impl Service {
    /// Seals and stores an object, replacing any object under the same key.
    pub async fn put(&self, caller: &Caller, request: PutRequest) -> Result<Stored, ServiceError> {
        let key = request.key.clone();
        self.run(caller, Tool::Put, Some(&key), async |tenant| {
            let max = self.limits().max_inline_bytes;
            if request.data.len() as u64 > max {
                return Err(too_large(max));
            }
            store_object(tenant, request).await
        })
        .await
    }
}

async fn store_object(tenant: &Tenant, request: PutRequest) -> Result<Stored, ServiceError> {
    let key = ObjectKey::parse(&request.key)?;
    let content_type = request
        .content_type
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    check_content_type(&content_type)?;
    check_metadata(&request.metadata)?;

    let size = request.data.len() as u64;
    let sealing = Sealing {
        keyring: Arc::clone(&tenant.keyring),
        tenant: tenant.id.clone(),
        store: tenant.store_name().to_owned(),
        key: key.as_str().to_owned(),
        content_type: content_type.clone(),
        metadata: request.metadata.clone(),
    };
    let name = tenant.name_of(key.as_str())?;
    let write_guard = tenant.index.writes.read().await;
    let stored_size = seal_and_write(tenant.adapter(), &name, sealing, request.data).await?;
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
                metadata: request.metadata,
            },
        )
        .await;
    drop(write_guard);
    Ok(Stored {
        key: key.as_str().to_owned(),
        size,
        placement: tenant.placement().clone(),
    })
}

/// The error for a payload above the inline limit.
pub fn too_large(max: u64) -> ServiceError {
    ServiceError::new(
        ErrorCode::TooLarge,
        format!(
            "payload exceeds the inline limit of {max} bytes; upload large objects with \
             `bitatlas seal` and a presigned PUT URL (tool `presign`)"
        ),
    )
}
