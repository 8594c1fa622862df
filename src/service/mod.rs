//! The service: one method per tool, shared by every transport and by the tests.
//!
//! Each call: resolve the caller's tenant -> validate input -> (intent audit for writes) ->
//! seal/open -> guarded store -> index -> outcome audit.

mod cursor;
mod delete;
mod error;
mod get;
mod index;
mod key;
mod list;
mod metadata;
mod metrics;
mod presign;
mod put;
mod seal_write;
mod tenant;
mod types;

pub use error::{ErrorCode, ServiceError};
pub use key::{MAX_KEY_BYTES, ObjectKey};
pub use metrics::Metrics;
pub use tenant::{SharedStore, Tenant};
pub use types::*;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::audit::{AuditEvent, AuditLog, Phase};

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
            max_inline_bytes: 8 * 1024 * 1024,
            reads_fail_open: false,
        }
    }
}

/// Who is calling: set by the transport after authentication. Two callers are the same
/// principal when they are equal (HTTP sessions are bound to one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant id.
    pub tenant: String,
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
}

impl Service {
    /// A service over `tenants`, auditing to `audit`.
    pub fn new(tenants: Vec<Tenant>, audit: AuditLog, limits: Limits) -> Self {
        let tenants = tenants.into_iter().map(|t| (t.id.clone(), t)).collect();
        Self {
            inner: Arc::new(Inner {
                tenants,
                audit,
                limits,
                metrics: Metrics::default(),
            }),
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Operational counters (anonymised: no tenant ids, keys or tokens).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
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
                size: None,
                placement: None,
                code,
                latency_us: None,
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

    fn tenant(&self, caller: &Caller) -> Result<&Tenant, ServiceError> {
        self.inner
            .tenants
            .get(&caller.tenant)
            .ok_or_else(|| ServiceError::new(ErrorCode::Unauthorized, "unknown tenant"))
    }

    /// Starts a tool call: resolves the tenant and, for writes, records the intent. The call
    /// does not start if the intent cannot be recorded.
    fn begin<'a>(
        &'a self,
        caller: &Caller,
        tool: &'a str,
        key: Option<&'a str>,
        mutating: bool,
    ) -> Result<Call<'a>, ServiceError> {
        let started = Instant::now();
        let request_id = new_request_id();
        let tenant = match self.tenant(caller) {
            Ok(t) => t,
            Err(e) => {
                self.write_outcome(Outcome {
                    request_id: &request_id,
                    tool,
                    tenant: &caller.tenant,
                    key,
                    size: None,
                    placement: None,
                    code: e.code.as_str(),
                    started,
                });
                return Err(e);
            }
        };
        if mutating {
            let intent = AuditEvent {
                request_id: &request_id,
                phase: Phase::Intent,
                tool,
                tenant: &tenant.id,
                object: key,
                size: None,
                placement: Some(tenant.placement()),
                code: "OK",
                latency_us: None,
            };
            if self.inner.audit.record(&intent).is_err() {
                let e = audit_unavailable();
                self.inner
                    .metrics
                    .record_call(tool, e.code.as_str(), started.elapsed());
                return Err(e);
            }
        }
        Ok(Call {
            tenant,
            request_id,
            tool,
            key,
            mutating,
            started,
        })
    }

    /// Ends a tool call with its outcome record. A read whose outcome cannot be recorded
    /// fails closed too.
    fn finish<T>(
        &self,
        call: Call<'_>,
        result: Result<(T, Option<u64>), ServiceError>,
    ) -> Result<T, ServiceError> {
        let (code, size) = match &result {
            Ok((_, size)) => ("OK", *size),
            Err(e) => (e.code.as_str(), None),
        };
        let written = self.write_outcome(Outcome {
            request_id: &call.request_id,
            tool: call.tool,
            tenant: &call.tenant.id,
            key: call.key,
            size,
            placement: Some(call.tenant.placement()),
            code,
            started: call.started,
        });
        if !written && result.is_ok() && !call.mutating && !self.inner.limits.reads_fail_open {
            return Err(audit_unavailable());
        }
        result.map(|(v, _)| v)
    }

    fn write_outcome(&self, o: Outcome<'_>) -> bool {
        self.inner
            .metrics
            .record_call(o.tool, o.code, o.started.elapsed());
        self.inner
            .audit
            .record(&AuditEvent {
                request_id: o.request_id,
                phase: Phase::Outcome,
                tool: o.tool,
                tenant: o.tenant,
                object: o.key,
                size: o.size,
                placement: o.placement,
                code: o.code,
                latency_us: Some(o.started.elapsed().as_micros() as u64),
            })
            .is_ok()
    }
}

/// A tool call in progress.
struct Call<'a> {
    tenant: &'a Tenant,
    request_id: String,
    tool: &'a str,
    key: Option<&'a str>,
    mutating: bool,
    started: Instant,
}

struct Outcome<'a> {
    request_id: &'a str,
    tool: &'a str,
    tenant: &'a str,
    key: Option<&'a str>,
    size: Option<u64>,
    placement: Option<&'a crate::residency::Placement>,
    code: &'a str,
    started: Instant,
}

fn audit_unavailable() -> ServiceError {
    ServiceError::new(
        ErrorCode::AuditUnavailable,
        "the audit trail cannot record this call, so it was not performed",
    )
}

fn new_request_id() -> String {
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        // Request ids need uniqueness, not secrecy; fall back to the clock.
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        b[..8].copy_from_slice(&now.to_be_bytes());
    }
    hex::encode(b)
}
