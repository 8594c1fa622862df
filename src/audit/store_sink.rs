//! An audit sink in an object store (an EEA bucket admitted by the residency guard).
//!
//! Records are buffered and written as segment objects `audit/<chain>/<first>-<last>.jsonl`
//! (sequence numbers zero-padded, so names sort in order). A durable append — an intent or a
//! checkpoint — flushes the buffer and waits for the PUT, within a bounded time, before the call
//! may proceed; concurrent intents share one PUT (group commit, see `commit.rs`). Segments hold pseudonymised records only, so they are stored as plain JSONL.
//! The PUTs run on a dedicated thread with its own runtime, so the sink can be called from any
//! context (async or not) like the file sink.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use bitatlas_adapters::{Adapter, StorageName};
use bytes::Bytes;

use super::sink::{append_checkpoint_line, append_options, lock, open_claimed};
use super::{AuditRecord, AuditSink};

/// How long a durable append may wait for the store before the call fails closed.
pub const STORE_SINK_TIMEOUT: Duration = Duration::from_secs(10);

enum Job {
    Put(StorageName, Bytes, SyncSender<std::io::Result<()>>),
}

/// Buffered segments in an object store.
pub struct ObjectStoreSink {
    describe: String,
    prefix: StorageName,
    jobs: SyncSender<Job>,
    pending: std::sync::Mutex<Vec<String>>,
    /// Held while a segment is written (see [`AuditSink::sync`]).
    flushing: std::sync::Mutex<()>,
    adapter: Arc<dyn Adapter>,
    checkpoints: Option<std::sync::Mutex<std::fs::File>>,
}

fn seq_of(line: &str) -> std::io::Result<u64> {
    serde_json::from_str::<AuditRecord>(line)
        .map(|r| r.seq)
        .map_err(|_| std::io::Error::other("invalid audit record"))
}

fn worker(jobs: Receiver<Job>, adapter: Arc<dyn Adapter>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "audit store sink cannot start its runtime");
            return;
        }
    };
    while let Ok(Job::Put(name, bytes, done)) = jobs.recv() {
        let result = rt
            .block_on(adapter.put(&name, bytes))
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()));
        let _ = done.send(result);
    }
}

impl ObjectStoreSink {
    /// A sink writing chain `chain` into `adapter` (`store` names it in reports). Checkpoint
    /// copies go to the local file `checkpoints`, outside the bucket, so that deleting the last
    /// segments is detected; that file is locked exclusively (`WouldBlock` when another
    /// process holds it).
    pub fn new(
        adapter: Arc<dyn Adapter>,
        store: &str,
        chain: &str,
        checkpoints: Option<&std::path::Path>,
    ) -> std::io::Result<Self> {
        // The lock on the local copy is this process's claim on the chain.
        let checkpoints = match checkpoints {
            // Created readable by its owner only, like the file sink's files.
            Some(path) => Some(std::sync::Mutex::new(open_claimed(
                path,
                &append_options(),
            )?)),
            None => None,
        };
        let prefix = StorageName::parse(&format!("audit/{chain}"))
            .map_err(|_| std::io::Error::other("chain name is not a valid storage name"))?;
        let (tx, rx) = sync_channel::<Job>(16);
        let worker_adapter = Arc::clone(&adapter);
        std::thread::Builder::new()
            .name("audit-store-sink".into())
            .spawn(move || worker(rx, worker_adapter))?;
        Ok(Self {
            describe: format!("store {store} (segments under audit/{chain}/)"),
            prefix,
            jobs: tx,
            pending: std::sync::Mutex::new(Vec::new()),
            flushing: std::sync::Mutex::new(()),
            adapter,
            checkpoints,
        })
    }

    fn flush(&self, lines: &[String]) -> std::io::Result<()> {
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
            return Ok(());
        };
        let name = self
            .prefix
            .join(&format!(
                "{:020}-{:020}.jsonl",
                seq_of(first)?,
                seq_of(last)?
            ))
            .map_err(|_| std::io::Error::other("bad segment name"))?;
        let mut body = lines.join("\n");
        body.push('\n');
        let (done_tx, done_rx) = sync_channel(1);
        self.jobs
            .send(Job::Put(name, Bytes::from(body), done_tx))
            .map_err(|_| std::io::Error::other("audit store sink stopped"))?;
        done_rx
            .recv_timeout(STORE_SINK_TIMEOUT)
            .map_err(|_| std::io::Error::other("audit store did not answer in time"))?
    }
}

/// Every chain's segments in a store, in order (for `audit verify --sink`).
pub async fn read_store_segments(adapter: &dyn Adapter) -> std::io::Result<String> {
    let root = StorageName::parse("audit").map_err(|_| std::io::Error::other("bad prefix"))?;
    let mut metas = adapter
        .list(&root)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    metas.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for m in metas {
        let bytes = adapter
            .get(&m.name)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        out.push_str(
            std::str::from_utf8(&bytes)
                .map_err(|_| std::io::Error::other("segment is not UTF-8"))?,
        );
    }
    Ok(out)
}

impl AuditSink for ObjectStoreSink {
    fn append(&self, line: &str, durable: bool) -> std::io::Result<()> {
        let full = {
            let mut pending = lock(&self.pending, "audit buffer")?;
            pending.push(line.to_owned());
            pending.len() >= 256
        };
        if durable {
            if let Err(e) = self.sync() {
                // The caller fails closed and does not chain this record, so it must not be
                // written later either; the records before it stay for the next flush.
                let mut pending = lock(&self.pending, "audit buffer")?;
                if let Some(at) = pending.iter().rposition(|l| l == line) {
                    pending.remove(at);
                }
                return Err(e);
            }
        } else if full {
            // An outcome is acknowledged without waiting for the store; a failed flush keeps
            // the records for the next one.
            let _ = self.sync();
        }
        Ok(())
    }

    /// Writes the buffered records as one segment. One flush at a time, so segments are
    /// written in order; records of a failed flush go back to the front of the buffer.
    fn sync(&self) -> std::io::Result<()> {
        let _one = lock(&self.flushing, "audit flush")?;
        let lines = std::mem::take(&mut *lock(&self.pending, "audit buffer")?);
        if let Err(e) = self.flush(&lines) {
            let mut pending = lock(&self.pending, "audit buffer")?;
            let later = std::mem::replace(&mut *pending, lines);
            pending.extend(later);
            return Err(e);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn append_checkpoint(&self, line: &str) -> std::io::Result<()> {
        match &self.checkpoints {
            Some(file) => append_checkpoint_line(file, line),
            None => Ok(()),
        }
    }

    fn last_line(&self) -> std::io::Result<Option<String>> {
        let (tx, rx) = sync_channel(1);
        let adapter = Arc::clone(&self.adapter);
        let prefix = self.prefix.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let result = match rt {
                Ok(rt) => rt.block_on(async {
                    let metas = adapter
                        .list(&prefix)
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    let Some(last) = metas.iter().max_by(|a, b| a.name.cmp(&b.name)) else {
                        return Ok(None);
                    };
                    let bytes = adapter
                        .get(&last.name)
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    Ok(String::from_utf8_lossy(&bytes)
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map(str::to_owned))
                }),
                Err(e) => Err(e),
            };
            let _ = tx.send(result);
        });
        rx.recv_timeout(STORE_SINK_TIMEOUT)
            .map_err(|_| std::io::Error::other("audit store did not answer in time"))?
    }
}

impl Drop for ObjectStoreSink {
    fn drop(&mut self) {
        // Outcome records still buffered (the shutdown checkpoint flushes them normally).
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, "buffered audit records could not be written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::sink::tests::one_writer_per_chain;

    #[test]
    fn one_store_sink_per_chain() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("audit").join("c1.checkpoints");
        let adapter: Arc<dyn Adapter> = Arc::new(bitatlas_adapters::memory());
        let open = || ObjectStoreSink::new(Arc::clone(&adapter), "trail", "c1", Some(&copy));
        one_writer_per_chain(open, &copy);
    }
}
