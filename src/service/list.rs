//! `list` and `search`, answered from the sealed-metadata index.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, SecondsFormat, Utc};

use super::error::{ErrorCode, ServiceError};
use super::index::Entry;
use super::key::parse_prefix;
use super::{
    Caller, ListInput, ListOutput, ObjectSummary, SearchInput, SearchMatch, SearchOutput, Service,
    cursor,
};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

fn page_size(limit: Option<u32>) -> Result<usize, ServiceError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n as usize),
        _ => Err(ServiceError::new(
            ErrorCode::InvalidArgument,
            format!("limit must be 1-{MAX_LIMIT}"),
        )),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
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

impl Service {
    /// Lists objects in a folder, paginated.
    pub async fn list(
        &self,
        caller: &Caller,
        input: ListInput,
    ) -> Result<ListOutput, ServiceError> {
        let call = self.begin(caller, "list", None, false)?;
        let tenant = call.tenant;
        let result = async {
            let prefix = parse_prefix(input.prefix.as_deref())?;
            let limit = page_size(input.limit)?;
            let delimiter = input.delimiter.unwrap_or(false);
            let query = format!("list\0{}\0{delimiter}", prefix.as_deref().unwrap_or(""));
            let after = input
                .cursor
                .as_deref()
                .map(|c| cursor::decode(&tenant.keyring, &tenant.id, &query, c))
                .transpose()?;
            let out = tenant
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
            let (objects, prefixes, last) = out;
            let next_cursor = last.map(|l| cursor::encode(&tenant.keyring, &tenant.id, &query, &l));
            Ok((
                ListOutput {
                    objects,
                    prefixes: delimiter.then_some(prefixes),
                    next_cursor,
                },
                None,
            ))
        }
        .await;
        self.finish(call, result)
    }

    /// Finds objects by key glob, metadata, content type and modification time.
    pub async fn search(
        &self,
        caller: &Caller,
        input: SearchInput,
    ) -> Result<SearchOutput, ServiceError> {
        let call = self.begin(caller, "search", None, false)?;
        let tenant = call.tenant;
        let result = async {
            let filter = Filter::new(&input)?;
            let limit = page_size(input.limit)?;
            let query = filter.fingerprint(&input);
            let after = input
                .cursor
                .as_deref()
                .map(|c| cursor::decode(&tenant.keyring, &tenant.id, &query, c))
                .transpose()?;
            let (matches, last) = tenant
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
                        hits.push(SearchMatch {
                            key: k.clone(),
                            size: e.size,
                            last_modified: rfc3339(e.last_modified),
                            content_type: e.content_type.clone(),
                            metadata: e.metadata.clone(),
                        });
                    }
                    let last = if more {
                        hits.last().map(|h| h.key.clone())
                    } else {
                        None
                    };
                    (hits, last)
                })
                .await?;
            let next_cursor = last.map(|l| cursor::encode(&tenant.keyring, &tenant.id, &query, &l));
            Ok((
                SearchOutput {
                    matches,
                    next_cursor,
                },
                None,
            ))
        }
        .await;
        self.finish(call, result)
    }
}

type Page = (Vec<ObjectSummary>, Vec<String>, Option<String>);

fn list_page(
    entries: &BTreeMap<String, Entry>,
    prefix: Option<&str>,
    after: Option<&str>,
    delimiter: bool,
    limit: usize,
) -> Page {
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
                objects.push(ObjectSummary {
                    key: k.clone(),
                    size: e.size,
                    last_modified: rfc3339(e.last_modified),
                });
            }
        }
    }
    (objects, prefixes, None)
}

struct Filter {
    prefix: Option<String>,
    glob: Option<globset::GlobMatcher>,
    metadata: BTreeMap<String, String>,
    content_type: Option<String>,
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
}

impl Filter {
    fn new(input: &SearchInput) -> Result<Self, ServiceError> {
        let invalid = |m: &str| ServiceError::new(ErrorCode::InvalidArgument, m.to_owned());
        let time =
            |s: &Option<String>, what: &str| -> Result<Option<DateTime<Utc>>, ServiceError> {
                s.as_deref()
                    .map(|t| {
                        DateTime::parse_from_rfc3339(t)
                            .map(|d| d.with_timezone(&Utc))
                            .map_err(|_| invalid(&format!("{what} must be an RFC 3339 time")))
                    })
                    .transpose()
            };
        let glob = match &input.pattern {
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
            prefix: parse_prefix(input.prefix.as_deref())?,
            glob,
            metadata: input.metadata.clone().unwrap_or_default(),
            content_type: input.content_type.clone(),
            after: time(&input.modified_after, "modified_after")?,
            before: time(&input.modified_before, "modified_before")?,
        })
    }

    fn matches(&self, key: &str, e: &Entry) -> bool {
        self.glob.as_ref().is_none_or(|g| g.is_match(key))
            && self
                .content_type
                .as_ref()
                .is_none_or(|c| *c == e.content_type)
            && self.after.is_none_or(|t| e.last_modified >= t)
            && self.before.is_none_or(|t| e.last_modified < t)
            && self
                .metadata
                .iter()
                .all(|(k, v)| e.metadata.get(k) == Some(v))
    }

    fn fingerprint(&self, input: &SearchInput) -> String {
        let mut q = input.clone();
        q.cursor = None;
        q.limit = None;
        format!("search\0{}", serde_json::to_string(&q).unwrap_or_default())
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
                        last_modified: Utc::now(),
                        content_type: "text/plain".into(),
                        metadata: BTreeMap::new(),
                    },
                )
            })
            .collect()
    }

    fn keys(p: &Page) -> Vec<String> {
        p.0.iter().map(|o| o.key.clone()).collect()
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
