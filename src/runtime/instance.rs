//! Several processes on one data directory: each takes an instance slot, writes its own audit
//! chain, and notices the others' writes.
//!
//! A slot is the lowest-numbered audit sink nobody holds: slot 1 is `audit/audit.jsonl` with the
//! chain named after the instance (`[server] instance`, else the host name), slot N > 1 is
//! `audit/audit-N.jsonl` with chain `<name>.N`. The sink's exclusive lock is the claim, so a
//! crashed process frees its slot and the next process continues that chain. With `[audit]
//! store`, the lock is taken on the slot's local checkpoint file instead. Slots are reused, so
//! a directory never holds more trails than processes that ran on it at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use super::Stores;
use crate::audit::{AuditSink, FileSink, ObjectStoreSink};
use crate::config::ConfigFile;

/// Answers whether another process may have written since the last question.
pub type PeerWrites = Arc<dyn Fn() -> bool + Send + Sync>;

/// Processes that may serve one data directory at the same time.
pub const MAX_INSTANCES: u32 = 64;

/// Creates the data directory when it does not exist yet: mode 0700, with a `.gitignore`
/// ignoring everything, so a data directory placed inside a repository (an IDE's workspace)
/// is never one `git add .` away from a commit of its keys. An existing directory is left as
/// it is.
pub fn prepare_data_dir(data_dir: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(data_dir).is_ok() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(data_dir)?;
    std::fs::write(
        data_dir.join(".gitignore"),
        "# BitAtlas data directory: keys, sealed objects and the audit trail. Never commit it.\n*\n",
    )
}

/// The audit trail file of slot `slot` (1 is `audit.jsonl`, the only one before slots).
pub fn audit_path_for(data_dir: &Path, slot: u32) -> PathBuf {
    let name = if slot <= 1 {
        "audit.jsonl".to_owned()
    } else {
        format!("audit-{slot}.jsonl")
    };
    data_dir.join("audit").join(name)
}

/// Slot of a trail file name (`audit.jsonl` -> 1, `audit-N.jsonl` -> N), `None` otherwise.
fn slot_of(file_name: &str) -> Option<u32> {
    if file_name == "audit.jsonl" {
        return Some(1);
    }
    let n: u32 = file_name
        .strip_prefix("audit-")?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()?;
    (n > 1).then_some(n)
}

/// Every trail file of a data directory, slot 1 first.
pub fn audit_trails(data_dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(data_dir.join("audit"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let slot = slot_of(e.file_name().to_str()?)?;
            Some((slot, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// Local copies of the checkpoints of the trail kept in store `name`, for slot `slot`.
pub fn store_checkpoint_path_for(data_dir: &Path, name: &str, slot: u32) -> PathBuf {
    let mut file = format!("store-{name}.checkpoints");
    if slot > 1 {
        file.push_str(&format!(".{slot}"));
    }
    data_dir.join("audit").join(file)
}

/// Every checkpoint side file of the trail kept in store `name`, concatenated.
pub fn read_store_checkpoints(data_dir: &Path, name: &str) -> Option<String> {
    let base = format!("store-{name}.checkpoints");
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(data_dir.join("audit"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name();
            let rest = file.to_str()?.strip_prefix(&base)?;
            let slot = match rest.strip_prefix('.') {
                None if rest.is_empty() => 1,
                Some(n) => n.parse().ok().filter(|n| *n > 1)?,
                None => return None,
            };
            Some((slot, e.path()))
        })
        .collect();
    if files.is_empty() {
        return None;
    }
    files.sort();
    let mut text = String::new();
    for (_, path) in files {
        text.push_str(&std::fs::read_to_string(path).ok()?);
    }
    Some(text)
}

/// The audit sink of this process, its chain and how it learns of other processes' writes.
pub struct Opened {
    /// Where this process's records go.
    pub sink: Box<dyn AuditSink>,
    /// This process's chain name.
    pub chain: String,
    /// Watches the other slots' trails (file sinks only).
    pub peers: Option<PeerTrails>,
}

impl Opened {
    /// A sink given by the caller (tests, benches): no slot, the configured chain name.
    pub fn given(sink: Box<dyn AuditSink>, config: &ConfigFile) -> Self {
        Self {
            sink,
            chain: chain_name(config),
            peers: None,
        }
    }
}

/// Claims the lowest free slot and opens its sink: the file, or the store named in
/// `[audit] store`.
pub fn open(config: &ConfigFile, data_dir: &Path, stores: &Stores) -> anyhow::Result<Opened> {
    let base = chain_name(config);
    for slot in 1..=MAX_INSTANCES {
        let chain = if slot == 1 {
            base.clone()
        } else {
            format!("{base}.{slot}")
        };
        let opened = match &config.audit.store {
            Some(name) => {
                let store = stores
                    .get(name)
                    .with_context(|| format!("[audit] store: unknown store {name}"))?;
                let side = store_checkpoint_path_for(data_dir, name, slot);
                ObjectStoreSink::new(Arc::clone(store.adapter()), name, &chain, Some(&side))
                    .map(|s| (Box::new(s) as Box<dyn AuditSink>, None))
                    .map_err(|e| (e, format!("the audit sink in store {name}")))
            }
            None => {
                let path = audit_path_for(data_dir, slot);
                let peers = PeerTrails::new(data_dir, &path);
                FileSink::open(&path)
                    .map(|s| (Box::new(s) as Box<dyn AuditSink>, Some(peers)))
                    .map_err(|e| (e, format!("audit file {}", path.display())))
            }
        };
        match opened {
            Ok((sink, peers)) => return Ok(Opened { sink, chain, peers }),
            // Held by another process: try the next slot.
            Err((e, _)) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err((e, what)) => return Err(e).with_context(|| format!("cannot open {what}")),
        }
    }
    anyhow::bail!(
        "{MAX_INSTANCES} bitatlas processes already serve {}; stop one first",
        data_dir.display()
    )
}

/// One audit chain per instance: `[server] instance` when set, else the host name (letters,
/// digits and `-` only, so it is a valid storage name and a safe record field; slot numbers
/// are appended after a `.`, which no base name contains).
pub fn chain_name(config: &ConfigFile) -> String {
    let raw = config.server.instance.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    });
    let name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(63)
        .collect();
    if name.is_empty() {
        "bitatlas".into()
    } else {
        name
    }
}

/// The other slots' trail files. Every write or delete by another process appends to its trail
/// after the store has the object (the outcome record), so a trail that grew since the last
/// look means the index may be missing something.
pub struct PeerTrails {
    data_dir: PathBuf,
    own: PathBuf,
}

/// Length and inode of each peer trail.
type Snapshot = BTreeMap<PathBuf, (u64, u64)>;

impl PeerTrails {
    fn new(data_dir: &Path, own: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            own: own.to_owned(),
        }
    }

    fn snapshot(data_dir: &Path, own: &Path) -> Snapshot {
        audit_trails(data_dir)
            .into_iter()
            .filter(|p| p != own)
            .filter_map(|p| {
                let meta = std::fs::metadata(&p).ok()?;
                #[cfg(unix)]
                let ino = std::os::unix::fs::MetadataExt::ino(&meta);
                #[cfg(not(unix))]
                let ino = 0;
                Some((p, (meta.len(), ino)))
            })
            .collect()
    }

    /// A check for one tenant's index (each index keeps its own view of the peers).
    pub fn for_tenant(&self) -> PeerWrites {
        let data_dir = self.data_dir.clone();
        let own = self.own.clone();
        let seen = Mutex::new(None::<Snapshot>);
        Arc::new(move || {
            let now = Self::snapshot(&data_dir, &own);
            let Ok(mut seen) = seen.lock() else {
                return true;
            };
            // Before the first answer there is nothing to compare with; the index reads the
            // store on its first use anyway.
            let changed = seen.as_ref().is_none_or(|s| *s != now);
            *seen = Some(now);
            changed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_name_their_files_unambiguously() {
        let d = Path::new("/d");
        assert_eq!(audit_path_for(d, 1), Path::new("/d/audit/audit.jsonl"));
        assert_eq!(audit_path_for(d, 7), Path::new("/d/audit/audit-7.jsonl"));
        assert_eq!(slot_of("audit.jsonl"), Some(1));
        assert_eq!(slot_of("audit-12.jsonl"), Some(12));
        for other in [
            "audit-1.jsonl",
            "audit-x.jsonl",
            "audit.jsonl.checkpoints",
            "audit-2.jsonl.checkpoints",
        ] {
            assert_eq!(slot_of(other), None, "{other}");
        }
    }

    #[test]
    fn store_side_files_of_one_store_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("audit")).unwrap();
        for (name, slot, text) in [
            ("eu", 1, "a\n"),
            ("eu", 3, "b\n"),
            ("eu.checkpoints", 1, "x\n"),
        ] {
            std::fs::write(store_checkpoint_path_for(dir.path(), name, slot), text).unwrap();
        }
        assert_eq!(
            read_store_checkpoints(dir.path(), "eu").as_deref(),
            Some("a\nb\n")
        );
        assert_eq!(read_store_checkpoints(dir.path(), "other"), None);
    }

    #[test]
    fn peer_trails_report_growth_once() {
        let dir = tempfile::tempdir().unwrap();
        let own = audit_path_for(dir.path(), 1);
        let peer = audit_path_for(dir.path(), 2);
        std::fs::create_dir_all(own.parent().unwrap()).unwrap();
        std::fs::write(&own, "").unwrap();
        let check = PeerTrails::new(dir.path(), &own).for_tenant();
        assert!(check(), "first look");
        assert!(!check());
        std::fs::write(&own, "own record\n").unwrap();
        assert!(!check(), "own writes are already in the index");
        std::fs::write(&peer, "peer record\n").unwrap();
        assert!(check());
        assert!(!check());
    }
}
