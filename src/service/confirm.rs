//! Confirmation of destructive calls: whether a call must ask the person first, and what to
//! tell them. The asking itself is the front end's (MCP elicitation); its answer comes back as
//! going on with the call, or as [`declined`] / [`required`].

use bitatlas_adapters::AdapterError;

use super::error::{ErrorCode, ServiceError};
use super::{Caller, ObjectKey, Service, Tool};

impl Service {
    /// What `caller` must confirm before `tool` on `key` runs, in words for the person
    /// (naming the key and what will be lost); `None` when nothing needs confirming: the
    /// policy does not ask for it, the key is not valid (the call will refuse it), or there is
    /// no object to lose.
    pub async fn confirmation(
        &self,
        caller: &Caller,
        tool: Tool,
        key: &str,
    ) -> Result<Option<String>, ServiceError> {
        let tenant = self.tenant(caller)?;
        let asks = match tool {
            Tool::Delete => tenant.confirm.delete,
            // An upload link replaces the object when it is used.
            Tool::Put | Tool::Restore | Tool::Transfer | Tool::Presign => tenant.confirm.overwrite,
            _ => false,
        };
        let Ok(parsed) = ObjectKey::parse(key) else {
            return Ok(None);
        };
        if !asks {
            return Ok(None);
        }
        let name = tenant.name_of(parsed.as_str())?;
        let meta = match tenant.adapter().head(&name).await {
            Ok(meta) => meta,
            Err(AdapterError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let when = meta.last_modified.format("%Y-%m-%d %H:%M UTC");
        let what = match tool {
            Tool::Delete => "Delete",
            Tool::Put => "Overwrite",
            Tool::Restore => "Restore an older version over",
            _ => "Hand out an upload link that can overwrite",
        };
        let fate = match tenant.keep_versions {
            Some(keep) => format!(
                "will be kept as a version for {} days, restorable with `restore`",
                keep.as_secs() / 86_400
            ),
            None => "will be lost; this cannot be undone".to_owned(),
        };
        Ok(Some(format!(
            "{what} `{}` in store {}? The current version (stored {when}, about {} bytes \
             sealed) {fate}.",
            parsed.as_str(),
            tenant.store_name(),
            meta.size
        )))
    }
}

/// The person said no.
pub fn declined(tool: Tool) -> ServiceError {
    ServiceError::new(
        ErrorCode::ConfirmationDeclined,
        format!("the {} was not confirmed; nothing was done", tool.name()),
    )
}

/// The client cannot ask the person.
pub fn required(tool: Tool) -> ServiceError {
    ServiceError::new(
        ErrorCode::ConfirmationRequired,
        format!(
            "this {} needs the person's confirmation (the tenant's policy), and this client \
             cannot ask for it (no elicitation); nothing was done",
            tool.name()
        ),
    )
}

/// What a confirmation token is bound to besides its tenant: the tool and the key.
fn token_context(tool: Tool, key: &str) -> String {
    format!("{}\0{key}", tool.name())
}

/// Purpose of confirmation tokens (see `crypto::seal_token`).
const PURPOSE: &str = "confirm";
/// How long a question may wait for its answer.
const TOKEN_SECS: i64 = 600;

impl Service {
    /// A token naming the question asked of `caller` about `tool` on `key`, valid for ten
    /// minutes: a client that answers in a later request (the 2026-07-28 round trip) hands it
    /// back, so an answer counts only for the call it was asked about.
    pub fn confirmation_token(
        &self,
        caller: &Caller,
        tool: Tool,
        key: &str,
    ) -> Result<String, ServiceError> {
        let tenant = self.tenant(caller)?;
        let until = (chrono::Utc::now().timestamp() + TOKEN_SECS).to_string();
        let context = token_context(tool, key);
        crate::crypto::seal_token(
            &tenant.keyring,
            &tenant.id,
            PURPOSE,
            context.as_bytes(),
            until.as_bytes(),
        )
        .map(|t| crate::crypto::token_text(&t))
        .map_err(|_| ServiceError::new(ErrorCode::Internal, "could not seal a confirmation"))
    }

    /// Whether `token` is a live [`Service::confirmation_token`] for this call.
    pub fn confirmation_token_valid(
        &self,
        caller: &Caller,
        tool: Tool,
        key: &str,
        token: &str,
    ) -> bool {
        let Ok(tenant) = self.tenant(caller) else {
            return false;
        };
        let Some(raw) = crate::crypto::token_from_text(token) else {
            return false;
        };
        let context = token_context(tool, key);
        crate::crypto::open_token(
            &tenant.keyring,
            &tenant.id,
            PURPOSE,
            context.as_bytes(),
            &raw,
        )
        .ok()
        .and_then(|until| std::str::from_utf8(&until).ok()?.parse::<i64>().ok())
        .is_some_and(|until| chrono::Utc::now().timestamp() <= until)
    }
}
