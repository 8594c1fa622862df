//! Group commit of durable audit records.
//!
//! An intent must reach stable storage before its call may touch the store, but a sync per
//! record would serialise every concurrent mutating call behind one `fdatasync` (or one PUT of
//! a segment, for the store sink) and block a runtime worker while it runs. Instead a record
//! is appended without syncing and its caller waits until a sync that started after the
//! append has finished: the first waiter to find no sync running starts one on a blocking
//! thread, and every record appended before that sync started becomes durable with it. While
//! one sync runs, the next group gathers; at most one sync is in flight per sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use super::AuditSink;

/// How far the trail is known to be durable, and how far a sync failed.
#[derive(Debug, Clone, Copy, Default)]
struct Synced {
    /// Every record up to this sequence number is on stable storage.
    through: u64,
    /// A sync covering records up to this sequence number failed.
    failed_through: u64,
}

/// The sync state of one sink, shared with the blocking thread running a sync.
pub(super) struct GroupCommit {
    syncing: AtomicBool,
    synced: watch::Sender<Synced>,
}

/// A record could not be made durable.
#[derive(Debug)]
pub(super) struct NotDurable;

impl GroupCommit {
    /// State for a trail whose records up to `seq` are already durable.
    pub(super) fn new(seq: u64) -> Arc<Self> {
        Arc::new(Self {
            syncing: AtomicBool::new(false),
            synced: watch::Sender::new(Synced {
                through: seq,
                failed_through: 0,
            }),
        })
    }

    /// Waits until the record `seq` (already appended to `sink`) is durable. `written` reads
    /// the sequence number of the last record appended so far; a sync started now covers it.
    /// Cancelling the wait is safe: a started sync finishes on its own thread.
    pub(super) async fn wait(
        self: &Arc<Self>,
        seq: u64,
        sink: &Arc<dyn AuditSink>,
        written: impl Fn() -> Option<u64>,
    ) -> Result<(), NotDurable> {
        let mut rx = self.synced.subscribe();
        loop {
            let now = *rx.borrow_and_update();
            if now.through >= seq {
                return Ok(());
            }
            if now.failed_through >= seq {
                return Err(NotDurable);
            }
            if !self.syncing.swap(true, Ordering::AcqRel) {
                let Some(target) = written() else {
                    self.syncing.store(false, Ordering::Release);
                    return Err(NotDurable);
                };
                let commit = Arc::clone(self);
                let sink = Arc::clone(sink);
                // The sync publishes its own result; its handle is not needed.
                drop(tokio::task::spawn_blocking(move || {
                    commit.sync(&*sink, target)
                }));
            }
            if rx.changed().await.is_err() {
                return Err(NotDurable);
            }
        }
    }

    /// Runs one sync covering records up to `target` and publishes its result. `syncing` is
    /// cleared before the result is published, so a waiter woken by it can start the next.
    fn sync(&self, sink: &dyn AuditSink, target: u64) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.sync()));
        let ok = match result {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "audit sync failed");
                false
            }
            Err(_) => {
                tracing::error!("audit sync panicked");
                false
            }
        };
        self.syncing.store(false, Ordering::Release);
        self.synced.send_modify(|s| {
            if ok {
                s.through = s.through.max(target);
            } else {
                s.failed_through = s.failed_through.max(target);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use crate::audit::{AuditEvent, AuditKeys, AuditLog, AuditRecord, AuditSink, Phase};

    /// A sink whose sync takes a while, counts itself and remembers how many lines it
    /// covered; it can be told to fail its syncs.
    #[derive(Default)]
    struct SlowSink {
        lines: Mutex<Vec<String>>,
        synced_lines: AtomicUsize,
        syncs: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    impl AuditSink for std::sync::Arc<SlowSink> {
        fn append(&self, line: &str, _durable: bool) -> std::io::Result<()> {
            self.lines.lock().unwrap().push(line.to_owned());
            Ok(())
        }
        fn sync(&self) -> std::io::Result<()> {
            let covered = self.lines.lock().unwrap().len();
            std::thread::sleep(Duration::from_millis(20));
            self.syncs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::Error::other("sync failed"));
            }
            self.synced_lines
                .fetch_max(covered, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        fn describe(&self) -> String {
            "slow".into()
        }
    }

    fn intent(request_id: &str) -> AuditEvent<'_> {
        AuditEvent {
            request_id,
            phase: Phase::Intent,
            tool: "put",
            tenant: "t",
            object: Some("k"),
            subject: None,
            size: None,
            placement: None,
            code: "OK",
            latency_us: None,
            grant: None,
        }
    }

    fn log(sink: &std::sync::Arc<SlowSink>) -> std::sync::Arc<AuditLog> {
        let sink: Box<dyn AuditSink> = Box::new(std::sync::Arc::clone(sink));
        std::sync::Arc::new(AuditLog::open(sink, "c".into(), AuditKeys::derive(&[7; 32])).unwrap())
    }

    /// Runs `n` concurrent durable records; each task returns its request id once its
    /// record is acknowledged, together with how many lines were synced at that moment.
    async fn concurrent(
        log: &std::sync::Arc<AuditLog>,
        sink: &std::sync::Arc<SlowSink>,
        n: usize,
    ) -> Vec<(String, Result<usize, ()>)> {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let log = std::sync::Arc::clone(log);
                let sink = std::sync::Arc::clone(sink);
                tokio::spawn(async move {
                    let id = format!("r{i}");
                    let done = log.record_durable(&intent(&id)).await;
                    let synced = sink.synced_lines.load(std::sync::atomic::Ordering::SeqCst);
                    (id, done.map(|()| synced).map_err(|_| ()))
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_intents_share_syncs_and_wait_for_theirs() {
        let sink = std::sync::Arc::new(SlowSink::default());
        let log = log(&sink);
        let results = concurrent(&log, &sink, 64).await;
        let lines = sink.lines.lock().unwrap().clone();
        assert_eq!(lines.len(), 64);
        for (id, synced) in results {
            let synced = synced.expect("acknowledged");
            let at = lines
                .iter()
                .position(|l| serde_json::from_str::<AuditRecord>(l).unwrap().request_id == id)
                .unwrap();
            assert!(
                at < synced,
                "{id} (line {at}) acknowledged with {synced} lines synced"
            );
        }
        let syncs = sink.syncs.load(std::sync::atomic::Ordering::SeqCst);
        assert!(syncs < 16, "64 concurrent intents took {syncs} syncs");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_sync_fails_its_group_and_a_later_one_succeeds() {
        let sink = std::sync::Arc::new(SlowSink::default());
        let log = log(&sink);
        sink.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let results = concurrent(&log, &sink, 16).await;
        assert!(results.iter().all(|(_, r)| r.is_err()), "{results:?}");
        sink.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        let results = concurrent(&log, &sink, 4).await;
        assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_waiter_does_not_stall_the_next_sync() {
        let sink = std::sync::Arc::new(SlowSink::default());
        let log = log(&sink);
        // Dropped while its sync runs (a client cancelled the call).
        let first = tokio::time::timeout(
            Duration::from_millis(1),
            log.record_durable(&intent("cancelled")),
        )
        .await;
        assert!(first.is_err(), "the first sync should still be running");
        let next =
            tokio::time::timeout(Duration::from_secs(10), log.record_durable(&intent("next")))
                .await;
        assert!(matches!(next, Ok(Ok(()))), "{next:?}");
        assert!(sink.synced_lines.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    }
}
