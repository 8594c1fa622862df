//! `list` and `search`, answered from the sealed-metadata index.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::error::{ErrorCode, ServiceError};
use super::index::Entry;
use super::key::parse_prefix;
use super::{
    Caller, IndexedObject, ListRequest, Page, SearchRequest, Service, Tenant, Tool, cursor,
};

/// Default page size.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page size.
pub const MAX_PAGE: u32 = 1000;

fn page_size(limit: Option<u32>) -> Result<usize, ServiceError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n as usize),
        _ => Err(ServiceError::new(
            ErrorCode::InvalidArgument,
            format!("limit must be 1-{MAX_PAGE}"),
        )),
    }
}

/// Keys inside folder `prefix` (all keys when `None`), strictly after `after`.
fn in_folder<'a>(
    entries: &'a BTreeMap<String, Entry>,
    prefix: Option<&'a str>,
    after: Option<&'a str>,
) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
    let folder = prefix.map(|p| format!("{p}/"));
    let lower = match (after, &folder) {
        (Some(a), _) => Bound::Excluded(a.to_owned()),
        (None, Some(f)) => Bound::Included(f.clone()),
        (None, None) => Bound::Unbounded,
    };
    entries
        .range::<String, _>((lower, Bound::Unbounded))
        .take_while(move |(k, _)| folder.as_ref().is_none_or(|f| k.starts_with(f.as_str())))
}

fn indexed(key: &str, e: &Entry) -> IndexedObject {
    IndexedObject {
        key: key.to_owned(),
        size: e.size,
        last_modified: e.last_modified,
        content_type: e.content_type.clone(),
        metadata: e.metadata.clone(),
    }
}

/// The position a cursor resumes after, checked against the query it was issued for.
fn resume_after(
    tenant: &Tenant,
    query: &str,
    cursor: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    cursor
        .map(|c| cursor::decode(&tenant.keyring, &tenant.id, query, c))
        .transpose()
}

fn next_cursor(tenant: &Tenant, query: &str, last: Option<String>) -> Option<String> {
    last.map(|l| cursor::encode(&tenant.keyring, &tenant.id, query, &l))
}

impl Service {
    /// Lists objects in a folder, paginated.
    pub async fn list(&self, caller: &Caller, request: ListRequest) -> Result<Page, ServiceError> {
        if request.cursor.is_none() {
            self.settle_all(caller).await;
        }
        self.run(caller, Tool::List, None, async |tenant| {
            page(tenant, request).await
        })
        .await
    }
}

/// One page of `tenant`'s objects as `request` asks (a `list` without auditing; `locate` pages
/// the same way).
pub(super) async fn page(tenant: &Tenant, request: ListRequest) -> Result<Page, ServiceError> {
    let prefix = parse_prefix(request.prefix.as_deref())?;
    let limit = page_size(request.limit)?;
    let delimiter = request.delimiter;
    let query = format!("list\0{}\0{delimiter}", prefix.as_deref().unwrap_or(""));
    let after = resume_after(tenant, &query, request.cursor.as_deref())?;
    let (objects, prefixes, last) = tenant
        .index
        .read(&tenant.sync_context(), |entries| {
            list_page(
                entries,
                prefix.as_deref(),
                after.as_deref(),
                delimiter,
                limit,
            )
        })
        .await?;
    Ok(Page {
        objects,
        prefixes: delimiter.then_some(prefixes),
        next_cursor: next_cursor(tenant, &query, last),
    })
}

impl Service {
    /// Finds objects by key glob, metadata, content type and modification time.
    pub async fn search(
        &self,
        caller: &Caller,
        request: SearchRequest,
    ) -> Result<Page, ServiceError> {
        if request.cursor.is_none() {
            self.settle_all(caller).await;
        }
        self.run(caller, Tool::Search, None, async |tenant| {
            let filter = Filter::new(&request)?;
            let limit = page_size(request.limit)?;
            let query = filter.fingerprint();
            let after = resume_after(tenant, &query, request.cursor.as_deref())?;
            let (objects, last) = tenant
                .index
                .read(&tenant.sync_context(), |entries| {
                    let mut hits = Vec::new();
                    let mut more = false;
                    for (k, e) in in_folder(entries, filter.prefix.as_deref(), after.as_deref()) {
                        if !filter.matches(k, e) {
                            continue;
                        }
                        if hits.len() == limit {
                            more = true;
                            break;
                        }
                        hits.push(indexed(k, e));
                    }
                    let last = more.then(|| hits.last().map(|h| h.key.clone())).flatten();
                    (hits, last)
                })
                .await?;
            Ok(Page {
                objects,
                prefixes: None,
                next_cursor: next_cursor(tenant, &query, last),
            })
        })
        .await
    }
}

type FolderPage = (Vec<IndexedObject>, Vec<String>, Option<String>);

fn list_page(
    entries: &BTreeMap<String, Entry>,
    prefix: Option<&str>,
    after: Option<&str>,
    delimiter: bool,
    limit: usize,
) -> FolderPage {
    let base = prefix.map(|p| p.len() + 1).unwrap_or(0);
    let mut objects = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    let mut count = 0;
    for (k, e) in in_folder(entries, prefix, after) {
        // With a delimiter, keys below a sub-folder collapse into that folder ("a/b/").
        let folder = delimiter
            .then(|| k[base..].find('/').map(|i| k[..base + i + 1].to_owned()))
            .flatten();
        if let Some(f) = &folder
            && (after.is_some_and(|a| a.starts_with(f.as_str())) || last.as_deref() == Some(f))
        {
            continue;
        }
        if count == limit {
            return (objects, prefixes, last);
        }
        count += 1;
        match folder {
            Some(f) => {
                last = Some(f.clone());
                prefixes.push(f);
            }
            None => {
                last = Some(k.clone());
                objects.push(indexed(k, e));
            }
        }
    }
    (objects, prefixes, None)
}

struct Filter {
    prefix: Option<String>,
    pattern: Option<String>,
    glob: Option<globset::GlobMatcher>,
    metadata: BTreeMap<String, String>,
    content_type: Option<MediaType>,
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
}

impl Filter {
    fn new(request: &SearchRequest) -> Result<Self, ServiceError> {
        let invalid = |m: &str| ServiceError::new(ErrorCode::InvalidArgument, m.to_owned());
        let glob = match &request.pattern {
            None => None,
            Some(p) if p.len() > 1024 => return Err(invalid("pattern is longer than 1024 bytes")),
            Some(p) => Some(
                globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|_| invalid("pattern is not a valid glob"))?
                    .compile_matcher(),
            ),
        };
        Ok(Self {
            prefix: parse_prefix(request.prefix.as_deref())?,
            pattern: request.pattern.clone(),
            glob,
            metadata: request.metadata.clone(),
            content_type: request.content_type.as_deref().map(MediaType::parse),
            after: request.modified_after,
            before: request.modified_before,
        })
    }

    fn matches(&self, key: &str, e: &Entry) -> bool {
        self.glob.as_ref().is_none_or(|g| g.is_match(key))
            && self
                .content_type
                .as_ref()
                .is_none_or(|c| c.admits(&MediaType::parse(&e.content_type)))
            && self.after.is_none_or(|t| e.last_modified >= t)
            && self.before.is_none_or(|t| e.last_modified < t)
            && self
                .metadata
                .iter()
                .all(|(k, v)| e.metadata.get(k) == Some(v))
    }

    /// What a cursor is bound to: every filter, not the page size.
    fn fingerprint(&self) -> String {
        let query = (
            &self.prefix,
            &self.pattern,
            &self.metadata,
            self.content_type.as_ref().map(|c| (&c.essence, &c.params)),
            self.after.map(|t| t.timestamp_micros()),
            self.before.map(|t| t.timestamp_micros()),
        );
        format!(
            "search\0{}",
            serde_json::to_string(&query).unwrap_or_default()
        )
    }
}

/// A media type reduced to what comparisons need: `type/subtype` and its parameters, lower
/// case (RFC 9110: both are case-insensitive; charset values are too, in practice).
#[derive(Debug, PartialEq, Eq)]
struct MediaType {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaType {
    fn parse(s: &str) -> Self {
        let mut parts = s.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_ascii_lowercase(),
                )
            })
            .collect();
        params.sort();
        Self { essence, params }
    }

    /// A filter without parameters matches the media type whatever its parameters; one with
    /// parameters needs them all to be present and equal.
    fn admits(&self, stored: &MediaType) -> bool {
        self.essence == stored.essence && self.params.iter().all(|p| stored.params.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitatlas_adapters::StorageName;

    fn entries(keys: &[&str]) -> BTreeMap<String, Entry> {
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    Entry {
                        name: StorageName::parse("x").unwrap(),
                        size: 1,
                        stored_size: 1,
                        e_tag: None,
                        last_modified: Utc::now(),
                        content_type: "text/plain".into(),
                        metadata: BTreeMap::new(),
                    },
                )
            })
            .collect()
    }

    fn keys(p: &FolderPage) -> Vec<String> {
        p.0.iter().map(|o| o.key.clone()).collect()
    }

    #[test]
    fn media_types_match_with_or_without_parameters() {
        let stored = MediaType::parse("text/plain; charset=utf-8");
        assert!(MediaType::parse("text/plain").admits(&stored));
        assert!(MediaType::parse("Text/Plain").admits(&stored));
        assert!(MediaType::parse("text/plain;charset=UTF-8").admits(&stored));
        assert!(!MediaType::parse("text/plain; charset=latin1").admits(&stored));
        assert!(!MediaType::parse("text/html").admits(&stored));
        assert!(!MediaType::parse("text").admits(&stored));
    }

    #[test]
    fn folder_prefix_excludes_siblings() {
        let e = entries(&["a", "a-evil/x", "a/1", "a/2", "ab"]);
        let p = list_page(&e, Some("a"), None, false, 10);
        assert_eq!(keys(&p), ["a/1", "a/2"]);
    }

    #[test]
    fn delimiter_groups_and_paginates() {
        let e = entries(&["a/1", "a/b/1", "a/b/2", "a/c", "a/d/x"]);
        let p1 = list_page(&e, Some("a"), None, true, 2);
        assert_eq!(keys(&p1), ["a/1"]);
        assert_eq!(p1.1, ["a/b/"]);
        assert_eq!(p1.2.as_deref(), Some("a/b/"));
        let p2 = list_page(&e, Some("a"), p1.2.as_deref(), true, 2);
        assert_eq!(keys(&p2), ["a/c"]);
        assert_eq!(p2.1, ["a/d/"]);
        assert_eq!(p2.2, None);
    }

    #[test]
    fn pagination_visits_every_key_once() {
        let names: Vec<String> = (0..25).map(|i| format!("k/{i:03}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let e = entries(&refs);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = list_page(&e, None, after.as_deref(), false, 7);
            seen.extend(keys(&p));
            match p.2 {
                Some(l) => after = Some(l),
                None => break,
            }
        }
        assert_eq!(seen, names);
    }
}
