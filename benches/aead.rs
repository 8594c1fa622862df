//! Envelope throughput against `openssl speed -evp` measured in the same run.
//!
//! Single core: `seal_stream`/`open_stream` from memory to memory (one chunk after another on
//! one thread) against OpenSSL's single-process speed for the same algorithm at the same
//! buffer size (1 KiB for 1 KiB objects, the 64 KiB chunk size for larger ones). An object's
//! figure includes everything an object costs: DEK generation and wrap, key derivation, the
//! sealed info block, and the header; OpenSSL's is the bare AEAD.
//!
//! All cores: in-memory `seal`/`open`, which spread runs of chunks over the cores, against the
//! single-core OpenSSL figure (a ratio above 1 there shows the parallel speed-up).
//!
//! Run: `cargo bench --bench aead`.

#[path = "support/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use bitatlas::crypto::{self, Algorithm, Context, Keyring};
use report::{Better, Report};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// In-memory `seal`/`open` use more than one thread from two 1 MiB runs of chunks up.
const PARALLEL_FROM: usize = 2 * MIB;

fn ctx() -> Context<'static> {
    Context {
        tenant: "bench",
        store: "local",
        key: "bench/object",
    }
}

fn label(n: usize) -> String {
    if n >= MIB {
        format!("{} MiB", n / MIB)
    } else {
        format!("{} KiB", n / KIB)
    }
}

/// MiB/s that `openssl speed` reports for `evp` on `block`-byte buffers, one process.
fn openssl_speed(evp: &str, block: usize) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-evp", evp, "-seconds", "2", "-bytes"])
        .arg(block.to_string())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // The last line is "<name> <figure>k": thousands of bytes per second.
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let k: f64 = last
        .split_whitespace()
        .last()?
        .strip_suffix('k')?
        .parse()
        .ok()?;
    Some(k * 1000.0 / MIB as f64)
}

/// Runs `f` for at least `budget` (and at least 3 times) after a warm-up; MiB/s.
fn measure(bytes: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut iters = 0u64;
    while iters < 3 || start.elapsed() < budget {
        f();
        iters += 1;
    }
    bytes as f64 * iters as f64 / start.elapsed().as_secs_f64() / MIB as f64
}

fn main() {
    if !report::benchmarking("aead") {
        return;
    }
    let mut report = Report::new("aead");
    let budget = Duration::from_millis(1500);
    let meta = BTreeMap::new();
    for (alg, evp) in [
        (Algorithm::Aes256Gcm, "aes-256-gcm"),
        (Algorithm::XChaCha20Poly1305, "chacha20-poly1305"),
    ] {
        let ring = Keyring::generate(alg);
        for size in [KIB, 64 * KIB, 16 * MIB, 256 * MIB] {
            let block = size.min(64 * KIB);
            let baseline = format!("openssl {evp} {} 1 core", label(block));
            let Some(reference) = openssl_speed(evp, block) else {
                report.skipped(&format!("seal {alg} {}", label(size)), "openssl not found");
                continue;
            };
            let pt: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let sealed = crypto::seal(&ring, &ctx(), None, &meta, &pt).expect("seal");
            let seal_mem = measure(size, budget, || {
                std::hint::black_box(crypto::seal(&ring, &ctx(), None, &meta, &pt).expect("seal"));
            });
            let open_mem = measure(size, budget, || {
                let opened = crypto::open(&ring, &ctx(), &sealed).expect("open");
                assert_eq!(opened.data.len(), size);
            });
            let mut figures = Vec::new();
            if size < PARALLEL_FROM {
                // In-memory seal/open stay on the calling thread at this size.
                figures.push(("seal", "1 core", seal_mem));
                figures.push(("open", "1 core", open_mem));
            } else {
                let mut out = Vec::with_capacity(sealed.len());
                let seal_1 = measure(size, budget, || {
                    out.clear();
                    crypto::seal_stream(&ring, &ctx(), None, &meta, &mut &pt[..], &mut out)
                        .expect("seal_stream");
                });
                let open_1 = measure(size, budget, || {
                    out.clear();
                    crypto::open_stream(&ring, &ctx(), &mut &sealed[..], &mut out)
                        .expect("open_stream");
                });
                assert!(out == pt, "streamed open returns the plaintext");
                figures.push(("seal", "1 core", seal_1));
                figures.push(("open", "1 core", open_1));
                figures.push(("seal", "all cores", seal_mem));
                figures.push(("open", "all cores", open_mem));
            }
            for (op, cores, rate) in figures {
                report.compare(
                    &format!("{op} {alg} {} {cores}", label(size)),
                    rate,
                    "MiB/s",
                    &baseline,
                    reference,
                    Better::Higher,
                );
            }
        }
    }
    report.save();
}
