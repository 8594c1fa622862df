//! `search`: find objects by key glob and sealed metadata.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Args, Outcome};
use crate::mcp::result::structured;
use crate::mcp::time;
use crate::service::{
    Caller, ErrorCode, IndexedObject, Limits, Page, Progress, SearchRequest, Service, ServiceError,
};

/// `search` arguments; every filter given must match.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Only under this folder.
    pub prefix: Option<String>,
    /// Glob on the whole key: `*` within a segment, `**` across, `?`, `[ab]`, `{x,y}`.
    pub pattern: Option<String>,
    /// Exact metadata values.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Media type, e.g. `text/plain`.
    pub content_type: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (inclusive).
    pub modified_after: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (exclusive).
    pub modified_before: Option<String>,
    /// Page size 1-1000 (default 100).
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Args for SearchArgs {
    type Request = SearchRequest;
    type Output = SearchResult;
    fn into_request(self, _: &Limits) -> Result<SearchRequest, ServiceError> {
        let time = |s: Option<String>, what: &str| {
            s.map(|s| {
                time::parse(&s).ok_or_else(|| {
                    ServiceError::new(
                        ErrorCode::InvalidArgument,
                        format!("{what} must be an RFC 3339 time or a date YYYY-MM-DD"),
                    )
                })
            })
            .transpose()
        };
        Ok(SearchRequest {
            modified_after: time(self.modified_after, "modified_after")?,
            modified_before: time(self.modified_before, "modified_before")?,
            prefix: self.prefix,
            pattern: self.pattern,
            metadata: self.metadata.unwrap_or_default(),
            content_type: self.content_type,
            limit: self.limit,
            cursor: self.cursor,
        })
    }

    async fn call(s: &Service, c: &Caller, r: SearchRequest, _: Option<&dyn Progress>) -> Outcome {
        Ok(structured(&SearchResult::from(s.search(c, r).await?)))
    }
}

/// What a model reads about `search`.
pub const ABOUT: &str = "Find objects by key glob, metadata, content type and modification \
time; paginated like `list`. Example: {\"pattern\":\"reports/**/*.pdf\"}";

/// One search hit.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Match {
    key: String,
    size: u64,
    last_modified: String,
    content_type: String,
    metadata: BTreeMap<String, String>,
}

impl From<IndexedObject> for Match {
    fn from(o: IndexedObject) -> Self {
        Self {
            key: o.key,
            size: o.size,
            last_modified: time::format(o.last_modified),
            content_type: o.content_type,
            metadata: o.metadata,
        }
    }
}

/// `search` result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchResult {
    matches: Vec<Match>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl From<Page> for SearchResult {
    fn from(p: Page) -> Self {
        Self {
            matches: p.objects.into_iter().map(Match::from).collect(),
            next_cursor: p.next_cursor,
        }
    }
}
