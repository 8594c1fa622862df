//! The periodic probe of `serve --http`: one round trip ([`probe_store`]) per configured store
//! every `[probe] interval_secs`, its result in `/metrics`, and `/readyz` failing once a store
//! has failed `[probe] unready_after` round trips in a row.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::Stores;
use super::probe::{ProbeReport, probe_store};
use crate::config::ProbeSection;
use crate::service::{Metrics, Service, SharedStore};

/// Every store's run of failed round trips, shared by the prober and `/readyz`.
#[derive(Clone)]
pub struct ProbeSchedule {
    stores: Arc<Vec<Probed>>,
    interval: Duration,
    step_limit: Duration,
    unready_after: u32,
}

struct Probed {
    name: String,
    store: SharedStore,
    /// Round trips failed in a row (0 after a pass).
    failures: AtomicU32,
}

impl ProbeSchedule {
    /// The schedule for `stores` with the `[probe]` settings (validated by the caller).
    pub(crate) fn new(stores: &Stores, settings: &ProbeSection) -> ProbeSchedule {
        let stores = stores
            .iter()
            .map(|(name, store)| Probed {
                name: name.clone(),
                store: Arc::clone(store),
                failures: AtomicU32::new(0),
            })
            .collect();
        ProbeSchedule {
            stores: Arc::new(stores),
            interval: Duration::from_secs(settings.interval_secs),
            step_limit: Duration::from_secs(settings.timeout_secs),
            unready_after: settings.unready_after,
        }
    }

    /// Whether the periodic probe is on (`interval_secs` > 0).
    pub fn enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    /// The first store that failed its last `unready_after` round trips, if any.
    pub fn failing(&self) -> Option<&str> {
        self.stores
            .iter()
            .find(|p| p.failures.load(Ordering::SeqCst) >= self.unready_after)
            .map(|p| p.name.as_str())
    }

    /// One round trip on every store, one store after the other (a probe should not add
    /// load); each result is recorded in `metrics` and in the failure runs.
    pub async fn run_once(&self, metrics: &Metrics) -> Vec<ProbeReport> {
        let mut reports = Vec::with_capacity(self.stores.len());
        for p in self.stores.iter() {
            let report = probe_store(&p.name, &p.store, self.step_limit).await;
            metrics.record_probe(&p.name, report.ok(), report.total);
            if report.ok() {
                if p.failures.swap(0, Ordering::SeqCst) >= self.unready_after {
                    tracing::warn!(store = %p.name, "probe passes again");
                }
            } else {
                let run = p.failures.fetch_add(1, Ordering::SeqCst) + 1;
                let why = report.error.as_ref().map(|e| e.to_string());
                tracing::warn!(
                    store = %p.name,
                    failed_in_a_row = run,
                    error = why.as_deref().unwrap_or(""),
                    "probe round trip failed"
                );
            }
            reports.push(report);
        }
        reports
    }

    /// Runs [`run_once`](Self::run_once) now and then every interval until the task is
    /// aborted; does nothing when the probe is off.
    pub fn spawn(&self, service: Service) -> Option<tokio::task::JoinHandle<()>> {
        if !self.enabled() {
            return None;
        }
        let schedule = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(schedule.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                schedule.run_once(service.metrics()).await;
            }
        }))
    }
}
