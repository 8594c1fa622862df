//! The synthetic probe: a full round trip (put -> list -> get -> delete) on a store, the way a
//! tenant's call would make it, timed step by step.
//!
//! The probe writes under its own reserved prefix ([`PROBE_PREFIX`]), outside every tenant's
//! (`t/...`) and the audit trail's, so it never touches customer objects and a listing of a
//! tenant never shows it. Its payload is random bytes sealed under a keyring that lives only
//! for the one round trip: the probe exercises sealing and opening too, and what it leaves
//! behind after a crash is an unreadable, meaningless object that the next probe's clean-up
//! removes. It carries no tenant data, so its figures are P2 (store name, success, seconds).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bitatlas_adapters::{AdapterError, StorageName};
use bytes::Bytes;

use crate::crypto::{self, Algorithm, Context, Keyring, OsRandom, RandomSource as _};
use crate::service::SharedStore;

/// Storage prefix of the probe's objects (outside every tenant's prefix).
pub const PROBE_PREFIX: &str = "probe/rt";
/// The tenant id the probe seals under: not a storage prefix any tenant can have.
pub const PROBE_TENANT: &str = "probe";
/// Size of the probe's payload: one small object, like the commonest call.
pub const PROBE_PAYLOAD_BYTES: usize = 1024;

/// One step of the round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Seal and store the probe object.
    Put,
    /// List the probe prefix and find the object.
    List,
    /// Read the object back and open it.
    Get,
    /// Delete it, and check it is gone.
    Delete,
}

impl Step {
    /// The step's name, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Put => "put",
            Step::List => "list",
            Step::Get => "get",
            Step::Delete => "delete",
        }
    }
}

/// Why a round trip failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The store did not answer the step within the probe's time limit.
    #[error("{}: no answer within {} ms", step.as_str(), limit.as_millis())]
    Timeout {
        /// The step that hung.
        step: Step,
        /// The limit it exceeded.
        limit: Duration,
    },
    /// The store refused or failed the step.
    #[error("{}: {message}", step.as_str())]
    Store {
        /// The failed step.
        step: Step,
        /// The adapter's error, as text (its type is not `Clone`).
        message: String,
    },
    /// The store answered, but not with what was written.
    #[error("{}: {what}", step.as_str())]
    Wrong {
        /// The step whose answer was wrong.
        step: Step,
        /// What was wrong.
        what: String,
    },
}

impl ProbeError {
    /// The step that failed.
    pub fn step(&self) -> Step {
        match self {
            ProbeError::Timeout { step, .. }
            | ProbeError::Store { step, .. }
            | ProbeError::Wrong { step, .. } => *step,
        }
    }
}

/// The outcome of one round trip on one store.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The store's configured name.
    pub store: String,
    /// Time of each step that completed, in order.
    pub steps: Vec<(Step, Duration)>,
    /// The whole round trip (up to the failure, if any).
    pub total: Duration,
    /// Why it failed; `None` when every step passed.
    pub error: Option<ProbeError>,
}

impl ProbeReport {
    /// Whether every step passed.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// The report as one JSON object (`bitatlas probe --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let steps: serde_json::Map<String, serde_json::Value> = self
            .steps
            .iter()
            .map(|(s, d)| (format!("{}_ms", s.as_str()), millis(*d).into()))
            .collect();
        let mut v = serde_json::json!({
            "store": self.store,
            "ok": self.ok(),
            "total_ms": millis(self.total),
            "steps": steps,
        });
        if let Some(e) = &self.error {
            v["failed_step"] = e.step().as_str().into();
            v["error"] = e.to_string().into();
        }
        v
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs one round trip on `store`, each step bounded by `step_limit`. Whatever fails, the
/// probe object is deleted if it may have been written, and earlier probes' leftovers (a
/// probe killed mid-way) are removed.
pub async fn probe_store(name: &str, store: &SharedStore, step_limit: Duration) -> ProbeReport {
    let started = Instant::now();
    let mut steps = Vec::with_capacity(4);
    let error = round_trip(name, store, step_limit, &mut steps).await.err();
    ProbeReport {
        store: name.to_owned(),
        steps,
        total: started.elapsed(),
        error,
    }
}

async fn round_trip(
    store_name: &str,
    store: &SharedStore,
    limit: Duration,
    steps: &mut Vec<(Step, Duration)>,
) -> Result<(), ProbeError> {
    let adapter = store.adapter();
    let mut id = [0u8; 16];
    OsRandom
        .fill(&mut id)
        .map_err(|e| wrong(Step::Put, e.to_string()))?;
    let key = format!("{PROBE_PREFIX}/{}", hex::encode(id));
    let name = StorageName::parse(&key).map_err(|e| wrong(Step::Put, e.to_string()))?;
    let prefix = StorageName::parse(PROBE_PREFIX).map_err(|e| wrong(Step::List, e.to_string()))?;
    let keyring = Keyring::generate(Algorithm::default());
    let ctx = Context {
        tenant: PROBE_TENANT,
        store: store_name,
        key: &key,
    };
    let mut payload = vec![0u8; PROBE_PAYLOAD_BYTES];
    OsRandom
        .fill(&mut payload)
        .map_err(|e| wrong(Step::Put, e.to_string()))?;

    let t = Instant::now();
    let sealed = crypto::seal(&keyring, &ctx, None, &BTreeMap::new(), &payload)
        .map_err(|e| wrong(Step::Put, e.to_string()))?;
    let put = timed(Step::Put, limit, adapter.put(&name, Bytes::from(sealed))).await;
    if let Err(e) = put {
        // A put that timed out may still land: remove it rather than leave it.
        let _ = tokio::time::timeout(limit, adapter.delete(&name)).await;
        return Err(e);
    }
    steps.push((Step::Put, t.elapsed()));

    let checked = async {
        let t = Instant::now();
        let listed = timed(Step::List, limit, adapter.list(&prefix)).await?;
        if !listed.iter().any(|m| m.name == name) {
            return Err(wrong(Step::List, "the object just written is not listed"));
        }
        steps.push((Step::List, t.elapsed()));

        let t = Instant::now();
        let read = timed(Step::Get, limit, adapter.get(&name)).await?;
        let opened =
            crypto::open(&keyring, &ctx, &read).map_err(|e| wrong(Step::Get, e.to_string()))?;
        if opened.data.as_slice() != payload.as_slice() {
            return Err(wrong(Step::Get, "read back different bytes"));
        }
        steps.push((Step::Get, t.elapsed()));
        Ok(listed)
    }
    .await;

    let t = Instant::now();
    let deleted = timed(Step::Delete, limit, adapter.delete(&name)).await;
    let listed = checked?;
    match deleted? {
        true => {}
        false => {
            return Err(wrong(
                Step::Delete,
                "the store said the object did not exist",
            ));
        }
    }
    match tokio::time::timeout(limit, adapter.head(&name)).await {
        Ok(Err(AdapterError::NotFound)) => {}
        Ok(Ok(_)) => return Err(wrong(Step::Delete, "the object is still there")),
        Ok(Err(e)) => return Err(store_error(Step::Delete, e)),
        Err(_) => {
            return Err(ProbeError::Timeout {
                step: Step::Delete,
                limit,
            });
        }
    }
    steps.push((Step::Delete, t.elapsed()));

    // Leftovers of probes that died mid-way: anything but this round's object, which is gone.
    for old in listed.iter().filter(|m| m.name != name) {
        let _ = tokio::time::timeout(limit, adapter.delete(&old.name)).await;
    }
    Ok(())
}

/// Runs `op` within `limit`, naming the step on failure.
async fn timed<T>(
    step: Step,
    limit: Duration,
    op: impl std::future::Future<Output = Result<T, AdapterError>>,
) -> Result<T, ProbeError> {
    match tokio::time::timeout(limit, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(store_error(step, e)),
        Err(_) => Err(ProbeError::Timeout { step, limit }),
    }
}

fn store_error(step: Step, e: AdapterError) -> ProbeError {
    ProbeError::Store {
        step,
        message: e.to_string(),
    }
}

fn wrong(step: Step, what: impl Into<String>) -> ProbeError {
    ProbeError::Wrong {
        step,
        what: what.into(),
    }
}
