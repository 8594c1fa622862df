//! Envelope throughput, compared with `openssl speed` on the same machine.
//!
//! Run with `cargo bench --bench aead`. Prints one line per figure. Set
//! `BITATLAS_BENCH_RSS=1` to also seal and open a 1 GiB file with the `bitatlas` binary under
//! `/usr/bin/time -v` and report its peak resident set size.

use std::collections::BTreeMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use bitatlas::crypto::{self, Algorithm, Context, Keyring};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

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

/// Bytes per second that `openssl speed` reports for `evp` on 16 KiB blocks.
fn openssl_speed(evp: &str) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-evp", evp, "-bytes", "16384", "-seconds", "1"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let figure = last.split_whitespace().last()?.strip_suffix('k')?;
    figure.parse::<f64>().ok().map(|k| k * 1000.0)
}

/// Runs `f` repeatedly for at least `budget`; returns bytes per second.
fn measure(bytes: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    let mut iters = 0u64;
    while iters < 3 || start.elapsed() < budget {
        f();
        iters += 1;
    }
    bytes as f64 * iters as f64 / start.elapsed().as_secs_f64()
}

fn report(op: &str, alg: Algorithm, size: &str, bps: f64, reference: Option<(f64, &str)>) {
    let mibs = bps / MIB as f64;
    match reference {
        Some((r, name)) => println!(
            "{op:<5} {alg:<19} {size:>8}: {mibs:>9.1} MiB/s  ({:.2}x openssl {name} 16 KiB = {:.1} MiB/s)",
            bps / r,
            r / MIB as f64
        ),
        None => println!("{op:<5} {alg:<19} {size:>8}: {mibs:>9.1} MiB/s  (openssl not available)"),
    }
}

/// A reader producing `left` bytes of a fixed pattern without holding them in memory.
struct Pattern {
    left: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = i as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("aead: run with `cargo bench --bench aead`");
        return;
    }
    let budget = Duration::from_millis(700);
    for (alg, evp) in [
        (Algorithm::Aes256Gcm, "aes-256-gcm"),
        (Algorithm::XChaCha20Poly1305, "chacha20-poly1305"),
    ] {
        let reference = openssl_speed(evp).map(|r| (r, evp));
        let ring = Keyring::generate(alg);
        let meta = BTreeMap::new();
        for size in [KIB, 64 * KIB, 16 * MIB] {
            let pt = vec![0x5au8; size];
            let bps = measure(size, budget, || {
                std::hint::black_box(crypto::seal(&ring, &ctx(), None, &meta, &pt).unwrap());
            });
            report("seal", alg, &label(size), bps, reference);
            let env = crypto::seal(&ring, &ctx(), None, &meta, &pt).unwrap();
            let bps = measure(size, budget, || {
                std::hint::black_box(crypto::open(&ring, &ctx(), &env).unwrap());
            });
            report("open", alg, &label(size), bps, reference);
        }

        // 256 MiB, streamed: generated on the fly, sealed into a temporary file, then
        // opened from that file into a sink.
        let size = 256 * MIB;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.sealed");
        let start = Instant::now();
        {
            let mut w = BufWriter::new(std::fs::File::create(&path).unwrap());
            crypto::seal_stream(
                &ring,
                &ctx(),
                None,
                &meta,
                &mut Pattern { left: size as u64 },
                &mut w,
            )
            .unwrap();
            w.flush().unwrap();
        }
        let bps = size as f64 / start.elapsed().as_secs_f64();
        report("seal", alg, "256 MiB*", bps, reference);
        let start = Instant::now();
        let mut r = BufReader::new(std::fs::File::open(&path).unwrap());
        crypto::open_stream(&ring, &ctx(), &mut r, &mut io::sink()).unwrap();
        let bps = size as f64 / start.elapsed().as_secs_f64();
        report("open", alg, "256 MiB*", bps, reference);
    }
    println!("(* streamed through a temporary file, so the figure includes file I/O)");

    if std::env::var_os("BITATLAS_BENCH_RSS").is_some() {
        peak_rss();
    }
}

/// Seals and opens a 1 GiB file with the CLI under `/usr/bin/time -v`.
fn peak_rss() {
    let bin = env!("CARGO_BIN_EXE_bitatlas");
    let dir = tempfile::tempdir().unwrap();
    let keyring = dir.path().join("k.keyring");
    let plain = dir.path().join("plain.bin");
    let sealed = dir.path().join("plain.sealed");
    let back = dir.path().join("plain.back");
    let status = Command::new(bin)
        .args(["keys", "generate", "--keyring"])
        .arg(&keyring)
        .status()
        .unwrap();
    assert!(status.success());
    {
        let mut w = BufWriter::new(std::fs::File::create(&plain).unwrap());
        io::copy(&mut Pattern { left: 1 << 30 }, &mut w).unwrap();
    }
    for (op, input, output) in [("seal", &plain, &sealed), ("open", &sealed, &back)] {
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .arg("-v")
            .arg(bin)
            .args([op, "--key", "big", "--keyring"])
            .arg(&keyring)
            .arg(input)
            .arg(output)
            .output();
        let Ok(out) = out else {
            println!("{op} 1 GiB: /usr/bin/time not available");
            return;
        };
        let secs = start.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rss = stderr
            .lines()
            .find(|l| l.contains("Maximum resident set size"))
            .and_then(|l| l.rsplit(':').next())
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".into());
        println!(
            "{op} 1 GiB file with the CLI: exit {:?}, {secs:.2} s, peak RSS {rss} KiB",
            out.status.code()
        );
    }
}
