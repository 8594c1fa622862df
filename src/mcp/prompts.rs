//! Prompts: a few that help a person or an agent use the store well. `where_is_my_data`
//! states, from the server's own placement records, where the caller's objects are kept and
//! why the server believes it; `tidy_folder` asks the agent to propose (not carry out) a
//! clean-up of one folder.

use rmcp::model::{
    ContentBlock, GetPromptResult, ListPromptsResult, Prompt, PromptArgument, PromptMessage, Role,
};

use crate::service::{Caller, ErrorCode, Service, ServiceError};

/// Name of the residency summary prompt.
pub const WHERE_IS_MY_DATA: &str = "where_is_my_data";
/// Name of the folder clean-up prompt; its one argument is [`FOLDER_ARG`].
pub const TIDY_FOLDER: &str = "tidy_folder";
/// The folder argument of [`TIDY_FOLDER`] (completed from the caller's folders).
pub const FOLDER_ARG: &str = "folder";

/// Every prompt, as `prompts/list` shows them.
pub fn list() -> ListPromptsResult {
    let mut folder = PromptArgument::new(FOLDER_ARG);
    folder.description = Some("The folder to look at, e.g. `notes/2026`.".into());
    folder.required = Some(true);
    ListPromptsResult::with_all_items(vec![
        Prompt::new(
            WHERE_IS_MY_DATA,
            Some(
                "Where your objects are stored: provider, region and country, and whether that country was verified or attested",
            ),
            None,
        ),
        Prompt::new(
            TIDY_FOLDER,
            Some(
                "Review one folder and propose a tidier layout (nothing is moved or deleted without asking)",
            ),
            Some(vec![folder]),
        ),
    ])
}

/// The messages of prompt `name` for `caller`.
pub fn get(
    service: &Service,
    caller: &Caller,
    name: &str,
    folder: Option<&str>,
) -> Result<GetPromptResult, ServiceError> {
    let text = match name {
        WHERE_IS_MY_DATA => {
            let p = service.placement_of(caller)?;
            let evidence = if p.attested {
                "the operator attests this country for a self-hosted or local store; software \
                 cannot verify it"
                    .to_owned()
            } else {
                format!(
                    "the bucket's GetBucketLocation answer at start-up matched this region{}",
                    p.endpoint_host
                        .as_deref()
                        .map(|h| format!(" (endpoint {h})"))
                        .unwrap_or_default()
                )
            };
            format!(
                "Your objects are stored in store `{}`: provider `{}`, region `{}`, country {} \
                 ({evidence}). Object contents, keys, content types and metadata are encrypted \
                 on this server before they reach the store, which sees opaque names and \
                 ciphertext only, and every call is recorded in the audit trail. Summarise this \
                 for me in plain words.",
                p.store, p.provider, p.region, p.country
            )
        }
        TIDY_FOLDER => {
            let folder = folder
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .ok_or_else(|| {
                    ServiceError::new(
                        ErrorCode::InvalidArgument,
                        format!("the prompt {TIDY_FOLDER} needs the argument {FOLDER_ARG}"),
                    )
                })?;
            format!(
                "List the folder `{folder}` with the `list` tool (with `delimiter`, then its \
                 sub-folders), and `search` it for near-duplicates by name. Then propose a \
                 tidier layout: what to group, rename or remove, and why. Do not `put` or \
                 `delete` anything yet: show me the plan and wait for my go-ahead."
            )
        }
        _ => {
            return Err(ServiceError::new(
                ErrorCode::InvalidArgument,
                format!("no prompt named {name:?} (prompts: {WHERE_IS_MY_DATA}, {TIDY_FOLDER})"),
            ));
        }
    };
    let mut result = GetPromptResult::new(vec![PromptMessage::new(
        Role::User,
        ContentBlock::text(text),
    )]);
    result.description = list()
        .prompts
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| p.description);
    Ok(result)
}
