//! One adapter over a home store and its replicas: every write and delete reaches every copy,
//! reads fail over.
//!
//! - **Writes** (`put`, `put_parts`) go to every store at once and succeed only when every
//!   store committed: an acknowledged write is on every copy (RPO 0). Parts are teed to each
//!   store; if one store gives up midway, the others are cut short too and commit nothing.
//!   A store failing at its commit, after others committed, leaves the copies differing (each
//!   one whole); the write answers an error and `replicas repair` settles it (the home store
//!   wins).
//! - **Deletes** go to every store; the answer is the home store's, once all succeeded.
//! - **Reads** (`get`, `get_range`, `head`, `list`) ask the home store first and, when it is
//!   unavailable (an error, a timeout), each replica in order. A store that failed is skipped
//!   for [`COOL_DOWN`] so that a dead home store costs one timeout, not one per call.
//!   `NotFound` from a store that answered is an answer, never a reason to ask another.
//! - **Presigned URLs** are always the home store's (they are checked against its residency
//!   decision).

use std::ops::Range;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::{Adapter, AdapterError, ObjectMeta, Part, PresignMethod, StorageName, Written};

tokio::task_local! {
    /// The highest-numbered store (0: home) that answered a read within [`tracking`].
    static SERVED: std::cell::Cell<usize>;
}

/// Runs `f`, and returns with its output which store (0: the home store) answered its reads
/// (the last one to fail over, if any did): per call, whatever other calls do meanwhile.
pub async fn tracking<F: std::future::Future>(f: F) -> (F::Output, usize) {
    SERVED
        .scope(std::cell::Cell::new(0), async {
            let out = f.await;
            (out, SERVED.with(std::cell::Cell::get))
        })
        .await
}

/// How long a store that failed a read is skipped by later reads.
pub const COOL_DOWN: Duration = Duration::from_secs(10);

/// A home store and its replicas as one adapter.
#[derive(Debug)]
pub struct Replicated {
    stores: Vec<Arc<dyn Adapter>>,
    down_until: Mutex<Vec<Option<Instant>>>,
    last_served: AtomicUsize,
    /// Per store: writes and deletes it failed while another store took them.
    diverged: Vec<AtomicU64>,
    /// Per store: reads it answered because a store before it could not.
    failovers: Vec<AtomicU64>,
}

/// What happened to one copy since start (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// Writes and deletes this copy failed while another copy took them: differences
    /// `replicas repair` settles.
    pub diverged: u64,
    /// Reads this copy answered because a copy before it was unavailable.
    pub failovers: u64,
}

impl Replicated {
    /// `home` first, then the replicas in the order reads fail over to them.
    pub fn new(home: Arc<dyn Adapter>, replicas: Vec<Arc<dyn Adapter>>) -> Self {
        let mut stores = vec![home];
        stores.extend(replicas);
        let n = stores.len();
        Self {
            stores,
            down_until: Mutex::new(vec![None; n]),
            last_served: AtomicUsize::new(0),
            diverged: (0..n).map(|_| AtomicU64::new(0)).collect(),
            failovers: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Each store's counts, home first.
    pub fn counts(&self) -> Vec<CopyCounts> {
        (0..self.stores.len())
            .map(|i| CopyCounts {
                diverged: self.diverged[i].load(Ordering::Relaxed),
                failovers: self.failovers[i].load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The stores, home first.
    pub fn stores(&self) -> &[Arc<dyn Adapter>] {
        &self.stores
    }

    /// Which store (0: home) answered the most recent successful read.
    pub fn last_served(&self) -> usize {
        self.last_served.load(Ordering::Relaxed)
    }

    /// The order to ask stores in: those not cooling down first (home first among them),
    /// then the rest, so that a read still tries everything before it fails.
    fn read_order(&self) -> Vec<usize> {
        let now = Instant::now();
        let down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        let (mut up, cooling): (Vec<usize>, Vec<usize>) =
            (0..self.stores.len()).partition(|i| down[*i].is_none_or(|t| t <= now));
        up.extend(cooling);
        up
    }

    fn mark(&self, i: usize, ok: bool) {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        down[i] = if ok {
            None
        } else {
            Some(Instant::now() + COOL_DOWN)
        };
    }

    async fn read<'a, T>(
        &'a self,
        op: impl Fn(&'a dyn Adapter) -> BoxFuture<'a, Result<T, AdapterError>> + Send,
    ) -> Result<T, AdapterError> {
        let mut last = AdapterError::Unavailable("no store to read from");
        for (attempt, i) in self.read_order().into_iter().enumerate() {
            match op(self.stores[i].as_ref()).await {
                Err(e @ AdapterError::Unavailable(_)) => {
                    tracing::warn!(copy = i, error = %e, "a copy is unavailable; trying the next");
                    self.mark(i, false);
                    last = e;
                }
                other => {
                    self.mark(i, true);
                    self.last_served.store(i, Ordering::Relaxed);
                    if attempt > 0 || i > 0 {
                        self.failovers[i].fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = SERVED.try_with(|s| s.set(s.get().max(i)));
                    return other;
                }
            }
        }
        Err(last)
    }

    /// Every store's result; the home store's value when all succeeded, else the first error
    /// (the home store's if it failed). A store that failed while another succeeded is
    /// counted as diverged.
    fn all<T>(&self, results: Vec<Result<T, AdapterError>>) -> Result<T, AdapterError> {
        if results.iter().any(Result::is_ok) {
            for (i, r) in results.iter().enumerate() {
                if r.is_err() {
                    self.diverged[i].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let mut home = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(v) if i == 0 => home = Some(v),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        home.ok_or(AdapterError::Unavailable("no store"))
    }
}

#[async_trait]
impl Adapter for Replicated {
    fn kind(&self) -> &'static str {
        self.stores[0].kind()
    }

    async fn put(&self, name: &StorageName, bytes: Bytes) -> Result<Written, AdapterError> {
        let writes = self.stores.iter().map(|s| s.put(name, bytes.clone()));
        self.all(futures::future::join_all(writes).await)
    }

    async fn put_parts(
        &self,
        name: &StorageName,
        mut parts: mpsc::Receiver<Part>,
    ) -> Result<Written, AdapterError> {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            self.stores.iter().map(|_| mpsc::channel(1)).unzip();
        let writes = futures::future::join_all(
            self.stores
                .iter()
                .zip(receivers)
                .map(|(s, rx)| s.put_parts(name, rx)),
        );
        let tee = async move {
            while let Some(part) = parts.recv().await {
                match part {
                    Part::Data(b) => {
                        for tx in &senders {
                            // A store that gave up: cut every other one short (no `End`).
                            if tx.send(Part::Data(b.clone())).await.is_err() {
                                return;
                            }
                        }
                    }
                    Part::End => {
                        // Commit only if every store is still there, the home store last, so
                        // that a replica giving up at the end leaves the home store unchanged.
                        if senders.iter().any(|tx| tx.is_closed()) {
                            return;
                        }
                        for tx in senders.iter().rev() {
                            if tx.send(Part::End).await.is_err() {
                                return;
                            }
                        }
                        return;
                    }
                }
            }
        };
        let (results, ()) = tokio::join!(writes, tee);
        self.all(results)
    }

    async fn get(&self, name: &StorageName) -> Result<Bytes, AdapterError> {
        self.read(|s| s.get(name)).await
    }

    async fn get_range(
        &self,
        name: &StorageName,
        range: Range<u64>,
    ) -> Result<Bytes, AdapterError> {
        self.read(|s| s.get_range(name, range.clone())).await
    }

    async fn head(&self, name: &StorageName) -> Result<ObjectMeta, AdapterError> {
        self.read(|s| s.head(name)).await
    }

    async fn delete(&self, name: &StorageName) -> Result<bool, AdapterError> {
        let deletes = self.stores.iter().map(|s| s.delete(name));
        self.all(futures::future::join_all(deletes).await)
    }

    async fn list(&self, prefix: &StorageName) -> Result<Vec<ObjectMeta>, AdapterError> {
        self.read(|s| s.list(prefix)).await
    }

    async fn presign(
        &self,
        name: &StorageName,
        method: PresignMethod,
        expires_in: Duration,
    ) -> Result<url::Url, AdapterError> {
        self.stores[0].presign(name, method, expires_in).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StorageName {
        StorageName::parse(s).unwrap()
    }

    /// A store that is down: every call is `Unavailable`.
    #[derive(Debug)]
    struct Down;

    #[async_trait]
    impl Adapter for Down {
        fn kind(&self) -> &'static str {
            "down"
        }
        async fn put(&self, _: &StorageName, _: Bytes) -> Result<Written, AdapterError> {
            Err(AdapterError::Unavailable("down"))
        }
        async fn get(&self, _: &StorageName) -> Result<Bytes, AdapterError> {
            Err(AdapterError::Unavailable("down"))
        }
        async fn get_range(&self, _: &StorageName, _: Range<u64>) -> Result<Bytes, AdapterError> {
            Err(AdapterError::Unavailable("down"))
        }
        async fn head(&self, _: &StorageName) -> Result<ObjectMeta, AdapterError> {
            Err(AdapterError::Unavailable("down"))
        }
        async fn delete(&self, _: &StorageName) -> Result<bool, AdapterError> {
            Err(AdapterError::Unavailable("down"))
        }
        async fn list(&self, _: &StorageName) -> Result<Vec<ObjectMeta>, AdapterError> {
            Err(AdapterError::Unavailable("down"))
        }
    }

    #[tokio::test]
    async fn writes_reach_every_copy_and_reads_fail_over() {
        let (a, b): (Arc<dyn Adapter>, Arc<dyn Adapter>) =
            (Arc::new(crate::memory()), Arc::new(crate::memory()));
        let r = Replicated::new(Arc::clone(&a), vec![Arc::clone(&b)]);
        r.put(&name("x/1"), Bytes::from_static(b"one"))
            .await
            .unwrap();
        assert_eq!(a.get(&name("x/1")).await.unwrap(), "one");
        assert_eq!(b.get(&name("x/1")).await.unwrap(), "one");

        let (tx, rx) = mpsc::channel(4);
        tx.send(Part::Data(Bytes::from_static(b"tw")))
            .await
            .unwrap();
        tx.send(Part::Data(Bytes::from_static(b"o"))).await.unwrap();
        tx.send(Part::End).await.unwrap();
        drop(tx);
        r.put_parts(&name("x/2"), rx).await.unwrap();
        assert_eq!(b.get(&name("x/2")).await.unwrap(), "two");

        assert!(r.delete(&name("x/1")).await.unwrap());
        assert!(matches!(
            a.get(&name("x/1")).await,
            Err(AdapterError::NotFound)
        ));
        assert!(matches!(
            b.get(&name("x/1")).await,
            Err(AdapterError::NotFound)
        ));

        // Home down: reads come from the replica and say so; writes fail.
        let down: Arc<dyn Adapter> = Arc::new(Down);
        let r = Replicated::new(down, vec![Arc::clone(&b)]);
        assert_eq!(r.get(&name("x/2")).await.unwrap(), "two");
        assert_eq!(r.last_served(), 1);
        assert!(matches!(
            r.get(&name("x/9")).await,
            Err(AdapterError::NotFound)
        ));
        assert!(r.put(&name("x/3"), Bytes::from_static(b"3")).await.is_err());
    }

    #[tokio::test]
    async fn a_cut_short_upload_commits_nowhere() {
        let (a, b): (Arc<dyn Adapter>, Arc<dyn Adapter>) =
            (Arc::new(crate::memory()), Arc::new(crate::memory()));
        let r = Replicated::new(Arc::clone(&a), vec![Arc::clone(&b)]);
        let (tx, rx) = mpsc::channel(4);
        tx.send(Part::Data(Bytes::from_static(b"half")))
            .await
            .unwrap();
        drop(tx);
        assert!(r.put_parts(&name("x/4"), rx).await.is_err());
        assert!(matches!(
            a.head(&name("x/4")).await,
            Err(AdapterError::NotFound)
        ));
        assert!(matches!(
            b.head(&name("x/4")).await,
            Err(AdapterError::NotFound)
        ));
    }
}
