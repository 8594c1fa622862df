//! `delete`: idempotent removal.

use super::error::ServiceError;
use super::{Caller, Deleted, ObjectKey, Service, Tool};

impl Service {
    /// Deletes an object; a missing key is not an error (`deleted: false`).
    pub async fn delete(&self, caller: &Caller, key: &str) -> Result<Deleted, ServiceError> {
        self.run(caller, Tool::Delete, Some(key), async |tenant| {
            let parsed = ObjectKey::parse(key)?;
            let name = tenant.name_of(parsed.as_str())?;
            let _one_writer = tenant.index.lock_key(parsed.as_str()).await;
            let _no_reconcile = tenant.index.writes.read().await;
            super::versions::keep_current(tenant, &name).await?;
            let deleted = tenant.adapter().delete(&name).await?;
            tenant.index.remove(parsed.as_str()).await;
            Ok(Deleted {
                key: key.to_owned(),
                deleted,
            })
        })
        .await
    }
}
