//! Erasure (GDPR Art. 17): every copy and every kept version of one key, of every key under a
//! folder, or of everything a tenant has in its store. Idempotent, so an interrupted erasure
//! is resumed by running it again. What it removed is counted for the erasure receipt the
//! command line signs; each erasure is audited (pseudonymously, like every call).

use super::call::Audited;
use super::error::ServiceError;
use super::key::parse_prefix;
use super::list::page;
use super::versions::{keys_with_versions, purge_key};
use super::{Caller, ListRequest, MAX_PAGE, ObjectKey, Service, Tenant, Tool};

/// What to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseScope {
    /// One key.
    Key(String),
    /// Every key under a folder.
    Prefix(String),
    /// Everything the tenant has in its store (objects, versions, upload records).
    All,
}

/// What an erasure removed.
#[derive(Debug, Clone)]
pub struct Erased {
    /// Keys whose current object was removed.
    pub objects: u64,
    /// Kept versions removed.
    pub versions: u64,
    /// Other names removed (upload records, staged uploads; `All` only).
    pub other: u64,
    /// The stores erased from.
    pub stores: Vec<String>,
}

impl Audited for Erased {}

impl Service {
    /// Erases `scope` of `caller`'s data from every store it has.
    pub async fn erase(&self, caller: &Caller, scope: &EraseScope) -> Result<Erased, ServiceError> {
        let label = match scope {
            EraseScope::Key(k) | EraseScope::Prefix(k) => Some(k.as_str()),
            EraseScope::All => None,
        };
        self.settle_all(caller).await;
        self.run(caller, Tool::Erase, label, async |tenant| {
            let mut out = Erased {
                objects: 0,
                versions: 0,
                other: 0,
                stores: match tenant.copies() {
                    Some(c) => c.placements().map(|(p, _)| p.store.clone()).collect(),
                    None => vec![tenant.store_name().to_owned()],
                },
            };
            if *scope == EraseScope::All {
                // Everything under the tenant's folder, on each copy on its own, by name: no
                // key is needed (they may already be destroyed) and nothing only one copy
                // holds is missed.
                erase_all(tenant, &mut out).await?;
                return Ok(out);
            }
            // A name only a replica holds (a write or delete that failed on the home store)
            // would escape a listing of the home store: settle the copies first.
            if tenant.copies().is_some() {
                super::replicas::settle(tenant).await?;
            }
            let keys = match scope {
                EraseScope::Key(k) => vec![ObjectKey::parse(k)?.as_str().to_owned()],
                EraseScope::Prefix(p) => {
                    let folder = parse_prefix(Some(p))?;
                    keys_under(tenant, folder.as_deref()).await?
                }
                EraseScope::All => unreachable!("handled above"),
            };
            for key in &keys {
                let (current, versions) = purge_key(tenant, key).await?;
                out.objects += u64::from(current);
                out.versions += versions;
            }
            Ok(out)
        })
        .await
    }
}

/// Every key under `folder` (all keys when `None`) with a current object or a kept version.
async fn keys_under(tenant: &Tenant, folder: Option<&str>) -> Result<Vec<String>, ServiceError> {
    let mut keys = std::collections::BTreeSet::new();
    let mut cursor = None;
    loop {
        let listed = page(
            tenant,
            ListRequest {
                prefix: folder.map(str::to_owned),
                delimiter: false,
                limit: Some(MAX_PAGE),
                cursor: cursor.take(),
            },
        )
        .await?;
        keys.extend(listed.objects.into_iter().map(|o| o.key));
        match listed.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let inside = |k: &str| match folder {
        None => true,
        Some(f) => k.strip_prefix(f).is_some_and(|rest| rest.starts_with('/')),
    };
    keys.extend(
        keys_with_versions(tenant)
            .await?
            .into_iter()
            .filter(|k| inside(k)),
    );
    Ok(keys.into_iter().collect())
}

/// Deletes every name under the tenant's folder on every copy, counting objects (`o/`), kept
/// versions (`v/`) and the rest.
async fn erase_all(tenant: &Tenant, out: &mut Erased) -> Result<(), ServiceError> {
    let single = [std::sync::Arc::clone(tenant.store.adapter())];
    let adapters = match tenant.copies() {
        Some(c) => c.adapters(),
        None => &single[..],
    };
    let objects = format!("{}/o/", tenant.root.as_str());
    let versions = format!("{}/v/", tenant.root.as_str());
    for (i, adapter) in adapters.iter().enumerate() {
        for meta in adapter.list(&tenant.root).await? {
            let deleted = u64::from(adapter.delete(&meta.name).await?);
            // Counted once, from the home store; the replicas hold the same names.
            if i > 0 {
                continue;
            }
            let name = meta.name.as_str();
            if name.starts_with(&objects) {
                out.objects += deleted;
            } else if name.starts_with(&versions) {
                out.versions += deleted;
            } else {
                out.other += deleted;
            }
        }
    }
    Ok(())
}
