//! `list`: page through a folder.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::result::{structured, with_links};
use crate::mcp::time;
use crate::service::{
    Caller, IndexedObject, Limits, ListRequest, Page, Progress, Service, ServiceError,
};

/// `list` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Folder: `a` or `a/` lists `a/...` (never `a-b/...`).
    pub prefix: Option<String>,
    /// Direct children only; sub-folders in `prefixes`.
    pub delimiter: Option<bool>,
    /// Page size 1-1000 (default 100).
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Args for ListArgs {
    type Request = ListRequest;
    type Output = ListResult;
    fn into_request(self, _: &Limits) -> Result<ListRequest, ServiceError> {
        Ok(ListRequest {
            prefix: self.prefix,
            delimiter: self.delimiter.unwrap_or(false),
            limit: self.limit,
            cursor: self.cursor,
        })
    }

    async fn call(s: &Service, c: &Caller, r: ListRequest, _: Option<&dyn Progress>) -> Outcome {
        let page = s.list(c, r).await?;
        let links: Vec<(String, String, u64)> = page
            .objects
            .iter()
            .map(|o| (o.key.clone(), o.content_type.clone(), o.size))
            .collect();
        let result = structured(&ListResult::from(page));
        Ok(with_links(
            result,
            links
                .iter()
                .map(|(k, m, n)| (k.as_str(), Some(m.as_str()), *n)),
        ))
    }
}

/// What a model reads about `list`.
pub const ABOUT: &str = "List a folder, sorted by key. Pass `next_cursor` back as `cursor` for \
the next page. Example: {\"prefix\":\"notes\",\"delimiter\":true}";

/// One object in a listing.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Listed {
    key: String,
    size: u64,
    last_modified: String,
}

impl From<IndexedObject> for Listed {
    fn from(o: IndexedObject) -> Self {
        Self {
            key: o.key,
            size: o.size,
            last_modified: time::format(o.last_modified),
        }
    }
}

/// `list` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListResult {
    objects: Vec<Listed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefixes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl From<Page> for ListResult {
    fn from(p: Page) -> Self {
        Self {
            objects: p.objects.into_iter().map(Listed::from).collect(),
            prefixes: p.prefixes,
            next_cursor: p.next_cursor,
        }
    }
}
