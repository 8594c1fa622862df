//! The audit trail: one hash-chained record per call in an append-only sink.
//!
//! Writes and deletes record an intent first; if that fails the operation does not happen.

mod log;
mod record;
mod sink;

pub use log::{AuditError, AuditEvent, AuditLog};
pub use record::{AuditRecord, Phase};
pub use sink::{AuditSink, FileSink, MemorySink};
