//! Real single-node Garage servers (S3) on free loopback ports in temp dirs.
//!
//! * [`shared_bucket`]: a new bucket with its own key on the node of this test binary that
//!   answers the given region (`fr-par` or `us-east-1`). Each node starts on first use and
//!   serves every test of the binary, so tests stay independent (a bucket each) and may run
//!   at once.
//! * [`Garage::start`]: a node of its own, for a test that stops or restarts it.
//!
//! A node runs `garage server --single-node --default-bucket` with `[s3_api] s3_region` set to
//! its region, which is what GetBucketLocation answers. Beside each node runs a watchdog that
//! kills it (and deletes its directory) once the test process is gone, however it ended: the
//! watchdog waits for the end of a pipe only the test process holds.
//!
//! The binary comes from `$GARAGE_BIN` or `PATH` (`cargo install garage --locked`); without it
//! every test that needs Garage fails, naming how to install it.
//!
//! Also compiled into `benches/garage_throughput.rs` and `benches/memory.rs`, so it depends on
//! nothing else in the test support but its sibling module `spawn`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::spawn;

/// A running Garage node; stopped and deleted on drop.
pub struct Garage {
    child: Option<Child>,
    watchdog: Option<Child>,
    dir: tempfile::TempDir,
    config_path: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// S3 region it answers with.
    pub region: String,
    /// The bucket and key created at start.
    pub default: Bucket,
}

/// One bucket of a node, with a key that may read, write and own it.
pub struct Bucket {
    /// `http://127.0.0.1:PORT` of its node.
    pub endpoint: String,
    /// S3 region its node answers with.
    pub region: String,
    /// Bucket name.
    pub name: String,
    /// Access key id.
    pub key_id: String,
    /// Secret access key.
    pub secret: String,
    config_path: PathBuf,
    /// Where the credential files of [`Bucket::store_toml`] go.
    creds: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("randomness");
    hex::encode(b)
}

/// The garage binary, or a panic that says how to get one.
pub fn garage_bin() -> String {
    if let Ok(bin) = std::env::var("GARAGE_BIN") {
        return bin;
    }
    let found = spawn::status(
        Command::new("garage")
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .is_ok_and(|s| s.success());
    assert!(
        found,
        "Garage is required for S3 tests: run `bash tests/tools/setup.sh` or \
         `cargo install garage --locked`, or set GARAGE_BIN"
    );
    "garage".into()
}

/// A new bucket, with a new key allowed to read, write and own it, on the shared node of this
/// test binary that answers `region` (`fr-par` or `us-east-1`); the node starts on first use.
pub fn shared_bucket(region: &str) -> Bucket {
    static FR_PAR: OnceLock<Garage> = OnceLock::new();
    static US_EAST_1: OnceLock<Garage> = OnceLock::new();
    let node = match region {
        "fr-par" => &FR_PAR,
        "us-east-1" => &US_EAST_1,
        other => panic!("no shared Garage node answers {other}"),
    };
    // A failed start panics here and leaves the cell empty: every test that needs the node
    // fails with the same message.
    node.get_or_init(|| Garage::start(region)).new_bucket()
}

/// Runs `garage -c CONFIG ARGS...` (the admin CLI over RPC) and returns its stdout.
fn admin(config_path: &Path, args: &[&str]) -> String {
    let out = spawn::output(
        Command::new(garage_bin())
            .arg("-c")
            .arg(config_path)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null()),
    )
    .expect("run garage");
    assert!(
        out.status.success(),
        "garage {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Garage {
    /// Starts a node answering `region`, with one bucket and one key ([`Garage::default`]).
    pub fn start(region: &str) -> Garage {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s3, rpc) = (free_port(), free_port());
        let config = format!(
            r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{region}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"
"#,
            d = dir.path().display(),
            secret = random_hex(32),
        );
        let config_path = dir.path().join("garage.toml");
        std::fs::write(&config_path, config).expect("write garage config");
        let endpoint = format!("http://127.0.0.1:{s3}");
        let default = Bucket {
            endpoint: endpoint.clone(),
            region: region.to_owned(),
            name: "bitatlas-test".to_string(),
            key_id: format!("GK{}", random_hex(12)),
            secret: random_hex(32),
            config_path: config_path.clone(),
            creds: tempfile::tempdir().expect("tempdir"),
        };
        let mut g = Garage {
            child: None,
            watchdog: None,
            dir,
            config_path,
            endpoint,
            region: region.to_owned(),
            default,
        };
        g.spawn();
        g
    }

    /// Runs the server process on the node's configuration and data, with its watchdog, and
    /// waits until it listens.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .expect("log file");
        let child = spawn::spawn(
            Command::new(garage_bin())
                .arg("-c")
                .arg(&self.config_path)
                .args(["server", "--single-node", "--default-bucket"])
                .env("GARAGE_DEFAULT_ACCESS_KEY", &self.default.key_id)
                .env("GARAGE_DEFAULT_SECRET_KEY", &self.default.secret)
                .env("GARAGE_DEFAULT_BUCKET", &self.default.name)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        )
        .expect("start garage");
        self.watchdog = Some(watchdog(child.id(), self.dir.path()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Starts a stopped node again, on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs `garage -c CONFIG ARGS...` against this node (the admin CLI over RPC).
    pub fn admin(&self, args: &[&str]) -> String {
        admin(&self.config_path, args)
    }

    /// Creates a bucket with a unique name and a new key that may read, write and own it.
    pub fn new_bucket(&self) -> Bucket {
        let name = format!("t-{}", random_hex(8));
        self.admin(&["bucket", "create", &name]);
        let key_id = format!("GK{}", random_hex(12));
        let secret = random_hex(32);
        self.admin(&["key", "import", "--yes", "-n", &name, &key_id, &secret]);
        self.admin(&[
            "bucket", "allow", "--read", "--write", "--owner", &name, "--key", &key_id,
        ]);
        Bucket {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            name,
            key_id,
            secret,
            config_path: self.config_path.clone(),
            creds: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&addr).is_ok() {
                // The bucket and key are created right after the listener is up.
                std::thread::sleep(Duration::from_millis(300));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default();
        panic!("garage did not start within 30 s:\n{log}");
    }

    /// Freezes the node (`SIGSTOP`): it keeps its connections and answers nothing, as a hung
    /// server or a black-holed network does.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen node run again (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("garage is running").id();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Stops the node (the data directory stays until drop).
    pub fn stop(&mut self) {
        // The watchdog first, so that it never acts on a process that is already gone.
        for mut c in [self.watchdog.take(), self.child.take()]
            .into_iter()
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sh` waiting for the end of its stdin, a pipe whose other end only this process holds
/// (Rust opens pipes close-on-exec, so no other child inherits it): when this process ends,
/// however it ends, the read returns and the shell kills `pid` and deletes `dir`. A node
/// started for the whole test binary lives in a static, which is never dropped; this is what
/// stops it.
fn watchdog(pid: u32, dir: &Path) -> Child {
    spawn::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(r#"read -r _; kill -KILL "$1" 2>/dev/null; rm -rf "$2""#)
            .arg("garage-watchdog")
            .arg(pid.to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("start the garage watchdog (sh)")
}

impl Bucket {
    /// Runs `garage -c CONFIG ARGS...` against this bucket's node.
    pub fn admin(&self, args: &[&str]) -> String {
        admin(&self.config_path, args)
    }

    /// Imports a new access key and gives it the named permissions on the bucket (`read`,
    /// `write`, `owner`, any subset). Returns its id and secret.
    pub fn key_with(&self, name: &str, permissions: &[&str]) -> (String, String) {
        let key_id = format!("GK{}", random_hex(12));
        let secret = random_hex(32);
        let name = format!("{}-{name}", self.name);
        self.admin(&["key", "import", "--yes", "-n", &name, &key_id, &secret]);
        if !permissions.is_empty() {
            let flags: Vec<String> = permissions.iter().map(|p| format!("--{p}")).collect();
            let mut args = vec!["bucket", "allow"];
            args.extend(flags.iter().map(String::as_str));
            // By id: key names need not be unique on a node shared by many tests.
            args.extend([self.name.as_str(), "--key", key_id.as_str()]);
            self.admin(&args);
        }
        (key_id, secret)
    }

    /// A plain object_store S3 client for the bucket, to look at what the store holds.
    pub fn raw_client(&self) -> object_store::aws::AmazonS3 {
        self.client_as(&self.key_id, &self.secret)
    }

    /// A plain object_store S3 client for the bucket, with other credentials.
    pub fn client_as(&self, key_id: &str, secret: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_region(&self.region)
            .with_bucket_name(&self.name)
            .with_access_key_id(key_id)
            .with_secret_access_key(secret)
            .with_allow_http(true)
            .build()
            .expect("raw S3 client")
    }

    /// A `bitatlas.toml` store section for this bucket; credentials go to files beside it.
    pub fn store_toml(&self, name: &str, country: &str) -> String {
        self.store_toml_as(name, country, &self.name, &self.key_id, &self.secret)
    }

    /// Like [`Bucket::store_toml`], with another bucket name or credentials.
    pub fn store_toml_as(
        &self,
        name: &str,
        country: &str,
        bucket: &str,
        key_id: &str,
        secret: &str,
    ) -> String {
        let id_file = self.creds.path().join(format!("{name}.key_id"));
        let secret_file = self.creds.path().join(format!("{name}.secret"));
        for (path, value) in [(&id_file, key_id), (&secret_file, secret)] {
            std::fs::write(path, value).expect("credential file");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod 600");
            }
        }
        format!(
            r#"[stores.{name}]
provider = "garage"
region = "{region}"
endpoint = "{endpoint}"
bucket = "{bucket}"
country = "{country}"
credentials = {{ access_key_id_file = "{id}", secret_access_key_file = "{sec}" }}
"#,
            id = id_file.display(),
            sec = secret_file.display(),
            region = self.region,
            endpoint = self.endpoint,
        )
    }
}
