//! The audit log: pseudonymises, chains and appends records.

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::commit::GroupCommit;
use super::{AuditKeys, AuditRecord, AuditSink, Phase};
use crate::residency::Placement;

/// The audit sink could not record an event.
#[derive(Debug, thiserror::Error)]
#[error("audit sink unavailable")]
pub struct AuditError;

/// What the service reports about one call.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Request id.
    pub request_id: &'a str,
    /// Intent or outcome.
    pub phase: Phase,
    /// Tool or event name.
    pub tool: &'a str,
    /// Raw tenant id (pseudonymised before writing).
    pub tenant: &'a str,
    /// Raw object key (pseudonymised before writing).
    pub object: Option<&'a str>,
    /// Who within the tenant, when the credential names someone (an OAuth issuer and
    /// subject; pseudonymised before writing).
    pub subject: Option<&'a str>,
    /// Plaintext size.
    pub size: Option<u64>,
    /// Where the data is.
    pub placement: Option<&'a Placement>,
    /// Stable code: `OK` or an error code.
    pub code: &'a str,
    /// Duration in microseconds.
    pub latency_us: Option<u64>,
    /// The override grant(s) the call ran under (ids, comma-separated).
    pub grant: Option<&'a str>,
}

struct ChainState {
    seq: u64,
    prev: [u8; 32],
}

/// A hash-chained audit log over one sink.
pub struct AuditLog {
    sink: Arc<dyn AuditSink>,
    chain: String,
    keys: AuditKeys,
    state: Mutex<ChainState>,
    commit: Arc<GroupCommit>,
}

/// A checkpoint is written after this many records, and at shutdown.
pub const CHECKPOINT_EVERY: u64 = 256;

impl AuditLog {
    /// Opens the chain named `chain` over `sink`, continuing after its last record.
    pub fn open(sink: Box<dyn AuditSink>, chain: String, keys: AuditKeys) -> std::io::Result<Self> {
        let mut state = ChainState {
            seq: 0,
            prev: [0; 32],
        };
        if let Some(line) = sink.last_line()? {
            let rec: AuditRecord = serde_json::from_str(&line).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the last audit record is not valid; run `bitatlas audit verify`",
                )
            })?;
            state.seq = rec.seq;
            state.prev = Sha256::digest(line.as_bytes()).into();
        }
        Ok(Self {
            sink: Arc::from(sink),
            chain,
            keys,
            commit: GroupCommit::new(state.seq),
            state: Mutex::new(state),
        })
    }

    /// Describes the sink (for the start-up banner).
    pub fn describe(&self) -> String {
        self.sink.describe()
    }

    fn pseudonym(&self, domain: &str, value: &str) -> String {
        self.keys.pseudonym(domain, value)
    }

    /// Writes one record, synced before returning when it is an intent. Fails when the sink
    /// does; the caller decides what that means.
    pub fn record(&self, ev: &AuditEvent<'_>) -> Result<(), AuditError> {
        self.write(ev, ev.phase == Phase::Intent).map(|_| ())
    }

    /// Writes one record and waits until it is on stable storage, sharing the sync with the
    /// records of concurrent calls (group commit) and running it off the async workers.
    pub async fn record_durable(&self, ev: &AuditEvent<'_>) -> Result<(), AuditError> {
        let seq = self.write(ev, false)?;
        let written = || self.state.lock().ok().map(|s| s.seq);
        self.commit
            .wait(seq, &self.sink, written)
            .await
            .map_err(|_| AuditError)
    }

    /// Appends `ev` (synced first when `durable`) and returns its sequence number.
    fn write(&self, ev: &AuditEvent<'_>, durable: bool) -> Result<u64, AuditError> {
        let mut state = self.state.lock().map_err(|_| AuditError)?;
        self.append(&mut state, ev, None, durable)?;
        let seq = state.seq;
        if seq % CHECKPOINT_EVERY == 0 {
            // A missed periodic checkpoint is logged; the next one covers the same records.
            let _ = self.write_checkpoint(&mut state);
        }
        Ok(seq)
    }

    /// Checks that the sink can take a write, without writing a record.
    pub fn probe(&self) -> Result<(), AuditError> {
        self.sink.probe().map_err(|e| {
            tracing::warn!(error = %e, "audit sink not ready");
            AuditError
        })
    }

    /// Writes a checkpoint record authenticating the current head (also at shutdown).
    pub fn checkpoint(&self) -> Result<(), AuditError> {
        let mut state = self.state.lock().map_err(|_| AuditError)?;
        self.write_checkpoint(&mut state)
    }

    fn write_checkpoint(&self, state: &mut ChainState) -> Result<(), AuditError> {
        let mac = self
            .keys
            .checkpoint_mac(&self.chain, state.seq + 1, &state.prev);
        let ev = AuditEvent {
            request_id: "-",
            phase: Phase::Outcome,
            tool: "checkpoint",
            tenant: "-",
            object: None,
            subject: None,
            size: None,
            placement: None,
            code: "OK",
            latency_us: None,
            grant: None,
        };
        self.append(state, &ev, Some(mac), true)
    }

    fn append(
        &self,
        state: &mut ChainState,
        ev: &AuditEvent<'_>,
        mac: Option<String>,
        durable: bool,
    ) -> Result<(), AuditError> {
        let checkpoint = mac.is_some();
        let rec = AuditRecord {
            seq: state.seq + 1,
            chain: self.chain.clone(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            request_id: ev.request_id.to_owned(),
            phase: ev.phase,
            tool: ev.tool.to_owned(),
            tenant: self.pseudonym("tenant", ev.tenant),
            object: ev
                .object
                .map(|k| self.pseudonym(&format!("object\0{}", ev.tenant), k)),
            subject: ev
                .subject
                .map(|s| self.pseudonym(&format!("subject\0{}", ev.tenant), s)),
            size: ev.size,
            store: ev.placement.map(|p| p.store.clone()),
            provider: ev.placement.map(|p| p.provider.clone()),
            region: ev.placement.map(|p| p.region.clone()),
            country: ev.placement.map(|p| p.country.clone()),
            decision: if ev.code == "OK" { "allow" } else { "deny" }.to_owned(),
            code: ev.code.to_owned(),
            latency_us: ev.latency_us,
            grant: ev.grant.map(str::to_owned),
            prev: hex::encode(state.prev),
            mac,
        };
        // serde_json escapes quotes, newlines and control characters, so no field value can
        // break out of its line or forge another record.
        let line = serde_json::to_string(&rec).map_err(|_| AuditError)?;
        if let Err(e) = self.sink.append(&line, durable) {
            tracing::error!(error = %e, "audit sink append failed");
            return Err(AuditError);
        }
        if checkpoint && let Err(e) = self.sink.append_checkpoint(&line) {
            tracing::error!(error = %e, "audit checkpoint copy failed");
        }
        state.seq = rec.seq;
        state.prev = Sha256::digest(line.as_bytes()).into();
        Ok(())
    }
}
