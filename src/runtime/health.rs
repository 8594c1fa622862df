//! Whether the tenants' home stores still answer: a cheap check of each, repeated in the
//! background, whose last result `/readyz` reads.
//!
//! The check is a HEAD of a fixed name that no object uses ([`PROBE_NAME`]): "not found" and
//! "found" both mean the store answered with our credentials; a refused or failed request, or
//! none within the interval, means it did not. One check costs one HEAD per store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bitatlas_adapters::{AdapterError, StorageName};

use crate::service::SharedStore;

/// The name the check asks for (outside every tenant's and the audit trail's prefix).
pub const PROBE_NAME: &str = "probe/ready";

/// The last result of the home-store checks, shared by the checker and `/readyz`.
#[derive(Clone)]
pub struct StoreHealth {
    stores: Arc<BTreeMap<String, Checked>>,
}

struct Checked {
    store: SharedStore,
    /// True until a check fails (start-up has just verified the store).
    up: AtomicBool,
}

impl StoreHealth {
    /// Health of `stores` (name -> store), all up.
    pub(crate) fn new(stores: impl IntoIterator<Item = (String, SharedStore)>) -> StoreHealth {
        let stores = stores
            .into_iter()
            .map(|(name, store)| {
                let up = AtomicBool::new(true);
                (name, Checked { store, up })
            })
            .collect();
        StoreHealth {
            stores: Arc::new(stores),
        }
    }

    /// The first store whose last check failed, if any.
    pub fn unavailable(&self) -> Option<&str> {
        self.stores
            .iter()
            .find(|(_, c)| !c.up.load(Ordering::SeqCst))
            .map(|(name, _)| name.as_str())
    }

    /// Checks every store once; a check not answered within `timeout` fails.
    pub async fn check_now(&self, timeout: Duration) {
        let Ok(probe) = StorageName::parse(PROBE_NAME) else {
            return;
        };
        for (name, checked) in self.stores.iter() {
            let adapter = checked.store.adapter();
            let answer = tokio::time::timeout(timeout, adapter.head(&probe)).await;
            let up = matches!(answer, Ok(Ok(_)) | Ok(Err(AdapterError::NotFound)));
            let was_up = checked.up.swap(up, Ordering::SeqCst);
            match (was_up, up) {
                (true, false) => {
                    let why = match &answer {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {} ms", timeout.as_millis()),
                    };
                    tracing::warn!(store = %name, error = %why, "store unavailable: /readyz answers 503");
                }
                (false, true) => tracing::warn!(store = %name, "store answers again"),
                _ => {}
            }
        }
    }

    /// Runs [`check_now`](Self::check_now) every `interval` (each check bounded by the same
    /// interval) until the task is dropped or aborted. A store that stops answering is seen
    /// within two intervals.
    pub fn spawn_checks(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let health = self.clone();
        let interval = interval.max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                health.check_now(interval).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::residency::{Catalog, Guard, LocationEvidence, Policy, StoreSpec};

    fn local_store(dir: &std::path::Path) -> SharedStore {
        let spec = StoreSpec {
            name: "disk".into(),
            provider: "local".into(),
            attested_country: Some("DE".into()),
            ..StoreSpec::default()
        };
        let d = crate::residency::check(Catalog::builtin(), &Policy::eea_default(), &spec);
        let adapter: Arc<dyn bitatlas_adapters::Adapter> =
            Arc::new(bitatlas_adapters::local(dir).unwrap());
        let evidence = LocationEvidence::Attested {
            country: "DE".into(),
        };
        Arc::new(Guard::admit(d, adapter, evidence).unwrap())
    }

    #[tokio::test]
    async fn a_store_that_answers_not_found_is_up() {
        let dir = tempfile::tempdir().unwrap();
        let health = StoreHealth::new([("disk".to_string(), local_store(dir.path()))]);
        health.check_now(Duration::from_secs(1)).await;
        assert_eq!(health.unavailable(), None);
    }

    #[tokio::test]
    async fn a_store_whose_checks_fail_is_named_until_it_answers_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir(&root).unwrap();
        let health = StoreHealth::new([("disk".to_string(), local_store(&root))]);
        // A file where the probe's directory should be: the HEAD fails with an I/O error.
        std::fs::write(root.join("probe"), b"x").unwrap();
        health.check_now(Duration::from_secs(1)).await;
        assert_eq!(health.unavailable(), Some("disk"));
        std::fs::remove_file(root.join("probe")).unwrap();
        health.check_now(Duration::from_secs(1)).await;
        assert_eq!(health.unavailable(), None);
    }
}
