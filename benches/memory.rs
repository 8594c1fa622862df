//! Peak resident memory (peak RSS, the kernel's high-water mark) for:
//! - a 1 GiB object sealed and opened by the `bitatlas seal`/`open` CLI (the client side of the
//!   presigned path), compared with `rclone` copying the same file through a `crypt` remote;
//! - the server while a 1 GiB object goes through presigned URLs on a real Garage node and a
//!   range of it is read back through the `get` tool (the server never holds the payload);
//! - the server after 10 000 small objects were put, listed and searched.
//!
//! Server figures are compared with the same server's peak RSS right after start-up.
//! Run: `cargo bench --bench memory` (Garage and rclone are optional; missing ones are reported
//! as skipped with the command that installs them).

#[path = "support/report.rs"]
mod report;
#[path = "support/stdio_client.rs"]
mod stdio_client;

#[path = "../tests/it/support/garage.rs"]
mod garage;
#[path = "../tests/it/support/spawn.rs"]
mod spawn;

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use report::{Better, Report};
use serde_json::{Value, json};
use stdio_client::Client;

const BIN: &str = env!("CARGO_BIN_EXE_bitatlas");
const GIB: u64 = 1 << 30;
const SMALL_OBJECTS: usize = 10_000;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Peak RSS in KiB of a command run to completion under GNU time, or why it could not be read.
fn peak_rss_of(cmd: &mut Command) -> Result<u64, String> {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(program)
        .args(args)
        .envs(envs)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("/usr/bin/time: {e} (apt-get install time)"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("command failed: {stderr}"));
    }
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no peak RSS in GNU time's output".to_owned())
}

/// The kernel's peak RSS (VmHWM) of a running process, in KiB.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Writes `len` bytes of a non-repeating-looking pattern without holding them in memory.
fn write_pattern(path: &Path, len: u64) {
    let mut w = BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < len {
        for (i, b) in block.iter_mut().enumerate() {
            *b = ((written as usize + i) * 131 % 251) as u8;
        }
        let n = block.len().min((len - written) as usize);
        w.write_all(&block[..n]).expect("write");
        written += n as u64;
    }
    w.flush().expect("flush");
}

fn same_file(a: &Path, b: &Path) -> bool {
    let (mut x, mut y) = (
        BufReader::new(std::fs::File::open(a).expect("open a")),
        BufReader::new(std::fs::File::open(b).expect("open b")),
    );
    let (mut bx, mut by) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = x.read(&mut bx).expect("read a");
        if n == 0 {
            return y.read(&mut by).expect("read b") == 0;
        }
        if y.read_exact(&mut by[..n]).is_err() || bx[..n] != by[..n] {
            return false;
        }
    }
}

/// `bitatlas serve` over stdio, initialized.
struct Server(Client);

impl Server {
    fn start(data_dir: &Path, config: Option<&Path>) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--data-dir").arg(data_dir);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let mut client = Client::spawn(cmd);
        client.initialize();
        Server(client)
    }

    /// Calls a tool; returns its structured result, failing on a tool error.
    fn call(&mut self, tool: &str, args: Value) -> Value {
        self.0.call(tool, args)["structuredContent"].clone()
    }

    fn peak_kib(&self) -> u64 {
        vm_hwm(self.0.pid())
    }
}

/// `bitatlas seal`/`open` of a 1 GiB file against `rclone copy` through a local crypt remote.
fn cli_seal_open(report: &mut Report, dir: &Path) {
    let keyring = dir.join("cli.keyring");
    let status = Command::new(BIN)
        .args(["keys", "generate", "--keyring"])
        .arg(&keyring)
        .stderr(Stdio::null())
        .status()
        .expect("keys generate");
    assert!(status.success());
    let plain = dir.join("plain.bin");
    let (sealed, back) = (dir.join("plain.sealed"), dir.join("plain.back"));
    write_pattern(&plain, GIB);
    let rclone = rclone_crypt_peak(dir, &plain);
    for (op, input, output) in [("seal", &plain, &sealed), ("open", &sealed, &back)] {
        let name = format!("peak RSS CLI {op} 1 GiB");
        let mut cmd = Command::new(BIN);
        cmd.args([op, "--key", "big", "--keyring"])
            .arg(&keyring)
            .arg(input)
            .arg(output);
        let kib = match peak_rss_of(&mut cmd) {
            Ok(k) => k,
            Err(why) => return report.skipped(&name, &why),
        };
        match &rclone {
            Ok(r) => report.compare(
                &name,
                mib(kib),
                "MiB",
                "rclone crypt copy 1 GiB local",
                mib(*r),
                Better::Lower,
            ),
            Err(why) => {
                report.value(&name, mib(kib), "MiB");
                report.skipped("peak RSS rclone crypt copy 1 GiB local", why);
            }
        }
    }
    assert!(same_file(&plain, &back), "open returns the sealed file");
    for f in [plain, sealed, back] {
        let _ = std::fs::remove_file(f);
    }
}

/// Peak RSS of `rclone copyto` of `plain` into a crypt remote over a local directory.
fn rclone_crypt_peak(dir: &Path, plain: &Path) -> Result<u64, String> {
    let obscured = Command::new("rclone")
        .args(["obscure", "bench-password"])
        .output()
        .map_err(|e| format!("rclone: {e} (apt-get install rclone)"))?;
    let password = String::from_utf8_lossy(&obscured.stdout).trim().to_owned();
    let remote = dir.join("rclone-crypt");
    std::fs::create_dir_all(&remote).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("rclone");
    cmd.args(["copyto", "--config", "/dev/null"])
        .arg(plain)
        .arg("benchcrypt:big.bin")
        .env("RCLONE_CONFIG_BENCHCRYPT_TYPE", "crypt")
        .env("RCLONE_CONFIG_BENCHCRYPT_REMOTE", &remote)
        .env("RCLONE_CONFIG_BENCHCRYPT_PASSWORD", password);
    let kib = peak_rss_of(&mut cmd)?;
    let _ = std::fs::remove_dir_all(&remote);
    Ok(kib)
}

/// A 1 GiB object through presigned URLs on Garage: the server signs, the client seals,
/// uploads, reads a range through the server, downloads and opens.
fn server_presigned(report: &mut Report, dir: &Path) {
    let name = "peak RSS server, 1 GiB via presign on Garage";
    if std::env::var_os("GARAGE_BIN").is_none()
        && !Command::new("garage")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    {
        return report.skipped(name, "garage not found: bash tests/tools/setup.sh");
    }
    let g = garage::Garage::start("fr-par");
    let config = dir.join("garage.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[tenants.default]\nstore = \"eu\"\npolicy = \"uploads\"\n\n\
             [policies.uploads]\nallow_presign_put = true\n",
            g.default.store_toml("eu", "FR")
        ),
    )
    .expect("config");
    let data_dir = dir.join("garage-data");
    let mut server = Server::start(&data_dir, Some(&config));
    let idle = server.peak_kib();

    let plain = dir.join("big.bin");
    let (sealed, fetched, back) = (
        dir.join("big.sealed"),
        dir.join("big.fetched"),
        dir.join("big.back"),
    );
    write_pattern(&plain, GIB);
    let keyring = data_dir.join("keys").join("default.keyring");
    let out = Command::new(BIN)
        .args([
            "seal", "--key", "big.bin", "--tenant", "default", "--store", "eu",
        ])
        .arg("--keyring")
        .arg(&keyring)
        .arg(&plain)
        .arg(&sealed)
        .output()
        .expect("seal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let put = server.call("presign", json!({"key": "big.bin", "method": "PUT"}));
    curl(&[
        "-X",
        "PUT",
        "--upload-file",
        sealed.to_str().expect("utf-8"),
        url(&put),
    ]);
    let mid = GIB / 2;
    let range = server.call(
        "get",
        json!({"key": "big.bin", "range": {"start": mid, "end": mid + 4096}}),
    );
    let want: Vec<u8> = (mid..mid + 4096).map(|i| (i * 131 % 251) as u8).collect();
    use base64::Engine;
    let got = base64::engine::general_purpose::STANDARD
        .decode(range["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(got, want, "range read through the server");
    let get = server.call("presign", json!({"key": "big.bin", "method": "GET"}));
    curl(&["-o", fetched.to_str().expect("utf-8"), url(&get)]);
    let out = Command::new(BIN)
        .args([
            "open", "--key", "big.bin", "--tenant", "default", "--store", "eu",
        ])
        .arg("--keyring")
        .arg(&keyring)
        .arg(&fetched)
        .arg(&back)
        .output()
        .expect("open");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        same_file(&plain, &back),
        "the object survives the round trip"
    );
    report.compare(
        name,
        mib(server.peak_kib()),
        "MiB",
        "same server after start-up",
        mib(idle),
        Better::Lower,
    );
    for f in [plain, sealed, fetched, back] {
        let _ = std::fs::remove_file(f);
    }
}

fn url(presigned: &Value) -> &str {
    presigned["url"].as_str().expect("url")
}

fn curl(args: &[&str]) {
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 10 000 objects of 1 KiB put, listed in pages of 1 000 and searched, through one server.
fn server_small_objects(report: &mut Report, dir: &Path) {
    let mut server = Server::start(&dir.join("small-data"), None);
    let idle = server.peak_kib();
    let text = "x".repeat(1024);
    for i in 0..SMALL_OBJECTS {
        server.call(
            "put",
            json!({"key": format!("small/{:02}/{i:05}.txt", i % 50), "text": text,
                   "metadata": {"team": format!("team-{}", i % 100)}}),
        );
    }
    let mut seen = 0;
    let mut cursor = Value::Null;
    loop {
        let mut args = json!({"limit": 1000});
        if !cursor.is_null() {
            args["cursor"] = cursor;
        }
        let page = server.call("list", args);
        seen += page["objects"].as_array().expect("objects").len();
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen, SMALL_OBJECTS);
    let found = server.call(
        "search",
        json!({"metadata": {"team": "team-7"}, "limit": 1000}),
    );
    assert_eq!(
        found["matches"].as_array().map(Vec::len),
        Some(SMALL_OBJECTS / 100)
    );
    report.compare(
        "peak RSS server, 10k objects put+list+search",
        mib(server.peak_kib()),
        "MiB",
        "same server after start-up",
        mib(idle),
        Better::Lower,
    );
}

fn main() {
    if !report::benchmarking("memory") {
        return;
    }
    let mut report = Report::new("memory");
    let dir = tempfile::tempdir().expect("tempdir");
    cli_seal_open(&mut report, dir.path());
    server_presigned(&mut report, dir.path());
    server_small_objects(&mut report, dir.path());
    report.save();
}
