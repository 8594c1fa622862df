//! A 1 GiB file through a transfer link to a real S3 server (a throwaway Garage), against a
//! plain multipart upload and a streamed download of the same file to the same Garage, in the
//! same run, interleaved.
//!
//! * Baseline: object_store's `AmazonS3`, unencrypted. Upload: the file read in
//!   [`BASELINE_PART`] pieces, `put_multipart` with [`BASELINE_IN_FLIGHT`] parts in flight
//!   (`WriteMultipart::wait_for_capacity`). Download: `get` streamed into a byte counter.
//! * BitAtlas: the release `bitatlas serve --http` on that Garage, one `transfer` link per
//!   operation (issued outside the timed part); `curl -T FILE URL` (BitAtlas seals on the fly
//!   and writes the bucket in multipart parts) and `curl -o /dev/null URL` (opened on the fly).
//!   Each figure is the whole curl command.
//!
//! Each operation runs [`RUNS`] times (`BITATLAS_BENCH_TRANSFER_RUNS`), alternating which side
//! goes first; the figures are the medians. The server's peak RSS (VmHWM, reset through
//! `/proc/PID/clear_refs` before each operation, read after it) is the largest seen over the
//! runs. The object size is `BITATLAS_BENCH_TRANSFER_MIB` (default 1024). One download is
//! checked byte for byte after the timed runs; every timed one is checked for its length.
//!
//! Needs `garage` and `curl`; without Garage the figures are reported skipped.
//! Run: `cargo bench --bench transfer` (`TMPDIR=/dev/shm` keeps the disk out of it).

#[path = "support/bin.rs"]
mod bin;
#[path = "../tests/it/support/garage.rs"]
mod garage;
#[path = "support/http_session.rs"]
mod http_session;
#[path = "support/report.rs"]
mod report;
#[path = "../tests/it/support/spawn.rs"]
mod spawn;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use garage::Garage;
use http_session::HttpSession;
use object_store::aws::AmazonS3;
use object_store::{ObjectStoreExt, WriteMultipart};
use report::{Better, Report};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

const MIB: u64 = 1 << 20;
/// Runs of each operation when `BITATLAS_BENCH_TRANSFER_RUNS` is not set.
const RUNS: usize = 3;
/// The baseline's part size (boto3's default multipart chunk).
const BASELINE_PART: usize = 8 << 20;
/// The baseline's parts in flight.
const BASELINE_IN_FLIGHT: usize = 4;
const KEY: &str = "bench/transfer.bin";
const RAW_PATH: &str = "raw/transfer.bin";
const NO_GARAGE: &str = "garage not found: `cargo install garage --version 2.5.0 --locked` \
                         (or `bash tests/tools/setup.sh`), or set GARAGE_BIN";

fn env_number(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / MIB as f64
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Word `i` of the benchmark's byte pattern (splitmix64 of its index): addressable, so the
/// file is written and a download checked without holding either in memory, and without a
/// short period, so nothing gains from compression or dedup.
fn word(i: u64) -> [u8; 8] {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).to_le_bytes()
}

/// The pattern's bytes from `offset` (a multiple of 8) into `buf`.
fn fill(offset: u64, buf: &mut [u8]) {
    for (n, piece) in buf.chunks_mut(8).enumerate() {
        let w = word(offset / 8 + n as u64);
        piece.copy_from_slice(&w[..piece.len()]);
    }
}

fn write_pattern(path: &Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create source"));
    let mut block = vec![0u8; MIB as usize];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(MIB) as usize;
        fill(at, &mut block[..n]);
        f.write_all(&block[..n]).expect("write source");
        at += n as u64;
    }
    f.flush().expect("flush source");
}

/// True when `reader` yields exactly the pattern's first `len` bytes.
fn is_pattern(mut reader: impl Read, len: u64) -> bool {
    let (mut got, mut want) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize + 8]);
    let mut at = 0u64;
    loop {
        let n = reader.read(&mut got).expect("read download");
        if n == 0 {
            return at == len;
        }
        // Compare in whole 8-byte words from an aligned offset.
        let start = at - at % 8;
        let skip = (at - start) as usize;
        if at + n as u64 > len {
            return false;
        }
        fill(start, &mut want[..skip + n]);
        if got[..n] != want[skip..skip + n] {
            return false;
        }
        at += n as u64;
    }
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
// The baseline

/// The file uploaded with a plain multipart upload; the time of the whole upload.
async fn baseline_upload(raw: &AmazonS3, src: &Path, len: u64) -> Duration {
    let path = object_store::path::Path::from(RAW_PATH);
    let t = Instant::now();
    let mut file = tokio::fs::File::open(src).await.expect("open source");
    let upload = raw.put_multipart(&path).await.expect("start multipart");
    let mut writer = WriteMultipart::new_with_chunk_size(upload, BASELINE_PART);
    let mut sent = 0u64;
    while sent < len {
        let mut part = vec![0u8; (len - sent).min(BASELINE_PART as u64) as usize];
        file.read_exact(&mut part).await.expect("read source");
        writer
            .wait_for_capacity(BASELINE_IN_FLIGHT)
            .await
            .expect("part upload");
        sent += part.len() as u64;
        writer.put(Bytes::from(part));
    }
    writer.finish().await.expect("complete multipart");
    t.elapsed()
}

/// The object streamed into a counter; the time of the whole download.
async fn baseline_download(raw: &AmazonS3, len: u64) -> Duration {
    let path = object_store::path::Path::from(RAW_PATH);
    let t = Instant::now();
    let mut body = raw.get(&path).await.expect("raw get").into_stream();
    let mut got = 0u64;
    while let Some(piece) = body.next().await {
        got += piece.expect("raw body").len() as u64;
    }
    let took = t.elapsed();
    assert_eq!(got, len, "baseline download length");
    took
}

// ---------------------------------------------------------------------------------------------
// BitAtlas

/// `bitatlas serve --http` on the Garage, stopped on drop.
struct Server {
    child: Child,
    session: HttpSession,
}

impl Server {
    async fn start(g: &Garage, dir: &Path) -> Server {
        let config = dir.join("bitatlas.toml");
        let text = format!(
            "{}\n[tenants.bench]\nstore = \"eu\"\n",
            g.default.store_toml("eu", "FR")
        );
        std::fs::write(&config, text).expect("write config");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = std::fs::File::create(dir.join("bitatlas.log")).expect("log file");
        let mut child = Command::new(bin::release_bitatlas())
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--http", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start bitatlas");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("server exited with {status}");
            }
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let session = HttpSession::open(&format!("{base}/mcp")).await;
        Server { child, session }
    }

    async fn link(&mut self, method: &str) -> String {
        let out = self
            .session
            .call("transfer", json!({"key": KEY, "method": method}))
            .await;
        out["url"].as_str().expect("link url").to_owned()
    }

    /// VmHWM in KiB.
    fn peak_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Resets VmHWM to the current RSS (`5` to clear_refs); false where the kernel refuses.
    fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs curl with `args`; its wall time and stdout.
fn curl(args: &[&str]) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, out.stdout)
}

/// One upload through a fresh link: time and the server's peak RSS in KiB.
async fn ours_upload(server: &mut Server, src: &Path, len: u64) -> (Duration, u64) {
    let url = server.link("PUT").await;
    server.reset_peak();
    let (took, body) = curl(&["-T", src.to_str().expect("UTF-8 path"), &url]);
    let stored: Value = serde_json::from_slice(&body).expect("upload answer");
    assert_eq!(stored["size"], json!(len), "{stored}");
    (took, server.peak_kib())
}

/// One download through a fresh link into /dev/null: time and the server's peak RSS in KiB.
async fn ours_download(server: &mut Server, len: u64) -> (Duration, u64) {
    let url = server.link("GET").await;
    server.reset_peak();
    let (took, out) = curl(&["-o", "/dev/null", "-w", "%{size_download}", &url]);
    let got: u64 = String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .expect("size_download");
    assert_eq!(got, len, "transfer download length");
    (took, server.peak_kib())
}

/// An untimed download through a link, checked byte for byte against the pattern.
async fn check_download(server: &mut Server, len: u64) {
    let url = server.link("GET").await;
    let mut child = Command::new("curl")
        .args(["-sS", "--fail", &url])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run curl");
    let same = is_pattern(child.stdout.take().expect("curl stdout"), len);
    assert!(child.wait().expect("curl").success(), "checked download");
    assert!(same, "the download differs from the uploaded file");
}

// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !report::benchmarking("transfer") {
        return;
    }
    let mut report = Report::new("transfer");
    let len = env_number("BITATLAS_BENCH_TRANSFER_MIB", 1024) * MIB;
    let rounds = env_number("BITATLAS_BENCH_TRANSFER_RUNS", RUNS as u64).max(1) as usize;
    let label = format!("{} MiB", len / MIB);
    let names = [
        format!("upload {label}, transfer link (curl -T)"),
        format!("download {label}, transfer link (curl -o)"),
    ];
    let bin = std::env::var("GARAGE_BIN").unwrap_or_else(|_| "garage".into());
    if !runs(&bin) {
        for name in names {
            report.skipped(&name, NO_GARAGE);
        }
        report.save();
        return;
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("source.bin");
    write_pattern(&src, len);
    let g = Garage::start("fr-par");
    let raw = g.default.raw_client();
    let mut server = Server::start(&g, dir.path()).await;
    let idle = server.peak_kib();
    let tracks_peak = server.reset_peak();

    let (mut up, mut base_up, mut down, mut base_down) = (vec![], vec![], vec![], vec![]);
    let (mut up_rss, mut down_rss) = (0u64, 0u64);
    for round in 0..rounds {
        // Alternate who goes first, so drift of a loaded machine falls on both sides.
        let ours_first = round % 2 == 0;
        if !ours_first {
            base_up.push(baseline_upload(&raw, &src, len).await);
        }
        let (t, rss) = ours_upload(&mut server, &src, len).await;
        up.push(t);
        up_rss = up_rss.max(rss);
        if ours_first {
            base_up.push(baseline_upload(&raw, &src, len).await);
            base_down.push(baseline_download(&raw, len).await);
        }
        let (t, rss) = ours_download(&mut server, len).await;
        down.push(t);
        down_rss = down_rss.max(rss);
        if !ours_first {
            base_down.push(baseline_download(&raw, len).await);
        }
        eprintln!(
            "run {}: upload {:.0} vs {:.0} MiB/s, download {:.0} vs {:.0} MiB/s (ours vs baseline)",
            round + 1,
            mib_s(len, up[round]),
            mib_s(len, base_up[round]),
            mib_s(len, down[round]),
            mib_s(len, base_down[round]),
        );
    }
    check_download(&mut server, len).await;

    let baseline_up = format!(
        "object_store put_multipart ({} MiB parts, {BASELINE_IN_FLIGHT} in flight)",
        BASELINE_PART >> 20
    );
    report.compare(
        &names[0],
        mib_s(len, median(up)),
        "MiB/s",
        &baseline_up,
        mib_s(len, median(base_up)),
        Better::Higher,
    );
    report.compare(
        &names[1],
        mib_s(len, median(down)),
        "MiB/s",
        "object_store get, streamed",
        mib_s(len, median(base_down)),
        Better::Higher,
    );
    let scope = if tracks_peak {
        ""
    } else {
        " (VmHWM could not be reset: since start-up)"
    };
    report.value(
        "peak RSS server after start-up",
        idle as f64 / 1024.0,
        "MiB",
    );
    report.value(
        &format!("peak RSS server, upload {label}{scope}"),
        up_rss as f64 / 1024.0,
        "MiB",
    );
    report.value(
        &format!("peak RSS server, download {label}{scope}"),
        down_rss as f64 / 1024.0,
        "MiB",
    );
    report.value("runs (medians above)", rounds as f64, "");
    drop(server);
    drop(g);
    report.save();
}
