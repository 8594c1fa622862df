//! The audit trail: one hash-chained record per call in an append-only sink.
//!
//! Writes and deletes record an intent first; if that fails the operation does not happen.

mod commit;
mod keys;
mod log;
mod record;
mod sink;
mod store_sink;
mod verify;

pub use keys::AuditKeys;
pub use log::{AuditError, AuditEvent, AuditLog, CHECKPOINT_EVERY};
pub use record::{AuditRecord, Phase};
pub use sink::{AuditSink, FileSink, MemorySink, checkpoint_path, torn_path};
pub use store_sink::{ObjectStoreSink, STORE_SINK_TIMEOUT, read_store_segments};
pub use verify::{ChainHead, VerifyFailure, VerifyReport, verify};
