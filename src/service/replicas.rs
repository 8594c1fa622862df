//! `bitatlas replicas check|repair`: do the tenant's copies agree, and making them agree.
//!
//! Every name under the tenant's folder in the home store is compared with each replica: a
//! name a replica lacks is *missing*, one whose size or sealed header differs is *stale*, and
//! a name only a replica has is *extra*. Repair makes every replica what the home store holds:
//! missing and stale envelopes are copied from home (in pieces, never whole in memory), extra
//! ones deleted. The home store wins because every acknowledged write and delete reached it
//! (writes are acknowledged only once every copy has them); a difference can only come from a
//! write or delete that answered an error, which may be undone — but an erasure that failed on
//! a replica must never be undone by copying the data back (`docs/residency.md`, replicas).

use bitatlas_adapters::{Adapter, AdapterError, ObjectMeta, Part, StorageName};
use tokio::sync::mpsc;

use super::call::Audited;
use super::error::{ErrorCode, ServiceError};
use super::{Caller, Service, Tenant, Tool};
use crate::crypto::Layout;

/// Bytes copied per piece during a repair.
const PIECE: u64 = 8 * 1024 * 1024;

/// How a tenant's copies compare (and what a repair did).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplicaReport {
    /// The stores compared, home first.
    pub stores: Vec<String>,
    /// Names in the home store.
    pub objects: u64,
    /// Names a replica lacks (counted per replica).
    pub missing: u64,
    /// Names whose copy differs from the home store's (per replica).
    pub stale: u64,
    /// Names only a replica has (per replica).
    pub extra: u64,
    /// Differences a repair settled.
    pub repaired: u64,
}

impl ReplicaReport {
    /// True when every copy agrees with the home store.
    pub fn agrees(&self) -> bool {
        self.missing + self.stale + self.extra == self.repaired
    }
}

impl Audited for ReplicaReport {}

impl Service {
    /// Compares `caller`'s copies; with `repair`, makes every replica what the home store
    /// holds.
    pub async fn replicas(
        &self,
        caller: &Caller,
        repair: bool,
    ) -> Result<ReplicaReport, ServiceError> {
        let tool = if repair {
            Tool::ReplicasRepair
        } else {
            Tool::ReplicasCheck
        };
        self.run(caller, tool, None, async |tenant| {
            let Some(copies) = tenant.copies() else {
                return Err(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    "the tenant has no replicas",
                ));
            };
            compare_all(tenant, copies, repair).await
        })
        .await
    }
}

async fn compare(
    tenant: &Tenant,
    home: &dyn Adapter,
    at_home: &[ObjectMeta],
    replica: &dyn Adapter,
    repair: bool,
    out: &mut ReplicaReport,
) -> Result<(), ServiceError> {
    let there: std::collections::HashMap<StorageName, ObjectMeta> = replica
        .list(&tenant.root)
        .await?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    for meta in at_home {
        let differs = match there.get(&meta.name) {
            None => {
                out.missing += 1;
                true
            }
            Some(copy) if !same_envelope(home, replica, meta, copy).await? => {
                out.stale += 1;
                true
            }
            Some(_) => false,
        };
        if differs && repair {
            copy_object(home, replica, meta).await?;
            out.repaired += 1;
        }
    }
    let names: std::collections::HashSet<&StorageName> = at_home.iter().map(|m| &m.name).collect();
    for name in there.keys().filter(|n| !names.contains(n)) {
        out.extra += 1;
        if repair {
            replica.delete(name).await?;
            out.repaired += 1;
        }
    }
    Ok(())
}

/// Same size and the same sealed header (its wrapped DEK and nonce name one envelope).
async fn same_envelope(
    home: &dyn Adapter,
    replica: &dyn Adapter,
    a: &ObjectMeta,
    b: &ObjectMeta,
) -> Result<bool, ServiceError> {
    if a.size != b.size {
        return Ok(false);
    }
    let len = (Layout::PREFIX_MAX as u64).min(a.size);
    let ours = home.get_range(&a.name, 0..len).await?;
    let theirs = replica.get_range(&b.name, 0..len).await?;
    let header = |bytes: &[u8]| {
        Layout::parse(bytes)
            .map(|l| bytes[..l.header_len() as usize].to_vec())
            .unwrap_or_else(|_| bytes.to_vec())
    };
    Ok(header(&ours) == header(&theirs))
}

/// Copies one stored envelope from `from` to `to`, piece by piece.
async fn copy_object(
    from: &dyn Adapter,
    to: &dyn Adapter,
    meta: &ObjectMeta,
) -> Result<(), ServiceError> {
    let (tx, rx) = mpsc::channel(2);
    // Moves `tx` in: when this ends early, the channel closes and the store aborts.
    let send = async move {
        let mut at = 0;
        while at < meta.size {
            let end = (at + PIECE).min(meta.size);
            let piece = from.get_range(&meta.name, at..end).await?;
            if tx.send(Part::Data(piece)).await.is_err() {
                return Ok(());
            }
            at = end;
        }
        let _ = tx.send(Part::End).await;
        Ok::<(), AdapterError>(())
    };
    let (written, sent) = tokio::join!(to.put_parts(&meta.name, rx), send);
    sent?;
    written?;
    Ok(())
}

/// Makes every replica what the home store holds (before an erasure: a name only a replica
/// holds would escape it otherwise).
pub(super) async fn settle(tenant: &Tenant) -> Result<(), ServiceError> {
    match tenant.copies() {
        Some(copies) => compare_all(tenant, copies, true).await.map(|_| ()),
        None => Ok(()),
    }
}

/// Compares every replica with the home store, repairing what differs when `repair`.
async fn compare_all(
    tenant: &Tenant,
    copies: &crate::residency::Copies,
    repair: bool,
) -> Result<ReplicaReport, ServiceError> {
    let adapters = copies.adapters();
    let mut out = ReplicaReport {
        stores: copies.placements().map(|(p, _)| p.store.clone()).collect(),
        ..ReplicaReport::default()
    };
    let home = adapters[0].as_ref();
    let at_home = home.list(&tenant.root).await?;
    out.objects = at_home.len() as u64;
    for replica in &adapters[1..] {
        compare(tenant, home, &at_home, replica.as_ref(), repair, &mut out).await?;
    }
    Ok(out)
}
