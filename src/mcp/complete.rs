//! `completion/complete`: the `key` of the `bitatlas://{key}` resource template completes to
//! the caller's keys and folders, the folder argument of the `tidy_folder` prompt to folders;
//! both through `list` (so it is audited and follows the caller's tool profile: without
//! `list`, nothing is offered). Anything else completes to nothing.

use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference};

use super::prompts::{FOLDER_ARG, TIDY_FOLDER};
use super::resources::SCHEME;
use crate::service::{Caller, ListRequest, Service};

/// Values offered at most (the protocol's own cap).
const MAX_VALUES: usize = CompletionInfo::MAX_VALUES;

/// Completes `request` for `caller`.
pub async fn complete(
    service: &Service,
    caller: &Caller,
    request: &CompleteRequestParams,
) -> CompleteResult {
    let typed = &request.argument.value;
    let values = match &request.r#ref {
        Reference::Prompt(p) if p.name == TIDY_FOLDER && request.argument.name == FOLDER_ARG => {
            children(service, caller, typed, false).await
        }
        Reference::Resource(r)
            if r.uri == format!("{SCHEME}{{key}}") && request.argument.name == "key" =>
        {
            children(service, caller, typed, true).await
        }
        _ => Vec::new(),
    };
    let has_more = values.len() > MAX_VALUES;
    let mut values = values;
    values.truncate(MAX_VALUES);
    let mut info = CompletionInfo::new(values).unwrap_or_default();
    info.has_more = Some(has_more);
    CompleteResult::new(info)
}

/// The caller's folders (and, with `keys`, objects) that start with `typed`: the children of
/// the last complete folder in it (`notes/20` lists `notes/` and keeps `notes/2025/`,
/// `notes/2026/`), folders first.
async fn children(service: &Service, caller: &Caller, typed: &str, keys: bool) -> Vec<String> {
    let parent = typed
        .rfind('/')
        .map(|i| &typed[..=i])
        .filter(|p| p.len() > 1);
    let request = ListRequest {
        prefix: parent.map(str::to_owned),
        delimiter: true,
        limit: Some(crate::service::MAX_PAGE),
        cursor: None,
    };
    match service.list(caller, request).await {
        Ok(page) => {
            let objects = page.objects.into_iter().filter(|_| keys).map(|o| o.key);
            page.prefixes
                .unwrap_or_default()
                .into_iter()
                .chain(objects)
                .filter(|p| p.starts_with(typed))
                .collect()
        }
        Err(_) => Vec::new(),
    }
}
