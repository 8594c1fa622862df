//! `completion/complete`: the folder argument of the `tidy_folder` prompt is completed from
//! the caller's own folders, through `list` (so it is audited and follows the caller's tool
//! profile: without `list`, nothing is offered). Anything else completes to nothing.

use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference};

use super::prompts::{FOLDER_ARG, TIDY_FOLDER};
use crate::service::{Caller, ListRequest, Service};

/// Values offered at most (the protocol's own cap).
const MAX_VALUES: usize = CompletionInfo::MAX_VALUES;

/// Completes `request` for `caller`.
pub async fn complete(
    service: &Service,
    caller: &Caller,
    request: &CompleteRequestParams,
) -> CompleteResult {
    let wants_folder = matches!(&request.r#ref, Reference::Prompt(p) if p.name == TIDY_FOLDER)
        && request.argument.name == FOLDER_ARG;
    let values = if wants_folder {
        folders(service, caller, &request.argument.value).await
    } else {
        Vec::new()
    };
    let has_more = values.len() > MAX_VALUES;
    let mut values = values;
    values.truncate(MAX_VALUES);
    let mut info = CompletionInfo::new(values).unwrap_or_default();
    info.has_more = Some(has_more);
    CompleteResult::new(info)
}

/// The caller's folders that start with `typed`: the sub-folders of the last complete folder
/// in it (`notes/20` lists `notes/` and keeps `notes/2025/`, `notes/2026/`).
async fn folders(service: &Service, caller: &Caller, typed: &str) -> Vec<String> {
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
        Ok(page) => page
            .prefixes
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.starts_with(typed))
            .collect(),
        Err(_) => Vec::new(),
    }
}
