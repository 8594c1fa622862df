//! `delete`: idempotent removal.

use super::error::ServiceError;
use super::{Caller, DeleteInput, DeleteOutput, ObjectKey, Service};

impl Service {
    /// Deletes an object; a missing key is not an error.
    pub async fn delete(
        &self,
        caller: &Caller,
        input: DeleteInput,
    ) -> Result<DeleteOutput, ServiceError> {
        let key_for_audit = input.key.clone();
        let call = self.begin(caller, "delete", Some(&key_for_audit), true)?;
        let tenant = call.tenant;
        let result = async {
            let key = ObjectKey::parse(&input.key)?;
            let name = tenant.name_of(key.as_str())?;
            let deleted = {
                let _write = tenant.index.writes.read().await;
                let deleted = tenant.adapter().delete(&name).await?;
                tenant.index.remove(key.as_str()).await;
                deleted
            };
            Ok((
                DeleteOutput {
                    key: input.key,
                    deleted,
                },
                None,
            ))
        }
        .await;
        self.finish(call, result)
    }
}
