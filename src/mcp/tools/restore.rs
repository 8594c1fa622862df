//! `restore`: make a kept version the current object again.

use schemars::JsonSchema;
use serde::Deserialize;

use super::put::PutResult;
use super::{Args, Outcome};
use crate::mcp::result::{structured, with_links};
use crate::service::{Caller, Limits, Progress, Service, ServiceError};

/// `restore` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreArgs {
    /// Object key.
    pub key: String,
    /// A version id from `versions`.
    pub version: String,
}

impl Args for RestoreArgs {
    type Request = (String, String);
    type Output = PutResult;
    fn into_request(self, _: &Limits) -> Result<(String, String), ServiceError> {
        Ok((self.key, self.version))
    }

    async fn call(
        s: &Service,
        c: &Caller,
        (key, version): (String, String),
        _: Option<&dyn Progress>,
    ) -> Outcome {
        let stored = s.restore(c, &key, &version).await?;
        let size = stored.size;
        let result = structured(&PutResult::from(stored));
        Ok(with_links(result, [(key.as_str(), None, size)]))
    }
}

/// What a model reads about `restore`.
pub const ABOUT: &str = "Make a version listed by `versions` the current object at `key` \
again; the object it replaces is kept as a version, so a restore can be undone too. \
Example: {\"key\":\"notes/a.txt\",\"version\":\"01764800000123456789\"}";
