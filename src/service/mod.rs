//! The service: one method per tool, shared by every transport and by the tests.
//!
//! The service speaks bytes and domain values; wire encodings (text or base64, JSON Schemas,
//! wording for models) belong to `crate::mcp`. Each call runs through one audited wrapper
//! ([`call`]): authorize the caller -> intent record for writes -> the tool's logic (validate,
//! seal/open, guarded store, index) -> outcome record and metrics.

mod budget;
mod call;
mod confirm;
mod cursor;
mod delete;
mod erase;
mod error;
mod files;
mod get;
mod get_stream;
mod get_whole;
mod index;
mod key;
mod ledger;
mod list;
mod locate;
mod metadata;
mod metrics;
mod presign;
mod profile;
mod put;
mod put_stream;
mod replicas;
mod rewrap;
mod seal_write;
mod staged;
mod tenant;
mod transfer;
mod types;
mod versions;

pub use call::{Audited, Tool};
pub use confirm::{declined as confirmation_declined, required as confirmation_required};
pub use erase::{EraseScope, Erased};
pub use error::{ErrorCode, ServiceError};
pub use get_stream::Download;
pub use key::{MAX_KEY_BYTES, ObjectKey};
pub use list::{DEFAULT_PAGE, MAX_PAGE};
pub use locate::{CopyReceipt, LocateRequest, Located, Receipt};
pub use metadata::is_textual;
pub use metrics::Metrics;
pub use presign::{DEFAULT_EXPIRY, MAX_EXPIRY};
pub use profile::ToolSet;
pub use put::too_large;
pub use replicas::ReplicaReport;
pub use rewrap::{KekUsage, RewrapReport};
pub use tenant::{Confirm, SharedStore, Tenant};
pub use transfer::{Link, TransferLink, TransferRequest, Want};
pub use types::*;
pub use versions::{MAX_LISTED as MAX_VERSIONS_LISTED, SWEEP_EVERY, Version, Versions};

use std::collections::HashMap;
use std::sync::Arc;

use crate::audit::{AuditEvent, AuditLog, Phase};
use crate::files::FileRoots;
use call::{audit_unavailable, new_request_id};

/// Largest inline payload by default: what `put` accepts and `get` returns in one call.
pub const DEFAULT_MAX_INLINE_BYTES: u64 = 8 * 1024 * 1024;

/// Limits applied to every call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest inline payload (decoded) for `put` and `get`.
    pub max_inline_bytes: u64,
    /// Serve reads whose outcome record could not be written (default false: fail closed).
    /// Writes, deletes and presigns always fail closed.
    pub reads_fail_open: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_inline_bytes: DEFAULT_MAX_INLINE_BYTES,
            reads_fail_open: false,
        }
    }
}

/// Who is calling: set by the transport after authentication. HTTP sessions are bound to a
/// caller's principal ([`Caller::same_principal`]): its tenant and, where the credential
/// names one, its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant id.
    pub tenant: String,
    /// Who within the tenant, when the credential names someone (an OAuth token's issuer and
    /// subject); `None` for a tenant's static token and for stdio.
    pub subject: Option<String>,
    /// The tools the credential's scopes allow; `None`: every tool of the tenant's profile.
    pub granted: Option<Arc<[Tool]>>,
}

impl Caller {
    /// The tenant `tenant`, with no subject and no scope limit.
    pub fn new(tenant: String) -> Self {
        Self {
            tenant,
            subject: None,
            granted: None,
        }
    }

    /// Whether `other` is the same principal (tenant and subject); scopes may differ, so a
    /// refreshed token for the same subject keeps its session.
    pub fn same_principal(&self, other: &Caller) -> bool {
        self.tenant == other.tenant && self.subject == other.subject
    }

    /// Whether the credential's scopes allow `tool` (the uses of links count as their tool).
    pub fn grants(&self, tool: Tool) -> bool {
        let Some(granted) = &self.granted else {
            return true;
        };
        let as_tool = match tool {
            Tool::PresignCommit => Tool::Presign,
            Tool::LinkUpload | Tool::LinkDownload => Tool::Transfer,
            other => other,
        };
        granted.contains(&as_tool)
    }
}

/// The transport-agnostic service.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    tenants: HashMap<String, Tenant>,
    audit: AuditLog,
    limits: Limits,
    metrics: Metrics,
    answers: budget::AnswerBudget,
    /// Where transfer links are served (set by the HTTP transport).
    link_base: std::sync::OnceLock<String>,
    links: transfer::Links,
    files: Arc<FileRoots>,
}

impl Service {
    /// A service over `tenants`, auditing to `audit`, with local files off.
    pub fn new(tenants: Vec<Tenant>, audit: AuditLog, limits: Limits) -> Self {
        Self::with_files(tenants, audit, limits, FileRoots::disabled())
    }

    /// Like [`Service::new`], reading and saving local files only inside `files`' roots.
    pub fn with_files(
        tenants: Vec<Tenant>,
        audit: AuditLog,
        limits: Limits,
        files: FileRoots,
    ) -> Self {
        let tenants = tenants.into_iter().map(|t| (t.id.clone(), t)).collect();
        Self {
            inner: Arc::new(Inner {
                tenants,
                audit,
                answers: budget::AnswerBudget::new(limits.max_inline_bytes),
                limits,
                metrics: Metrics::default(),
                link_base: std::sync::OnceLock::new(),
                links: transfer::Links::default(),
                files: Arc::new(files),
            }),
        }
    }

    /// The roots local files are read from and saved to (disabled when none is configured).
    pub fn files(&self) -> &FileRoots {
        &self.inner.files
    }

    /// The configured limits.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Operational counters (anonymised: no tenant ids, keys or tokens).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The `/metrics` exposition: the call and probe metrics, and the break-glass override
    /// grants in force (a count; ids and tenants stay in the audit trail).
    pub fn metrics_text(&self) -> String {
        let mut out = self.inner.metrics.render();
        let active = self
            .inner
            .tenants
            .values()
            .find_map(|t| t.grant_needs.as_ref().map(|(_, g)| g.active_count()))
            .unwrap_or(0);
        out.push_str(
            "# HELP bitatlas_override_grants_active Override grants in force that a tenant's \
             stores need.\n# TYPE bitatlas_override_grants_active gauge\n",
        );
        out.push_str(&format!("bitatlas_override_grants_active {active}\n"));
        let mut per_store: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for t in self.inner.tenants.values() {
            for (store, c) in t.copies().map(|c| c.counts()).unwrap_or_default() {
                let e = per_store.entry(store).or_default();
                e.0 += c.diverged;
                e.1 += c.failovers;
            }
        }
        if !per_store.is_empty() {
            out.push_str(
                "# HELP bitatlas_replica_diverged_total Writes and deletes a copy failed while \
                 another copy took them (what replicas repair settles).\n\
                 # TYPE bitatlas_replica_diverged_total counter\n",
            );
            for (store, (d, _)) in &per_store {
                out.push_str(&format!(
                    "bitatlas_replica_diverged_total{{store=\"{store}\"}} {d}\n"
                ));
            }
            out.push_str(
                "# HELP bitatlas_replica_failovers_total Reads a copy answered because a copy \
                 before it was unavailable.\n# TYPE bitatlas_replica_failovers_total counter\n",
            );
            for (store, (_, f)) in &per_store {
                out.push_str(&format!(
                    "bitatlas_replica_failovers_total{{store=\"{store}\"}} {f}\n"
                ));
            }
        }
        out
    }

    /// Whether the audit sink can currently take a write (for readiness probes). Writes
    /// nothing to the trail.
    pub fn audit_ready(&self) -> bool {
        self.inner.audit.probe().is_ok()
    }

    /// Writes a record that is not a tool call (start-up, shutdown, auth failures).
    pub fn audit_event(&self, tool: &str, tenant: &str, code: &str) -> Result<(), ServiceError> {
        let request_id = new_request_id();
        self.inner
            .audit
            .record(&AuditEvent {
                request_id: &request_id,
                phase: Phase::Outcome,
                tool,
                tenant,
                object: None,
                subject: None,
                size: None,
                placement: None,
                code,
                latency_us: None,
                grant: None,
            })
            .map_err(|_| audit_unavailable())
    }

    /// Clean shutdown: records a shutdown event and seals the audit chain with a checkpoint.
    pub fn shutdown(&self) {
        let _ = self.audit_event("shutdown", "-", "OK");
        if self.inner.audit.checkpoint().is_err() {
            tracing::error!("could not write the shutdown audit checkpoint");
        }
    }

    /// Brings every tenant's index up to date (run in the background after start-up).
    pub async fn warm_up(&self) {
        for t in self.inner.tenants.values() {
            if let Err(e) = t.index.read(&t.sync_context(), |_| ()).await {
                tracing::warn!(error = %e, "index warm-up failed");
            }
        }
    }
}
