//! `bitatlas export`: a tenant's objects under a folder, and their metadata, as a plain `.tar`
//! that anyone can open with standard tools, without BitAtlas (data portability, GDPR Art. 20).
//!
//! The archive holds `objects/<key>` for each object's plaintext and, last, `manifest.json`:
//! `{"format":"bitatlas-export/1","tenant","prefix","exported_at","objects":[{"key","size",
//! "content_type","metadata","modified","sha256"}]}`. Every object is read through the
//! service's streaming `get` (audited as a `get`, bounded memory whatever its size), the folder
//! through its `list` (audited as a `list`).
//!
//! Into a file, the archive is written to a temporary file beside OUT, synced and renamed only
//! once every object verified, so a failed export leaves no OUT (and an existing OUT is only
//! replaced with `--force`). Into `-` (stdout) the archive streams as it is read: the exit code
//! is authoritative, and a failed export stops at once, leaving a cut archive without its
//! end-of-archive blocks or `manifest.json` that a consumer must discard.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufWriter, IsTerminal as _, Read, Write};
use std::path::{Component, Path, PathBuf};

use bytes::{Buf as _, Bytes};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::runtime::Runtime;

use super::{Exit, installation};
use crate::config::ConfigFile;
use crate::runtime;
use crate::service::{
    Caller, Download, ErrorCode, GetRequest, IndexedObject, ListRequest, ObjectKey, Service,
    ServiceError,
};

/// The manifest's `format`.
const FORMAT: &str = "bitatlas-export/1";
/// The folder of the archive that holds the objects.
const OBJECTS_DIR: &str = "objects";
/// The manifest's name in the archive.
const MANIFEST: &str = "manifest.json";

/// `export` arguments.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Configuration file, as for `serve`.
    #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, as for `serve`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The tenant whose objects are exported.
    #[arg(long, value_name = "NAME")]
    tenant: String,
    /// Export every object under this folder (default: every object of the tenant).
    #[arg(long, value_name = "FOLDER")]
    prefix: Option<String>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// The `.tar` file to write, or `-` for standard output.
    #[arg(value_name = "OUT")]
    out: PathBuf,
}

/// Why an export failed, and how the process ends.
struct Failure {
    exit: Exit,
    message: String,
}

fn failure(exit: Exit, message: impl Into<String>) -> Failure {
    Failure {
        exit,
        message: message.into(),
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        let exit = match e.code {
            ErrorCode::IntegrityFailure => Exit::Integrity,
            ErrorCode::InvalidKey | ErrorCode::InvalidArgument => Exit::Usage,
            _ => Exit::Failure,
        };
        failure(exit, e.to_string())
    }
}

/// `manifest.json`.
#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    tenant: &'a str,
    prefix: Option<&'a str>,
    exported_at: String,
    objects: Vec<ManifestEntry>,
}

/// One object in `manifest.json`.
#[derive(Serialize)]
struct ManifestEntry {
    key: String,
    size: u64,
    content_type: String,
    metadata: BTreeMap<String, String>,
    modified: String,
    sha256: String,
}

/// What was exported.
struct Summary {
    objects: usize,
    bytes: u64,
    /// Listed objects that were gone when they were read (deleted meanwhile).
    vanished: usize,
}

/// Runs `export`: exit 0 with the archive written, 2 on usage errors (an unknown tenant, a bad
/// prefix, an existing OUT without `--force`), 4 when any object fails to verify (no OUT is
/// written), 1 otherwise.
pub fn run(args: ExportArgs) -> Exit {
    let (config, data_dir) = match installation::load(
        args.config.as_deref(),
        args.data_dir.as_deref(),
        &args.tenant,
    ) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let to_stdout = args.out.as_os_str() == "-";
    if to_stdout && io::stdout().is_terminal() {
        eprintln!("bitatlas: refusing to write a tar archive to a terminal; redirect stdout");
        return Exit::Usage;
    }
    if !to_stdout && !args.force && std::fs::symlink_metadata(&args.out).is_ok() {
        eprintln!(
            "bitatlas: {} exists; pass --force to replace it",
            args.out.display()
        );
        return Exit::Usage;
    }
    let rt = match installation::tokio_runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    // The archive is written on this thread, which waits on the runtime for each piece.
    let _context = rt.enter();
    let exported = export(&rt, &config, &data_dir, &args, to_stdout);
    match exported {
        Ok(summary) => {
            if summary.vanished > 0 {
                eprintln!(
                    "bitatlas: {} listed object(s) were deleted during the export and are not \
                     in the archive",
                    summary.vanished
                );
            }
            let to = if to_stdout {
                "stdout".to_owned()
            } else {
                args.out.display().to_string()
            };
            eprintln!(
                "exported {} objects, {} bytes to {to}",
                summary.objects, summary.bytes
            );
            Exit::Ok
        }
        Err(f) => {
            eprintln!("bitatlas: {}", f.message);
            if !to_stdout && f.exit == Exit::Integrity {
                eprintln!("bitatlas: nothing was written to {}", args.out.display());
            }
            f.exit
        }
    }
}

fn export(
    rt: &Runtime,
    config: &ConfigFile,
    data_dir: &Path,
    args: &ExportArgs,
    to_stdout: bool,
) -> Result<Summary, Failure> {
    let built = rt
        .block_on(runtime::build(config, data_dir))
        .map_err(|e| failure(Exit::from(&e), e.to_string()))?;
    let service = &built.service;
    let caller = Caller::new(args.tenant.clone());
    let objects = rt.block_on(list_all(service, &caller, args.prefix.as_deref()))?;
    let clashes = folder_clashes(&objects);
    if clashes > 0 {
        eprintln!(
            "bitatlas: warning: {clashes} exported key(s) are also the folder of other keys; \
             a tool extracting the archive to disk cannot write both (manifest.json lists \
             every object)"
        );
    }
    let job = Job {
        rt,
        service,
        caller: &caller,
        tenant: &args.tenant,
        prefix: args.prefix.as_deref(),
        objects: &objects,
    };
    if to_stdout {
        let stdout = io::stdout();
        let (mut w, summary) = job.write(BufWriter::with_capacity(256 * 1024, stdout.lock()))?;
        w.flush()
            .map_err(|e| failure(Exit::Failure, format!("cannot write to stdout: {e}")))?;
        Ok(summary)
    } else {
        write_file(&job, &args.out, args.force)
    }
}

/// Every object under `prefix`, page by page, as the service's `list` returns them.
async fn list_all(
    service: &Service,
    caller: &Caller,
    prefix: Option<&str>,
) -> Result<Vec<IndexedObject>, Failure> {
    let mut objects = Vec::new();
    let mut cursor = None;
    loop {
        let request = ListRequest {
            prefix: prefix.map(str::to_owned),
            delimiter: false,
            limit: Some(crate::service::MAX_PAGE),
            cursor: cursor.take(),
        };
        let page = service.list(caller, request).await?;
        objects.extend(page.objects);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(objects),
        }
    }
}

/// How many keys are also a folder of another key (`a` and `a/b`): an archive can hold both,
/// a file system cannot.
fn folder_clashes(objects: &[IndexedObject]) -> usize {
    let keys: HashSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let mut folders = HashSet::new();
    for key in &keys {
        let mut at = key.len();
        while let Some(slash) = key[..at].rfind('/') {
            folders.insert(&key[..slash]);
            at = slash;
        }
    }
    keys.iter().filter(|k| folders.contains(*k)).count()
}

/// The archive path of the object at `key`: `objects/<key>`, and only when every component of
/// it is a plain name, so that no key can name an entry outside `objects/` (an absolute path,
/// `..`, a drive or a backslash-separated path). Keys are validated when written;
/// this holds even for a key that was not.
fn entry_path(key: &str) -> Option<PathBuf> {
    ObjectKey::parse(key).ok()?;
    if key.starts_with('/')
        || key.contains('\\')
        || key.chars().any(char::is_control)
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return None;
    }
    let path = Path::new(OBJECTS_DIR).join(key);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && path.components().count() == key.split('/').count() + 1).then_some(path)
}

/// One export: what to read, through which service, as whom.
struct Job<'a> {
    rt: &'a Runtime,
    service: &'a Service,
    caller: &'a Caller,
    tenant: &'a str,
    prefix: Option<&'a str>,
    objects: &'a [IndexedObject],
}

impl Job<'_> {
    /// Writes the whole archive to `w`; returns `w` (flushed by the caller) and what went in.
    fn write<W: Write>(&self, w: W) -> Result<(W, Summary), Failure> {
        let mut archive = tar::Builder::new(Gate {
            inner: w,
            open: true,
        });
        match self.append_all(&mut archive) {
            Ok(summary) => {
                let gate = archive.into_inner().map_err(|e| {
                    failure(Exit::Failure, format!("cannot write the archive: {e}"))
                })?;
                Ok((gate.inner, summary))
            }
            Err(f) => {
                // Nothing more goes out, not even the end-of-archive blocks the builder
                // writes when dropped: a cut archive must not look complete.
                archive.get_mut().open = false;
                Err(f)
            }
        }
    }

    fn append_all<W: Write>(&self, archive: &mut tar::Builder<W>) -> Result<Summary, Failure> {
        let mut entries = Vec::with_capacity(self.objects.len());
        let mut bytes = 0u64;
        let mut vanished = 0;
        for object in self.objects {
            let Some(path) = entry_path(&object.key) else {
                return Err(failure(
                    Exit::Failure,
                    "a listed key is not a valid object key; refusing to put it in the archive",
                ));
            };
            let request = GetRequest::whole(object.key.clone());
            let mut download = match self
                .rt
                .block_on(self.service.download(self.caller, request))
            {
                Ok(d) => d,
                Err(e) if e.code == ErrorCode::NotFound => {
                    vanished += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(download.size);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(unix_time(object.last_modified));
            let mut reader = Pieces {
                rt: self.rt,
                size: download.size,
                download: &mut download,
                piece: Bytes::new(),
                read: 0,
                sha256: Sha256::new(),
                failed: None,
            };
            let appended = archive.append_data(&mut header, &path, &mut reader);
            if let Some(e) = reader.failed.take() {
                return Err(e.into());
            }
            appended
                .map_err(|e| failure(Exit::Failure, format!("cannot write the archive: {e}")))?;
            let sha256 = hex::encode(reader.sha256.finalize());
            bytes += download.size;
            entries.push(ManifestEntry {
                key: object.key.clone(),
                size: download.size,
                content_type: download.content_type.clone(),
                metadata: download.metadata.clone(),
                modified: object
                    .last_modified
                    .to_rfc3339_opts(SecondsFormat::Millis, true),
                sha256,
            });
        }
        let now = Utc::now();
        let count = entries.len();
        let manifest = Manifest {
            format: FORMAT,
            tenant: self.tenant,
            prefix: self.prefix,
            exported_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            objects: entries,
        };
        let mut text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| failure(Exit::Failure, format!("cannot write the manifest: {e}")))?;
        text.push(b'\n');
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(unix_time(now));
        archive
            .append_data(&mut header, MANIFEST, text.as_slice())
            .map_err(|e| failure(Exit::Failure, format!("cannot write the archive: {e}")))?;
        Ok(Summary {
            objects: count,
            bytes,
            vanished,
        })
    }
}

fn unix_time(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp()).unwrap_or(0)
}

/// Writes the archive to a temporary file beside `out`, syncs it and renames it to `out`
/// (replacing an existing `out` only when `force`); on any failure the temporary file is
/// removed and `out` is left as it was.
fn write_file(job: &Job<'_>, out: &Path, force: bool) -> Result<Summary, Failure> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let cannot = |e: &dyn std::fmt::Display| {
        failure(
            Exit::Failure,
            format!("cannot write {}: {e}", out.display()),
        )
    };
    // Mode 0600: the archive is the tenant's plaintext.
    let tmp = tempfile::Builder::new()
        .prefix(".bitatlas-export-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| {
            failure(
                Exit::Failure,
                format!("cannot write in {}: {e}", dir.display()),
            )
        })?;
    // On error the temporary file is dropped, which deletes it.
    let (w, summary) = job.write(BufWriter::with_capacity(256 * 1024, tmp))?;
    let tmp = w.into_inner().map_err(|e| cannot(e.error()))?;
    tmp.as_file().sync_all().map_err(|e| cannot(&e))?;
    if force {
        tmp.persist(out).map_err(|e| cannot(&e.error))?;
    } else {
        // Refuses an OUT that appeared since the check at the start.
        tmp.persist_noclobber(out).map_err(|e| cannot(&e.error))?;
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| cannot(&e))?;
    Ok(summary)
}

/// A writer that can be closed for good: after a failure, nothing more reaches the output.
struct Gate<W> {
    inner: W,
    open: bool,
}

impl<W: Write> Write for Gate<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.open {
            return Err(io::Error::other("the export failed"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.open {
            return Err(io::Error::other("the export failed"));
        }
        self.inner.flush()
    }
}

/// A download's verified pieces as a [`Read`], hashing what it hands out and insisting on
/// exactly the announced size. A failure of the download is kept in `failed`.
struct Pieces<'a> {
    rt: &'a Runtime,
    size: u64,
    download: &'a mut Download,
    piece: Bytes,
    read: u64,
    sha256: Sha256,
    failed: Option<ServiceError>,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.piece.is_empty() {
            match self.rt.block_on(self.download.next()) {
                Some(Ok(piece)) => self.piece = piece,
                Some(Err(e)) => {
                    self.failed = Some(e);
                    return Err(io::Error::other("the object did not verify"));
                }
                None if self.read == self.size => return Ok(0),
                None => {
                    self.failed = Some(ServiceError::new(
                        ErrorCode::Internal,
                        "an object's read ended before its size",
                    ));
                    return Err(io::Error::other("short read"));
                }
            }
        }
        let n = buf.len().min(self.piece.len());
        if self.read + n as u64 > self.size {
            self.failed = Some(ServiceError::new(
                ErrorCode::Internal,
                "an object's read went past its size",
            ));
            return Err(io::Error::other("long read"));
        }
        buf[..n].copy_from_slice(&self.piece[..n]);
        self.piece.advance(n);
        self.sha256.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_stay_inside_objects() {
        assert_eq!(
            entry_path("a/b c/d.txt"),
            Some(PathBuf::from("objects/a/b c/d.txt"))
        );
        for hostile in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "..",
            ".",
            "a\\..\\..\\x",
            "a\0b",
            "a\n/b",
        ] {
            assert_eq!(entry_path(hostile), None, "{hostile:?}");
        }
        // A key too long for a tar header still cannot climb out (the long-name extension is
        // not checked by the tar crate).
        let long = format!("{}/../../x", "a".repeat(200));
        assert_eq!(entry_path(&long), None);
    }

    fn indexed(key: &str) -> IndexedObject {
        IndexedObject {
            key: key.into(),
            size: 0,
            last_modified: Utc::now(),
            content_type: String::new(),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn a_key_that_is_also_a_folder_is_counted() {
        let none: Vec<_> = ["a-b", "a/b", "ab/c"].map(indexed).into();
        assert_eq!(folder_clashes(&none), 0);
        let two: Vec<_> = ["a", "a/b", "a/b/c", "x/y"].map(indexed).into();
        assert_eq!(folder_clashes(&two), 2);
    }

    #[test]
    fn a_closed_gate_lets_nothing_through() {
        let mut gate = Gate {
            inner: Vec::new(),
            open: true,
        };
        gate.write_all(b"ok").unwrap();
        gate.open = false;
        assert!(gate.write_all(b"more").is_err());
        assert_eq!(gate.inner, b"ok");
    }
}
