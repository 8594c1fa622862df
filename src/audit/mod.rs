//! The audit trail: one hash-chained record per call in an append-only sink.
//!
//! Writes and deletes record an intent first; if that fails the operation does not happen.

mod keys;
mod log;
mod record;
mod sink;
mod verify;

pub use keys::AuditKeys;
pub use log::{AuditError, AuditEvent, AuditLog, CHECKPOINT_EVERY};
pub use record::{AuditRecord, Phase};
pub use sink::{AuditSink, FileSink, MemorySink, checkpoint_path};
pub use verify::{VerifyFailure, VerifyReport, verify};
