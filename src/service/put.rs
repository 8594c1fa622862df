//! `put`: validate, seal, store, index.

use std::collections::BTreeMap;

use bitatlas_adapters::{AdapterError, StorageName, Written};
use chrono::Utc;

use super::error::{ErrorCode, ServiceError};
use super::index::Entry;
use super::metadata::{check_content_type, check_metadata};
use super::seal_write::{Sealing, seal_and_write};
use super::{
    Caller, DEFAULT_CONTENT_TYPE, ObjectKey, Progress, PutRequest, Service, Stored, Tenant, Tool,
};

impl Service {
    /// Seals and stores an object, replacing any object under the same key.
    pub async fn put(&self, caller: &Caller, request: PutRequest) -> Result<Stored, ServiceError> {
        self.put_reporting(caller, request, None).await
    }

    /// [`Service::put`], telling `progress` of every part stored (large payloads are written
    /// part by part) and stopping, with nothing changed, when it says the call was cancelled.
    pub async fn put_reporting(
        &self,
        caller: &Caller,
        request: PutRequest,
        progress: Option<&dyn Progress>,
    ) -> Result<Stored, ServiceError> {
        let key = request.key.clone();
        self.run(caller, Tool::Put, Some(&key), async |tenant| {
            let max = self.limits().max_inline_bytes;
            if request.data.len() as u64 > max {
                return Err(too_large(max));
            }
            store_object(tenant, request, progress).await
        })
        .await
    }
}

async fn store_object(
    tenant: &Tenant,
    request: PutRequest,
    progress: Option<&dyn Progress>,
) -> Result<Stored, ServiceError> {
    let key = ObjectKey::parse(&request.key)?;
    let content_type = request
        .content_type
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    check_content_type(&content_type)?;
    check_metadata(&request.metadata)?;

    let size = request.data.len() as u64;
    let sealing = Sealing {
        keyring: tenant.sealing_keys().await?,
        tenant: tenant.id.clone(),
        store: tenant.store_name().to_owned(),
        key: key.as_str().to_owned(),
        content_type: content_type.clone(),
        metadata: request.metadata.clone(),
    };
    let name = tenant.name_of(key.as_str())?;
    let _one_writer = tenant.index.lock_key(key.as_str()).await;
    let _no_reconcile = tenant.index.writes.read().await;
    let (stored_size, e_tag) =
        seal_and_write(tenant, &name, sealing, request.data, progress).await?;
    Ok(record_write(
        tenant,
        key.as_str(),
        name,
        (size, stored_size, e_tag),
        content_type,
        request.metadata,
    )
    .await)
}

/// Records a durable write in the index (the caller holds the key's writer lock) and gives
/// the call's answer. The write is done: from here on nothing may turn it into an error.
/// The store's own clock is used when the object it shows is ours; if another instance wrote
/// (or deleted) the key in between, the entity tag tells the next reconcile.
pub(super) async fn record_write(
    tenant: &Tenant,
    key: &str,
    name: StorageName,
    (size, stored_size, e_tag): (u64, u64, Written),
    content_type: String,
    metadata: BTreeMap<String, String>,
) -> Stored {
    let last_modified = match tenant.adapter().head(&name).await {
        Ok(meta) if e_tag.is_none() || meta.e_tag == e_tag => meta.last_modified,
        Ok(_) | Err(AdapterError::NotFound) => Utc::now(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read back a stored object's time");
            Utc::now()
        }
    };
    tenant
        .index
        .upsert(
            key.to_owned(),
            Entry {
                name,
                size,
                stored_size,
                e_tag,
                last_modified,
                content_type,
                metadata,
            },
        )
        .await;
    Stored {
        key: key.to_owned(),
        size,
        placement: tenant.placement().clone(),
    }
}

/// The error for a payload above the inline limit.
pub fn too_large(max: u64) -> ServiceError {
    ServiceError::new(
        ErrorCode::TooLarge,
        format!(
            "payload exceeds the inline limit of {max} bytes; store large files with `put` \
             and a `path` under a files root, or upload them through a `transfer` link"
        ),
    )
}
