//! A throwaway single-node Garage (a real S3 server) on free loopback ports in a temp dir.
//!
//! `Garage::start("fr-par")` runs `garage server --single-node --default-bucket` with its
//! `[s3_api] s3_region` set to the given region, which is what GetBucketLocation answers.
//! The binary comes from `$GARAGE_BIN` or `PATH` (`cargo install garage --locked`).

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Garage node; stopped and deleted on drop.
pub struct Garage {
    child: Option<Child>,
    dir: tempfile::TempDir,
    config_path: std::path::PathBuf,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// S3 region it answers with.
    pub region: String,
    /// Bucket created at start.
    pub bucket: String,
    /// Access key id.
    pub key_id: String,
    /// Secret access key.
    pub secret: String,
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
    let found = Command::new("garage")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "Garage is required for S3 tests: run `bash tests/tools/setup.sh` or \
         `cargo install garage --locked`, or set GARAGE_BIN"
    );
    "garage".into()
}

impl Garage {
    /// Starts a node answering `region`, with one bucket and one key.
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
        let key_id = format!("GK{}", random_hex(12));
        let secret = random_hex(32);
        let bucket = "bitatlas-test".to_string();
        let mut g = Garage {
            child: None,
            dir,
            config_path,
            endpoint: format!("http://127.0.0.1:{s3}"),
            region: region.to_owned(),
            bucket,
            key_id,
            secret,
        };
        g.spawn();
        g
    }

    /// Runs the server process on the node's configuration and data, and waits until it
    /// listens.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .expect("log file");
        let child = Command::new(garage_bin())
            .arg("-c")
            .arg(&self.config_path)
            .args(["server", "--single-node", "--default-bucket"])
            .env("GARAGE_DEFAULT_ACCESS_KEY", &self.key_id)
            .env("GARAGE_DEFAULT_SECRET_KEY", &self.secret)
            .env("GARAGE_DEFAULT_BUCKET", &self.bucket)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start garage");
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
        let out = Command::new(garage_bin())
            .arg("-c")
            .arg(&self.config_path)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run garage");
        assert!(
            out.status.success(),
            "garage {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports a new access key and gives it the named permissions on the bucket (`read`,
    /// `write`, `owner`, any subset). Returns its id and secret.
    pub fn key_with(&self, name: &str, permissions: &[&str]) -> (String, String) {
        let key_id = format!("GK{}", random_hex(12));
        let secret = random_hex(32);
        self.admin(&["key", "import", "--yes", "-n", name, &key_id, &secret]);
        if !permissions.is_empty() {
            let flags: Vec<String> = permissions.iter().map(|p| format!("--{p}")).collect();
            let mut args = vec!["bucket", "allow"];
            args.extend(flags.iter().map(String::as_str));
            args.extend([self.bucket.as_str(), "--key", name]);
            self.admin(&args);
        }
        (key_id, secret)
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

    /// Stops the node (the data directory stays until drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A plain object_store S3 client for the bucket, to look at what the store holds.
    pub fn raw_client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_region(&self.region)
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.key_id)
            .with_secret_access_key(&self.secret)
            .with_allow_http(true)
            .build()
            .expect("raw S3 client")
    }

    /// A `bitatlas.toml` store section for this node; credentials go to files beside it.
    pub fn store_toml(&self, name: &str, country: &str) -> String {
        self.store_toml_as(name, country, &self.bucket, &self.key_id, &self.secret)
    }

    /// Like [`Garage::store_toml`], with another bucket name or credentials.
    pub fn store_toml_as(
        &self,
        name: &str,
        country: &str,
        bucket: &str,
        key_id: &str,
        secret: &str,
    ) -> String {
        let id_file = self.dir.path().join(format!("{name}.key_id"));
        let secret_file = self.dir.path().join(format!("{name}.secret"));
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

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
