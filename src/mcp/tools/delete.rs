//! `delete`: idempotent removal.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::result::structured;
use crate::service::{Caller, Deleted, Limits, Progress, Service, ServiceError};

/// `delete` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// Object key.
    pub key: String,
    /// Also remove every kept version (the undo window): nothing of the key stays restorable.
    pub purge: Option<bool>,
}

impl Args for DeleteArgs {
    type Request = (String, bool);
    type Output = DeleteResult;
    fn into_request(self, _: &Limits) -> Result<(String, bool), ServiceError> {
        Ok((self.key, self.purge.unwrap_or(false)))
    }

    async fn call(
        s: &Service,
        c: &Caller,
        (key, purge): (String, bool),
        _: Option<&dyn Progress>,
    ) -> Outcome {
        let deleted = if purge {
            s.purge(c, &key).await?
        } else {
            s.delete(c, &key).await?
        };
        Ok(structured(&DeleteResult::from(deleted)))
    }
}

/// What a model reads about `delete`.
pub const ABOUT: &str = "Delete the object at `key`. Idempotent: a missing key gives \
`deleted: false`. Example: {\"key\":\"notes/a.txt\"}";

/// `delete` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteResult {
    key: String,
    deleted: bool,
}

impl From<Deleted> for DeleteResult {
    fn from(d: Deleted) -> Self {
        Self {
            key: d.key,
            deleted: d.deleted,
        }
    }
}
