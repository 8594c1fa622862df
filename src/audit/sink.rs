//! Where audit lines go.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// An append-only destination for audit lines.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends one line (without newline). `durable` asks for it to reach stable storage
    /// before returning.
    fn append(&self, line: &str, durable: bool) -> std::io::Result<()>;
    /// Makes every line appended so far durable (the group commit of intents calls it on a
    /// blocking thread, while other lines may be appended).
    fn sync(&self) -> std::io::Result<()> {
        Ok(())
    }
    /// A human description for banners and reports (no secrets).
    fn describe(&self) -> String;
    /// Keeps a second copy of a checkpoint line elsewhere, so truncating the main trail is
    /// detected (the file sink writes `<file>.checkpoints`).
    fn append_checkpoint(&self, _line: &str) -> std::io::Result<()> {
        Ok(())
    }
    /// Checks, without writing a record, that an append would currently succeed
    /// (readiness probes).
    fn probe(&self) -> std::io::Result<()> {
        Ok(())
    }
    /// The last line written before this process started, to continue the chain.
    fn last_line(&self) -> std::io::Result<Option<String>> {
        Ok(None)
    }
}

/// A JSON Lines file, opened in append mode. Intents are fsynced (group-committed, see
/// `commit.rs`); outcomes are written to the OS and fsynced with the next intent.
pub struct FileSink {
    path: PathBuf,
    /// Bytes of a torn last line moved aside when the file was opened.
    repaired: Option<u64>,
    file: Mutex<Trail>,
    /// A second handle on the trail for syncs, so a sync does not hold the append lock.
    sync_handle: File,
    /// Set when a sync failed: after a failed `fdatasync` the kernel may have dropped the
    /// dirty pages, so what reached the disk is unknown and nothing more is acknowledged
    /// (fail closed) until a restart checks the trail.
    sync_failed: std::sync::atomic::AtomicBool,
    checkpoints: Mutex<File>,
}

/// The open trail and where its last whole line ends.
struct Trail {
    file: File,
    /// Length of the file up to the end of the last line this sink wrote whole (or found).
    end: u64,
    /// Set when a failed append could not be rolled back: the file may end in a torn line,
    /// so nothing more is appended to it (fail closed) until a restart repairs the tail.
    broken: bool,
}

/// The side file holding copies of checkpoint lines for `audit_file`.
pub fn checkpoint_path(audit_file: &Path) -> PathBuf {
    let mut name = audit_file.as_os_str().to_owned();
    name.push(".checkpoints");
    PathBuf::from(name)
}

/// Append mode, creating the file readable by its owner only.
pub(super) fn append_options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Opens `path` with `opts` (creating its directory first) and takes an exclusive lock on
/// it: the lock is this process's claim on a chain, so two processes never append to one
/// chain (`WouldBlock` when another process holds it).
pub(super) fn open_claimed(path: &Path, opts: &OpenOptions) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = opts.open(path)?;
    if file.try_lock().is_err() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("{} is in use by another bitatlas process", path.display()),
        ));
    }
    Ok(file)
}

/// Locks `m`; a lock poisoned by a panicking holder is an I/O error about `what`.
pub(super) fn lock<'a, T>(m: &'a Mutex<T>, what: &str) -> std::io::Result<MutexGuard<'a, T>> {
    m.lock()
        .map_err(|_| std::io::Error::other(format!("{what} poisoned")))
}

/// Appends `line` to a checkpoint side file and waits until it reached stable storage.
pub(super) fn append_checkpoint_line(file: &Mutex<File>, line: &str) -> std::io::Result<()> {
    let mut file = lock(file, "checkpoint file lock")?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_data()
}

impl FileSink {
    /// Opens (creating with mode 0600) the audit file and its checkpoint side file, and
    /// takes an exclusive lock: one process appends to one chain (`WouldBlock` when another
    /// process holds it; the runtime then takes the next instance slot).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = open_claimed(path, &append_options())?;
        let repaired = move_torn_tail_aside(path, &file)?;
        let end = file.metadata()?.len();
        let checkpoints = append_options().open(checkpoint_path(path))?;
        Ok(Self {
            path: path.to_owned(),
            repaired,
            sync_handle: file.try_clone()?,
            sync_failed: std::sync::atomic::AtomicBool::new(false),
            file: Mutex::new(Trail {
                file,
                end,
                broken: false,
            }),
            checkpoints: Mutex::new(checkpoints),
        })
    }
}

impl FileSink {
    fn check_synced(&self) -> std::io::Result<()> {
        if self.sync_failed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other(
                "an earlier sync of the audit file failed; restart to check the trail",
            ));
        }
        Ok(())
    }

    /// The length of a torn last line that opening moved to [`torn_path`], if there was one.
    pub fn repaired_tail(&self) -> Option<u64> {
        self.repaired
    }
}

/// Where a torn last line of `audit_file` is kept after it was moved out of the trail.
pub fn torn_path(audit_file: &Path) -> PathBuf {
    let mut name = audit_file.as_os_str().to_owned();
    name.push(".torn");
    PathBuf::from(name)
}

/// A trail that does not end with a line end ends in a write cut short (a crash or power cut
/// mid-append): that record was never completely written, so no caller was told it was
/// recorded. Its bytes are appended to the `.torn` side file (kept for inspection, synced)
/// and cut from the trail, so the chain continues from the last whole record instead of
/// gluing the next record onto the fragment. Returns the number of bytes moved. A trail
/// that is damaged in any other way is left as it is: `audit verify` and the chain check at
/// start-up report it.
fn move_torn_tail_aside(path: &Path, file: &File) -> std::io::Result<Option<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut reader = File::open(path)?;
    // Records are far below 64 KiB, so the tail holds the whole last line.
    let start = len.saturating_sub(64 * 1024);
    reader.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    reader.take(64 * 1024).read_to_end(&mut tail)?;
    if tail.last() == Some(&b'\n') {
        return Ok(None);
    }
    let Some(cut) = tail.iter().rposition(|b| *b == b'\n').map(|i| i + 1) else {
        if start > 0 {
            return Err(std::io::Error::other(
                "the audit file's last line is longer than any record",
            ));
        }
        return move_aside(path, file, &tail, 0);
    };
    move_aside(path, file, &tail[cut..], start + cut as u64)
}

fn move_aside(path: &Path, file: &File, torn: &[u8], keep: u64) -> std::io::Result<Option<u64>> {
    let mut side = append_options().open(torn_path(path))?;
    side.write_all(torn)?;
    side.write_all(b"\n")?;
    side.sync_data()?;
    file.set_len(keep)?;
    file.sync_data()?;
    tracing::warn!(
        bytes = torn.len(),
        kept_in = %torn_path(path).display(),
        "the audit trail ended in a torn line (a write cut short by a crash); moved it aside"
    );
    Ok(Some(torn.len() as u64))
}

impl AuditSink for FileSink {
    /// A write that fails part-way (a full disk takes what fits) or whose sync fails is
    /// rolled back to the previous end, so the trail never keeps a torn or unacknowledged
    /// line that the next record would follow (the chain would no longer verify).
    fn append(&self, line: &str, durable: bool) -> std::io::Result<()> {
        let mut trail = lock(&self.file, "audit file lock")?;
        if trail.broken {
            return Err(std::io::Error::other(
                "an earlier failed append could not be rolled back; restart to repair the trail",
            ));
        }
        self.check_synced()?;
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let written = trail.file.write_all(&buf).and_then(|()| {
            if durable {
                trail.file.sync_data()?;
            }
            Ok(())
        });
        match written {
            Ok(()) => {
                trail.end += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let end = trail.end;
                if let Err(undo) = trail
                    .file
                    .set_len(end)
                    .and_then(|()| trail.file.sync_data())
                {
                    tracing::error!(error = %undo, "cannot roll back a failed audit append");
                    trail.broken = true;
                }
                Err(e)
            }
        }
    }

    fn sync(&self) -> std::io::Result<()> {
        self.check_synced()?;
        self.sync_handle.sync_data().inspect_err(|_| {
            self.sync_failed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    /// Ready when the open handle still is the file at the configured path (not deleted or
    /// replaced underneath us) and the OS accepts a flush of it.
    fn probe(&self) -> std::io::Result<()> {
        let mut trail = lock(&self.file, "audit file lock")?;
        if trail.broken {
            return Err(std::io::Error::other(
                "the audit file may end in a torn line",
            ));
        }
        self.check_synced()?;
        let file = &mut trail.file;
        let open = file.metadata()?;
        let on_disk = std::fs::metadata(&self.path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if open.ino() != on_disk.ino() || open.dev() != on_disk.dev() {
                return Err(std::io::Error::other(
                    "the audit file was replaced or removed",
                ));
            }
        }
        if on_disk.permissions().readonly() {
            return Err(std::io::Error::other("the audit file is read-only"));
        }
        file.flush()
    }

    fn append_checkpoint(&self, line: &str) -> std::io::Result<()> {
        append_checkpoint_line(&self.checkpoints, line)
    }

    fn last_line(&self) -> std::io::Result<Option<String>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        // Records are far below 64 KiB, so the tail holds the whole last line.
        let start = len.saturating_sub(64 * 1024);
        file.seek(SeekFrom::Start(start))?;
        let mut tail = String::new();
        file.take(64 * 1024).read_to_string(&mut tail)?;
        Ok(tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::to_owned))
    }
}

/// Lines kept in memory, for tests.
#[derive(Default)]
pub struct MemorySink {
    lines: Mutex<Vec<String>>,
    fail: std::sync::atomic::AtomicBool,
}

impl MemorySink {
    /// All lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
    /// Makes every later append fail (to test fail-closed behaviour).
    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, std::sync::atomic::Ordering::SeqCst);
    }
}

impl AuditSink for MemorySink {
    fn append(&self, line: &str, _durable: bool) -> std::io::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("sink failing"));
        }
        lock(&self.lines, "memory sink")?.push(line.to_owned());
        Ok(())
    }
    fn describe(&self) -> String {
        "memory".into()
    }
    fn probe(&self) -> std::io::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("sink failing"));
        }
        Ok(())
    }
}

impl<T: AuditSink> AuditSink for std::sync::Arc<T> {
    fn append(&self, line: &str, durable: bool) -> std::io::Result<()> {
        (**self).append(line, durable)
    }
    fn sync(&self) -> std::io::Result<()> {
        (**self).sync()
    }
    fn append_checkpoint(&self, line: &str) -> std::io::Result<()> {
        (**self).append_checkpoint(line)
    }
    fn last_line(&self) -> std::io::Result<Option<String>> {
        (**self).last_line()
    }
    fn probe(&self) -> std::io::Result<()> {
        (**self).probe()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Checks a sink kind's claim on its chain: while one sink from `open` lives, a second is
    /// refused with `WouldBlock`; a checkpoint line reaches the side file `copy`; once the
    /// first is dropped, the chain can be opened again.
    pub(in crate::audit) fn one_writer_per_chain<S: AuditSink>(
        open: impl Fn() -> std::io::Result<S>,
        copy: &Path,
    ) {
        let first = open().unwrap();
        let Err(second) = open() else {
            panic!("a second sink claimed a chain that is in use");
        };
        assert_eq!(second.kind(), std::io::ErrorKind::WouldBlock);
        assert!(
            second
                .to_string()
                .contains("in use by another bitatlas process")
        );
        first.append_checkpoint(r#"{"seq":1}"#).unwrap();
        assert_eq!(std::fs::read_to_string(copy).unwrap(), "{\"seq\":1}\n");
        drop(first);
        assert!(open().is_ok());
    }

    #[test]
    fn one_file_sink_per_trail_both_files_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join("audit.jsonl");
        one_writer_per_chain(|| FileSink::open(&path), &checkpoint_path(&path));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [path.clone(), checkpoint_path(&path)] {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", p.display());
            }
        }
    }
}
