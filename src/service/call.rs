//! One audited call: every tool runs through [`Service::run`], which resolves and authorizes
//! the caller, records the intent of a mutating call before anything happens, runs the tool's
//! own logic, then records the outcome and the metrics. A tool's method is its logic only.

use std::time::Instant;

use super::error::{ErrorCode, ServiceError};
use super::profile::tool_disabled;
use super::{Caller, Service, Tenant};
use crate::audit::{AuditEvent, Phase};
use crate::residency::Placement;

/// The tools the service offers. The name is what audit records, metrics and the MCP layer
/// call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tool {
    /// Store an object.
    Put,
    /// Read an object or a range of it.
    Get,
    /// Remove an object.
    Delete,
    /// Page through a folder.
    List,
    /// Find objects by key and sealed metadata.
    Search,
    /// Hand out a presigned URL on the store.
    Presign,
    /// Hand out a transfer link on this server.
    Transfer,
    /// Make an upload through a presigned PUT URL the object (`presign` with `commit`, or
    /// the read that found it).
    PresignCommit,
    /// An upload through a transfer link (not a tool of its own: the link's use).
    LinkUpload,
    /// A download through a transfer link.
    LinkDownload,
    /// List the kept versions of a key (the undo window).
    Versions,
    /// Make a kept version the current object again.
    Restore,
    /// Where an object's copies are, under which key (the right to know).
    Locate,
    /// Erase a key, a folder or a whole tenant (the operator's `bitatlas erase`; no MCP tool).
    Erase,
    /// Rewrap every envelope under the primary KEK, or count envelopes per KEK (the
    /// operator's `bitatlas keys rewrap` / `keys retire`; no MCP tool).
    Rewrap,
    /// Compare a tenant's copies (the operator's `bitatlas replicas check`; no MCP tool).
    ReplicasCheck,
    /// Make every replica what the home store holds (`bitatlas replicas repair`).
    ReplicasRepair,
}

impl Tool {
    /// Every tool, in the order `tools/list` shows them.
    pub const ALL: [Tool; 10] = [
        Tool::Put,
        Tool::Get,
        Tool::Delete,
        Tool::List,
        Tool::Search,
        Tool::Presign,
        Tool::Transfer,
        Tool::Locate,
        Tool::Versions,
        Tool::Restore,
    ];

    /// The tool's name on the wire and in the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Put => "put",
            Tool::Get => "get",
            Tool::Delete => "delete",
            Tool::List => "list",
            Tool::Search => "search",
            Tool::Presign => "presign",
            Tool::Transfer => "transfer",
            Tool::PresignCommit => "presign-commit",
            Tool::LinkUpload => "transfer-put",
            Tool::LinkDownload => "transfer-get",
            Tool::Versions => "versions",
            Tool::Restore => "restore",
            Tool::Locate => "locate",
            Tool::Erase => "erase",
            Tool::Rewrap => "rewrap",
            Tool::ReplicasCheck => "replicas-check",
            Tool::ReplicasRepair => "replicas-repair",
        }
    }

    /// Whether the call changes stored state or hands out a credential that can. Such calls
    /// record their intent first and do not happen when it cannot be recorded.
    pub fn records_intent(self) -> bool {
        matches!(
            self,
            Tool::Put
                | Tool::Delete
                | Tool::Restore
                | Tool::Erase
                | Tool::Rewrap
                | Tool::ReplicasRepair
                | Tool::Presign
                | Tool::PresignCommit
                | Tool::Transfer
                | Tool::LinkUpload
        )
    }
}

/// What a tool's result tells the audit trail besides its code: the bytes moved.
pub trait Audited {
    /// Plaintext bytes written or returned, when the call moves any.
    fn audited_size(&self) -> Option<u64> {
        None
    }

    /// The copy that served the call, when a replica did instead of the home store.
    fn served_by(&self) -> Option<&Placement> {
        None
    }
}

impl Service {
    /// Runs one tool call for `caller`: authorization, intent, `body`, outcome. `key` is the
    /// object the call is about, as given (audited even when it is invalid).
    pub(super) async fn run<T: Audited>(
        &self,
        caller: &Caller,
        tool: Tool,
        key: Option<&str>,
        body: impl AsyncFnOnce(&Tenant) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let (call, tenant) = self.begin(caller, tool, key).await?;
        let result = body(tenant).await;
        call.finish(result)
    }

    /// The first half of [`Service::run`], for calls whose work outlives one future (a
    /// streamed download): authorizes `caller` and records the intent of a mutating call.
    /// The returned [`Call`] writes the outcome when finished, or `CANCELLED` when dropped
    /// unfinished. A refusal is recorded here and returned.
    pub(super) async fn begin(
        &self,
        caller: &Caller,
        tool: Tool,
        key: Option<&str>,
    ) -> Result<(Call, &Tenant), ServiceError> {
        let started = Instant::now();
        let request_id = new_request_id();
        let tenant = match self.authorize(caller, tool) {
            Ok(t) => t,
            Err(e) => {
                self.write_outcome(&Outcome {
                    request_id: &request_id,
                    tool,
                    tenant: &caller.tenant,
                    subject: caller.subject.as_deref(),
                    key,
                    size: None,
                    placement: None,
                    code: e.code.as_str(),
                    started,
                });
                return Err(e);
            }
        };
        if tool.records_intent() {
            let grant = self.grant_of(&tenant.id);
            let intent = AuditEvent {
                request_id: &request_id,
                phase: Phase::Intent,
                tool: tool.name(),
                tenant: &tenant.id,
                object: key,
                subject: caller.subject.as_deref(),
                size: None,
                placement: Some(tenant.placement()),
                code: "OK",
                latency_us: None,
                grant: grant.as_deref(),
            };
            if self.inner.audit.record_durable(&intent).await.is_err() {
                let e = audit_unavailable();
                // The intent may still reach the trail later (a store sink keeps records of a
                // failed flush), so its call is closed there too, when the sink takes it.
                self.write_outcome(&Outcome {
                    request_id: &request_id,
                    tool,
                    tenant: &tenant.id,
                    subject: caller.subject.as_deref(),
                    key,
                    size: None,
                    placement: Some(tenant.placement()),
                    code: e.code.as_str(),
                    started,
                });
                return Err(e);
            }
        }
        let call = Call {
            service: self.clone(),
            request_id,
            tool,
            tenant: tenant.id.clone(),
            subject: caller.subject.clone(),
            key: key.map(str::to_owned),
            placement: tenant.placement().clone(),
            started,
            finished: false,
        };
        Ok((call, tenant))
    }

    /// Records a call that was refused before it could start (its arguments did not parse),
    /// so that every call leaves a record, and hands the error back.
    pub fn reject(
        &self,
        caller: &Caller,
        tool: Tool,
        key: Option<&str>,
        error: ServiceError,
    ) -> ServiceError {
        let placement = self.tenant(caller).ok().map(Tenant::placement);
        if !self.write_outcome(&Outcome {
            request_id: &new_request_id(),
            tool,
            tenant: &caller.tenant,
            subject: caller.subject.as_deref(),
            key,
            size: None,
            placement,
            code: error.code.as_str(),
            started: Instant::now(),
        }) {
            tracing::error!(tool = tool.name(), "could not audit a refused call");
        }
        error
    }

    /// The single authorization hook: may `caller` run `tool`? A known tenant, and a tool in
    /// its profile (`service::profile`); scopes plug in here too.
    fn authorize(&self, caller: &Caller, tool: Tool) -> Result<&Tenant, ServiceError> {
        let tenant = self.tenant(caller)?;
        tenant.grants_in_force()?;
        if !tenant.tools.allows(tool) {
            return Err(tool_disabled(tool));
        }
        if !caller.grants(tool) {
            return Err(super::profile::insufficient_scope(tool));
        }
        Ok(tenant)
    }

    /// Where `caller`'s objects are kept: its home store's placement.
    pub fn placement_of(&self, caller: &Caller) -> Result<Placement, ServiceError> {
        Ok(self.tenant(caller)?.placement().clone())
    }

    /// Whether `caller` may see `tool` in `tools/list` (an unknown caller sees none).
    pub fn lists_tool(&self, caller: &Caller, tool: Tool) -> bool {
        self.tenant(caller)
            .is_ok_and(|t| t.tools.lists(tool) && caller.grants(tool))
    }

    /// Refuses, and records, a call of a tool outside `caller`'s profile; `None` when the
    /// tool may be called. For front ends that check before parsing arguments.
    pub fn refuse_disabled(
        &self,
        caller: &Caller,
        tool: Tool,
        key: Option<&str>,
    ) -> Option<ServiceError> {
        let tenant = self.tenant(caller).ok()?;
        if tenant.tools.allows(tool) {
            return None;
        }
        Some(self.reject(caller, tool, key, tool_disabled(tool)))
    }

    /// Whether `id` is a configured tenant.
    pub fn has_tenant(&self, id: &str) -> bool {
        self.inner.tenants.contains_key(id)
    }

    /// The keys of tenant `id` (for the operator's `bitatlas keys` commands).
    pub fn tenant_keys(&self, id: &str) -> Option<crate::crypto::TenantKeys> {
        self.inner.tenants.get(id).map(|t| t.keys.clone())
    }

    pub(super) fn tenant(&self, caller: &Caller) -> Result<&Tenant, ServiceError> {
        self.inner
            .tenants
            .get(&caller.tenant)
            .ok_or_else(|| ServiceError::new(ErrorCode::Unauthorized, "unknown tenant"))
    }

    /// The override grants `tenant`'s calls run under, for the audit record.
    fn grant_of(&self, tenant: &str) -> Option<String> {
        let ids = self.inner.tenants.get(tenant)?.grants_in_force().ok()?;
        (!ids.is_empty()).then(|| ids.join(","))
    }

    fn write_outcome(&self, o: &Outcome<'_>) -> bool {
        let elapsed = o.started.elapsed();
        self.inner
            .metrics
            .record_call(o.tool.name(), o.code, elapsed);
        let grant = self.grant_of(o.tenant);
        self.inner
            .audit
            .record(&AuditEvent {
                grant: grant.as_deref(),
                request_id: o.request_id,
                phase: Phase::Outcome,
                tool: o.tool.name(),
                tenant: o.tenant,
                object: o.key,
                subject: o.subject,
                size: o.size,
                placement: o.placement,
                code: o.code,
                latency_us: Some(elapsed.as_micros() as u64),
            })
            .is_ok()
    }
}

/// The outcome record of one call.
struct Outcome<'a> {
    request_id: &'a str,
    tool: Tool,
    tenant: &'a str,
    subject: Option<&'a str>,
    key: Option<&'a str>,
    size: Option<u64>,
    placement: Option<&'a Placement>,
    code: &'a str,
    started: Instant,
}

/// A call that passed [`Service::begin`] and has not written its outcome yet.
pub(super) struct Call {
    service: Service,
    request_id: String,
    tool: Tool,
    tenant: String,
    subject: Option<String>,
    key: Option<String>,
    placement: Placement,
    started: Instant,
    finished: bool,
}

impl Call {
    /// Writes the outcome of `result` and hands it back; a read whose outcome cannot be
    /// recorded fails closed too, unless configured not to (a mutating call already has its
    /// intent on record).
    pub(super) fn finish<T: Audited>(
        mut self,
        result: Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let (code, size) = match &result {
            Ok(v) => ("OK", v.audited_size()),
            Err(e) => (e.code.as_str(), None),
        };
        // A read a replica answered is recorded with that replica's store.
        if let Ok(v) = &result
            && let Some(served) = v.served_by()
        {
            self.placement = served.clone();
        }
        let written = self.record(code, size);
        if !written
            && result.is_ok()
            && !self.tool.records_intent()
            && !self.service.inner.limits.reads_fail_open
        {
            return Err(audit_unavailable());
        }
        result
    }

    /// Writes the outcome of a call that failed with `e`, and hands `e` back.
    pub(super) fn fail(mut self, e: ServiceError) -> ServiceError {
        self.record(e.code.as_str(), None);
        e
    }

    /// Writes the outcome `code` with `size` bytes moved; false when the sink refused it.
    pub(super) fn record(&mut self, code: &str, size: Option<u64>) -> bool {
        self.finished = true;
        self.service.write_outcome(&Outcome {
            request_id: &self.request_id,
            tool: self.tool,
            tenant: &self.tenant,
            subject: self.subject.as_deref(),
            key: self.key.as_deref(),
            size,
            placement: Some(&self.placement),
            code,
            started: self.started,
        })
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // The caller went away (a cancelled request, a download cut short): the trail still
        // shows how the call ended.
        if !self.finished && !self.record(CANCELLED, None) {
            tracing::error!(tool = self.tool.name(), "could not audit a cancelled call");
        }
    }
}

/// The outcome code of a call whose caller went away before it finished.
pub(super) const CANCELLED: &str = "CANCELLED";

pub(super) fn audit_unavailable() -> ServiceError {
    ServiceError::new(
        ErrorCode::AuditUnavailable,
        "the audit trail cannot record this call, so it was not performed",
    )
}

pub(super) fn new_request_id() -> String {
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        // Request ids need uniqueness, not secrecy; fall back to the clock.
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        b[..8].copy_from_slice(&now.to_be_bytes());
    }
    hex::encode(b)
}
