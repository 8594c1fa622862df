//! Asking the person before a destructive call (`[policies.NAME] confirm`): over a 2025-11-25
//! session by an `elicitation/create` request, for 2026-07-28 clients by the `input_required`
//! round trip (the question goes back as the call's result, the answer comes with the retried
//! call, bound to it by a sealed `requestState`). Accept goes on with the call; decline or
//! cancel answers `CONFIRMATION_DECLINED`; a client that cannot ask gets
//! `CONFIRMATION_REQUIRED`. Nothing happens unless the person accepted; every refusal is
//! audited.

use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitResult,
    ElicitationAction, ElicitationSchema, InputRequest, InputRequests, InputRequiredResult,
    ProtocolVersion,
};
use rmcp::service::RequestContext;
use serde_json::Value;

use super::result::failure;
use super::server::BitAtlasMcp;
use crate::service::{Caller, ServiceError, Tool, confirmation_declined, confirmation_required};

/// The key of the question in `inputRequests` / `inputResponses`.
const QUESTION: &str = "confirm";

/// What to do with a call before it runs.
pub(super) enum Gate {
    /// Run it.
    Proceed,
    /// Answer this instead (a question, or a refusal).
    Answer(CallToolResponse),
}

impl BitAtlasMcp {
    /// Asks, if the caller's policy wants it, before a `delete`, an overwriting `put`, or an
    /// upload link (`transfer` / `presign` PUT) for a key that holds an object.
    pub(super) async fn confirm_gate(
        &self,
        request: &CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Gate {
        let args = request.arguments.as_ref();
        // Upload links replace the object too, when they are used: asked when handed out.
        let uploads = args
            .and_then(|a| a.get("method"))
            .and_then(Value::as_str)
            .is_some_and(|m| m.eq_ignore_ascii_case("PUT"));
        let tool = match request.name.as_ref() {
            "put" => Tool::Put,
            "delete" => Tool::Delete,
            "restore" => Tool::Restore,
            "transfer" if uploads => Tool::Transfer,
            "presign" if uploads => Tool::Presign,
            _ => return Gate::Proceed,
        };
        // Without a caller or a key the call itself refuses; nothing to ask about.
        let Ok(caller) = self.caller(ctx) else {
            return Gate::Proceed;
        };
        // A tool outside the caller's profile is refused by the call; asking first would be
        // a question about something that cannot happen.
        if !self.service.lists_tool(&caller, tool) {
            return Gate::Proceed;
        }
        let Some(key) = args.and_then(|a| a.get("key")).and_then(Value::as_str) else {
            return Gate::Proceed;
        };
        let question = match self.service.confirmation(&caller, tool, key).await {
            Ok(Some(q)) => q,
            Ok(None) => return Gate::Proceed,
            Err(e) => return self.refuse(&caller, tool, key, e),
        };
        // The answer to a question asked before (2026-07-28), for this very call.
        if let Some(answer) = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(QUESTION))
        {
            let bound = request.request_state.as_deref().is_some_and(|state| {
                self.service
                    .confirmation_token_valid(&caller, tool, key, state)
            });
            let accepted = serde_json::from_value::<ElicitResult>(answer.clone())
                .is_ok_and(|r| r.action == ElicitationAction::Accept);
            return match (bound, accepted) {
                (true, true) => Gate::Proceed,
                (true, false) => self.refuse(&caller, tool, key, confirmation_declined(tool)),
                // An answer to no question of ours: ask again.
                (false, _) => self.ask_later(&caller, tool, key, question),
            };
        }
        if ctx
            .client_capabilities()
            .is_none_or(|c| c.elicitation.is_none())
        {
            return self.refuse(&caller, tool, key, confirmation_required(tool));
        }
        let modern = ctx
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        if modern {
            return self.ask_later(&caller, tool, key, question);
        }
        match ctx.peer.create_elicitation(form(question)).await {
            Ok(r) if r.action == ElicitationAction::Accept => Gate::Proceed,
            Ok(_) => self.refuse(&caller, tool, key, confirmation_declined(tool)),
            Err(_) => self.refuse(&caller, tool, key, confirmation_required(tool)),
        }
    }

    /// The question as the call's `input_required` result.
    fn ask_later(&self, caller: &Caller, tool: Tool, key: &str, question: String) -> Gate {
        let token = match self.service.confirmation_token(caller, tool, key) {
            Ok(t) => t,
            Err(e) => return self.refuse(caller, tool, key, e),
        };
        let mut requests = InputRequests::new();
        requests.insert(
            QUESTION.into(),
            InputRequest::Elicitation(ElicitRequest::new(form(question))),
        );
        Gate::Answer(CallToolResponse::InputRequired(InputRequiredResult::new(
            Some(requests),
            Some(token),
        )))
    }

    fn refuse(&self, caller: &Caller, tool: Tool, key: &str, e: ServiceError) -> Gate {
        let e = self.service.reject(caller, tool, Some(key), e);
        Gate::Answer(CallToolResponse::Complete(failure(&e)))
    }
}

/// A yes/no question: a form with no fields, answered by accepting or declining.
fn form(message: String) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: ElicitationSchema::new(Default::default()),
    }
}
