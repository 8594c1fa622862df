//! Encrypted put/get on a real S3 server (a throwaway Garage), and against rclone's `crypt`
//! remote, a widely used tool that also encrypts on the client before anything is stored.
//!
//! For objects of 1, 16 and 64 MiB of a deterministic, non-repeating byte pattern, each figure
//! is the best of five runs. What each figure includes:
//!
//! * "service on Garage" vs "raw object_store S3 on Garage": `put_bytes`/`get_bytes` from and
//!   to memory, against an unencrypted `AmazonS3` put/get of the same bytes in the same bucket
//!   (one PUT, one GET). The gap is what the service adds over plain S3: sealing, the guard,
//!   the index and the audit trail.
//! * "service on Garage, file" vs "rclone crypt on Garage": both sides go file -> store and
//!   store -> file. The service figure is reading the file into memory and `put_bytes`, or
//!   `get_bytes` and writing the file. The rclone figure is the whole `rclone copyto` command:
//!   process start-up, configuration from the environment, reading or writing the file,
//!   encryption and every S3 request it makes.
//! * "service local, file" vs "rclone crypt local": the same, with the service on its local
//!   directory store and rclone's `crypt` wrapping a local directory.
//!
//! A single `rclone copyto` pays the process start-up once per object; that cost is printed on
//! its own ("rclone start-up") and weighs little at 64 MiB, where the comparison is about the
//! data path. Files are neither fsynced by rclone nor here; source files are in the page cache.
//!
//! Needs `garage` (`cargo install garage --version 2.5.0 --locked`) and `rclone`
//! (`apt-get install rclone`); without them the figures that need them are reported skipped.
//!
//! Run: `cargo bench --bench garage_throughput`

#[path = "../tests/it/support/garage.rs"]
mod garage;
#[path = "support/report.rs"]
mod report;
#[path = "../tests/it/support/spawn.rs"]
mod spawn;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bitatlas::audit::FileSink;
use bitatlas::config::ConfigFile;
use bitatlas::runtime;
use bitatlas::service::*;
use bytes::Bytes;
use futures::TryStreamExt;
use garage::Garage;
use object_store::aws::AmazonS3;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use report::{Better, Report};

const RUNS: usize = 5;
const SIZES: [usize; 3] = [1 << 20, 16 << 20, 64 << 20];
/// Large enough for the biggest object in one `put_bytes`.
const MAX_INLINE: u64 = 128 << 20;
/// Prefix of rclone's objects in the Garage bucket.
const RCLONE_PREFIX: &str = "rclone";
const NO_GARAGE: &str = "garage not found: `cargo install garage --version 2.5.0 --locked` \
                         (or `bash tests/tools/setup.sh`), or set GARAGE_BIN";
const NO_RCLONE: &str = "rclone not found: `apt-get install rclone`";

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / (1024.0 * 1024.0)
}

/// `size` bytes of xorshift64 output from a fixed seed: the same on every run, never
/// constant and without a short period, so nothing gains from compression or dedup.
fn pattern(size: usize) -> Bytes {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(size);
    Bytes::from(out)
}

/// The fastest of [`RUNS`] runs; each run returns the time of its measured part.
async fn best<F, Fut>(mut run: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        best = best.min(run().await);
    }
    best
}

/// Best put and get times of one way of storing an object.
struct PutGet {
    put: Duration,
    get: Duration,
}

/// Prints "put …" and "get …" for `subject` against `baseline`, both for an object of `size`.
fn compare(
    report: &mut Report,
    size: usize,
    subject: &str,
    ours: &PutGet,
    baseline: &str,
    theirs: &PutGet,
) {
    let label = format!("{} MiB", size >> 20);
    for (op, d, base) in [("put", ours.put, theirs.put), ("get", ours.get, theirs.get)] {
        report.compare(
            &format!("{op} {label} {subject}"),
            mib_s(size, d),
            "MiB/s",
            baseline,
            mib_s(size, base),
            Better::Higher,
        );
    }
}

/// Reports the `put`/`get` figures of `subject` as skipped for every size, and why.
fn skip_all(report: &mut Report, subject: &str, why: &str) {
    for size in SIZES {
        for op in ["put", "get"] {
            report.skipped(&format!("{op} {} MiB {subject}", size >> 20), why);
        }
    }
}

/// True when `program --version` runs and succeeds.
fn runs(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Asserts that `stored` is not `plain` and holds none of three 64-byte pieces of it (its
/// start, middle and end).
fn assert_not_plaintext(stored: &[u8], plain: &[u8], what: &str) {
    assert!(stored != plain, "{what}: stored bytes are the plaintext");
    let n = 64.min(plain.len());
    let mid = plain.len() / 2;
    for piece in [
        &plain[..n],
        &plain[mid - n / 2..mid - n / 2 + n],
        &plain[plain.len() - n..],
    ] {
        assert!(
            !stored.windows(n).any(|w| w == piece),
            "{what}: plaintext found in the stored bytes"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The service

async fn service(cfg: &ConfigFile, dir: &Path) -> Service {
    let sink = FileSink::open(&runtime::audit_path(dir)).expect("audit");
    runtime::build_with_sink(cfg, dir, Box::new(sink))
        .await
        .expect("runtime")
        .service
}

fn garage_config(g: &Garage) -> ConfigFile {
    let text = format!(
        "{}\n[tenants.bench]\nstore = \"eu\"\n",
        g.default.store_toml("eu", "FR")
    );
    let mut cfg: ConfigFile = toml::from_str(&text).expect("config");
    cfg.server.max_inline_bytes = Some(MAX_INLINE);
    cfg
}

fn local_config(dir: &Path) -> ConfigFile {
    let mut cfg = runtime::with_defaults(ConfigFile::default(), dir);
    cfg.server.max_inline_bytes = Some(MAX_INLINE);
    cfg
}

/// `put_bytes` from memory and `get_bytes` to memory.
async fn service_memory(svc: &Service, caller: &Caller, key: &str, data: &Bytes) -> PutGet {
    let put = best(|| async {
        let input = PutRequest {
            key: key.to_owned(),
            data: data.clone(),
            ..Default::default()
        };
        let t = Instant::now();
        svc.put(caller, input).await.expect("put_bytes");
        t.elapsed()
    })
    .await;
    let get = best(|| async {
        let input = GetRequest {
            key: key.to_owned(),
            range: None,
        };
        let t = Instant::now();
        let out = svc.get(caller, input).await.expect("get_bytes");
        let took = t.elapsed();
        assert!(out.data == *data, "service round trip differs");
        took
    })
    .await;
    PutGet { put, get }
}

/// Reading `src` then `put_bytes`; `get_bytes` then writing a file, which is checked after.
async fn service_files(
    svc: &Service,
    caller: &Caller,
    key: &str,
    src: &Path,
    data: &Bytes,
) -> PutGet {
    let dst = src.with_extension("service-out");
    let put = best(|| async {
        let t = Instant::now();
        let bytes = tokio::fs::read(src).await.expect("read source file");
        let input = PutRequest {
            key: key.to_owned(),
            data: Bytes::from(bytes),
            ..Default::default()
        };
        svc.put(caller, input).await.expect("put_bytes");
        t.elapsed()
    })
    .await;
    let get = best(|| async {
        let _ = std::fs::remove_file(&dst);
        let input = GetRequest {
            key: key.to_owned(),
            range: None,
        };
        let t = Instant::now();
        let out = svc.get(caller, input).await.expect("get_bytes");
        tokio::fs::write(&dst, &out.data).await.expect("write file");
        let took = t.elapsed();
        assert!(
            std::fs::read(&dst).expect("read back") == *data,
            "service file round trip differs"
        );
        took
    })
    .await;
    PutGet { put, get }
}

// ---------------------------------------------------------------------------------------------
// Plain S3

/// One unencrypted PUT and one GET of `data`.
async fn raw_s3(raw: &AmazonS3, size: usize, data: &Bytes) -> PutGet {
    let path = object_store::path::Path::from(format!("raw/obj-{size}"));
    let put = best(|| async {
        let t = Instant::now();
        raw.put(&path, PutPayload::from(data.clone()))
            .await
            .expect("raw put");
        t.elapsed()
    })
    .await;
    let get = best(|| async {
        let t = Instant::now();
        let got = raw
            .get(&path)
            .await
            .expect("raw get")
            .bytes()
            .await
            .expect("body");
        let took = t.elapsed();
        assert!(got == *data, "raw S3 round trip differs");
        took
    })
    .await;
    PutGet { put, get }
}

/// Paths of the objects under `prefix` in the bucket.
async fn listing(raw: &AmazonS3, prefix: &str) -> BTreeSet<object_store::path::Path> {
    let prefix = object_store::path::Path::from(prefix);
    raw.list(Some(&prefix))
        .map_ok(|o| o.location)
        .try_collect()
        .await
        .expect("raw list")
}

// ---------------------------------------------------------------------------------------------
// rclone

/// rclone configured only through the environment: an empty config file, and one
/// `RCLONE_CONFIG_<REMOTE>_<OPTION>` variable per option of each remote.
struct Rclone {
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Rclone {
    /// `None` when no rclone runs.
    fn find(dir: &Path) -> Option<Rclone> {
        if !runs("rclone") {
            return None;
        }
        let config = dir.join("rclone-empty.conf");
        std::fs::write(&config, "").expect("empty rclone config");
        Some(Rclone {
            config,
            env: Vec::new(),
        })
    }

    /// Defines remote `name` with `options`.
    fn remote(&mut self, name: &str, options: &[(&str, &str)]) {
        for (option, value) in options {
            let var = format!("RCLONE_CONFIG_{}_{}", name, option).to_uppercase();
            self.env.push((var, (*value).to_owned()));
        }
    }

    /// A `crypt` remote named `name` over `target`, with a password obscured by rclone itself.
    async fn crypt(&mut self, name: &str, target: &str) {
        let password = self.output(&["obscure", "bitatlas-bench-password"]).await;
        self.remote(
            name,
            &[
                ("type", "crypt"),
                ("remote", target),
                ("password", password.trim()),
            ],
        );
    }

    /// Runs rclone with `args`; panics with its stderr when it fails.
    async fn output(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new("rclone")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // The S3 SDK in rclone 1.60 fails on a custom CA bundle ("unsupported transport");
            // Garage here is plain HTTP on loopback and needs none.
            .env_remove("AWS_CA_BUNDLE")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run rclone");
        assert!(
            out.status.success(),
            "rclone {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("rclone output is UTF-8")
    }

    /// Wall time of `rclone copyto from to`, always transferring (`--ignore-times`).
    async fn copyto(&self, from: &str, to: &str) -> Duration {
        let t = Instant::now();
        self.output(&["copyto", "--ignore-times", from, to]).await;
        t.elapsed()
    }

    /// Uploads `src` to `remote_path` and downloads it back, each a whole command; the
    /// download is checked byte for byte after each run.
    async fn put_get(&self, src: &Path, remote_path: &str, data: &Bytes) -> PutGet {
        let src = src.to_str().expect("UTF-8 temp path");
        let dst = format!("{src}.rclone-out");
        let put = best(|| self.copyto(src, remote_path)).await;
        let get = best(|| async {
            let _ = std::fs::remove_file(&dst);
            let took = self.copyto(remote_path, &dst).await;
            assert!(
                std::fs::read(&dst).expect("rclone download") == *data,
                "rclone round trip differs"
            );
            took
        })
        .await;
        PutGet { put, get }
    }

    /// Best wall time of `rclone version`: what every command pays before any work.
    async fn start_up(&self) -> Duration {
        best(|| async {
            let t = Instant::now();
            self.output(&["version"]).await;
            t.elapsed()
        })
        .await
    }
}

/// Names of the files in `dir`.
fn files_in(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !report::benchmarking("garage_throughput") {
        return;
    }
    let mut report = Report::new("garage_throughput");
    let dir = tempfile::tempdir().expect("tempdir");
    let caller = |tenant: &str| Caller::new(tenant.into());

    let mut rclone = Rclone::find(dir.path());
    let garage = {
        let bin = std::env::var("GARAGE_BIN").unwrap_or_else(|_| "garage".into());
        runs(&bin).then(|| Garage::start("fr-par"))
    };

    // rclone remotes: crypt over the Garage bucket, and crypt over a local directory.
    let rclone_local_dir = dir.path().join("rclone-local");
    std::fs::create_dir_all(&rclone_local_dir).expect("mkdir");
    if let Some(rc) = rclone.as_mut() {
        if let Some(g) = &garage {
            rc.remote(
                "garage_s3",
                &[
                    ("type", "s3"),
                    ("provider", "Other"),
                    ("endpoint", &g.endpoint),
                    ("region", &g.region),
                    ("access_key_id", &g.default.key_id),
                    ("secret_access_key", &g.default.secret),
                    ("force_path_style", "true"),
                    // The bucket exists; the service does not check it on each put either.
                    ("no_check_bucket", "true"),
                ],
            );
            rc.crypt(
                "garage_crypt",
                &format!("garage_s3:{}/{RCLONE_PREFIX}", g.default.name),
            )
            .await;
        }
        rc.crypt(
            "local_crypt",
            rclone_local_dir.to_str().expect("UTF-8 temp path"),
        )
        .await;
        let start = rc.start_up().await;
        report.value(
            "rclone start-up (`rclone version`)",
            start.as_secs_f64() * 1000.0,
            "ms",
        );
    }

    let local_dir = dir.path().join("service-local");
    let local = service(&local_config(&local_dir), &local_dir).await;
    let on_garage = match &garage {
        Some(g) => {
            let svc_dir = dir.path().join("service-garage");
            Some((
                service(&garage_config(g), &svc_dir).await,
                g.default.raw_client(),
            ))
        }
        None => None,
    };

    if garage.is_none() {
        skip_all(&mut report, "service on Garage", NO_GARAGE);
        skip_all(&mut report, "service on Garage, file", NO_GARAGE);
    } else if rclone.is_none() {
        skip_all(&mut report, "service on Garage, file", NO_RCLONE);
    }
    if rclone.is_none() {
        skip_all(&mut report, "service local, file", NO_RCLONE);
    }

    for size in SIZES {
        let data = pattern(size);
        let src = dir.path().join(format!("obj-{size}"));
        std::fs::write(&src, &data).expect("write source file");
        let key = format!("bench/{size}");
        let rclone_name = format!("obj-{size}");

        if let Some((svc, raw)) = &on_garage {
            let ours = service_memory(svc, &caller("bench"), &key, &data).await;
            let plain = raw_s3(raw, size, &data).await;
            compare(
                &mut report,
                size,
                "service on Garage",
                &ours,
                "raw object_store S3 on Garage",
                &plain,
            );
            if let Some(rc) = &rclone {
                let ours = service_files(svc, &caller("bench"), &key, &src, &data).await;
                let before = listing(raw, RCLONE_PREFIX).await;
                let theirs = rc
                    .put_get(&src, &format!("garage_crypt:{rclone_name}"), &data)
                    .await;
                // What rclone left in the bucket: one new object, name and bytes sealed.
                let after = listing(raw, RCLONE_PREFIX).await;
                let new: Vec<_> = after.difference(&before).collect();
                assert_eq!(new.len(), 1, "rclone stored {new:?}");
                assert!(!new[0].as_ref().contains(&rclone_name), "name in the clear");
                let stored = raw.get(new[0]).await.expect("raw get").bytes().await;
                assert_not_plaintext(&stored.expect("body"), &data, "rclone crypt on Garage");
                compare(
                    &mut report,
                    size,
                    "service on Garage, file",
                    &ours,
                    "rclone crypt on Garage",
                    &theirs,
                );
            }
        }

        if let Some(rc) = &rclone {
            let ours = service_files(&local, &caller("default"), &key, &src, &data).await;
            let before = files_in(&rclone_local_dir);
            let theirs = rc
                .put_get(&src, &format!("local_crypt:{rclone_name}"), &data)
                .await;
            let after = files_in(&rclone_local_dir);
            let new: Vec<_> = after.difference(&before).collect();
            assert_eq!(new.len(), 1, "rclone stored {new:?}");
            let stored = std::fs::read(new[0]).expect("read rclone's file");
            let stored_name = new[0].file_name().expect("file name").to_string_lossy();
            assert!(!stored_name.contains(&rclone_name), "name in the clear");
            assert_not_plaintext(&stored, &data, "rclone crypt local");
            compare(
                &mut report,
                size,
                "service local, file",
                &ours,
                "rclone crypt local",
                &theirs,
            );
        }
    }
    drop(garage);
    report.save();
}
