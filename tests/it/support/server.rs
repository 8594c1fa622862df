//! A long-running `bitatlas serve` (usually `--http`): started in its own temp directory, its
//! stderr in a log file there, waited for by a log line or `/healthz`, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{bin, spawn};

/// How long a server may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How a server is started, before it is.
pub struct Serve {
    cmd: Command,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    port: Port,
}

/// Which port a server listens on.
enum Port {
    /// Not serving HTTP.
    None,
    /// This one, chosen by the test.
    Given(u16),
    /// One the system picked: read back from the `serving on` banner.
    FromBanner,
}

impl Serve {
    /// `bitatlas serve` on a fresh data directory (`data/` in the server's temp directory).
    pub fn new() -> Serve {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        Serve::with_dir(dir, data_dir)
    }

    /// `bitatlas serve --data-dir DATA_DIR`, on a data directory the test owns.
    pub fn on(data_dir: &Path) -> Serve {
        Serve::with_dir(tempfile::tempdir().expect("tempdir"), data_dir.to_owned())
    }

    fn with_dir(dir: tempfile::TempDir, data_dir: PathBuf) -> Serve {
        let mut cmd = bin::bitatlas(&["serve", "--data-dir"]);
        cmd.arg(&data_dir);
        Serve {
            cmd,
            dir,
            data_dir,
            port: Port::None,
        }
    }

    /// `--http 127.0.0.1:0`: the system picks a free port when the server binds, so no other
    /// process can take it in between; [`Serve::spawn`] reads it from the banner.
    pub fn http(mut self) -> Serve {
        self.cmd.args(["--http", "127.0.0.1:0"]);
        self.port = Port::FromBanner;
        self
    }

    /// `--http FORM` on a port that is free now, `{port}` in `form` replaced by it
    /// (`"{port}"`, `"localhost:{port}"`), for tests about the forms of `--http`.
    pub fn http_as(mut self, form: &str) -> Serve {
        let port = super::free_port();
        self.cmd
            .args(["--http", &form.replace("{port}", &port.to_string())]);
        self.port = Port::Given(port);
        self
    }

    /// `--config PATH`.
    pub fn config(self, path: &Path) -> Serve {
        self.arg("--config").arg(path)
    }

    /// `--config DIR/bitatlas.toml`, `config` written there, in the server's own temp dir.
    pub fn with_config(self, config: &super::config::Config) -> Serve {
        let path = config.write_in(self.dir.path());
        self.config(&path)
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Serve {
        self.cmd.arg(arg);
        self
    }

    /// More arguments.
    pub fn args(mut self, args: &[&str]) -> Serve {
        self.cmd.args(args);
        self
    }

    /// An environment variable of the server.
    pub fn env(mut self, key: &str, value: &str) -> Serve {
        self.cmd.env(key, value);
        self
    }

    /// Starts it (stdin and stdout closed) and returns at once, or, on a port the system
    /// picks, once it listens.
    pub fn spawn(mut self) -> Server {
        let log = self.dir.path().join("serve.log");
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let child = spawn::spawn(&mut self.cmd).expect("spawn bitatlas serve");
        let mut server = Server {
            child,
            port: None,
            log,
            data_dir: self.data_dir,
            _dir: self.dir,
        };
        server.port = match self.port {
            Port::None => None,
            Port::Given(port) => Some(port),
            Port::FromBanner => Some(server.banner_port()),
        };
        server
    }

    /// Starts it and waits until `/healthz` answers 200.
    pub async fn start(self) -> Server {
        let mut server = self.spawn();
        server.wait_healthy().await;
        server
    }
}

/// A running `bitatlas serve`; killed on drop.
pub struct Server {
    child: Child,
    port: Option<u16>,
    log: PathBuf,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The HTTP port.
    pub fn port(&self) -> u16 {
        self.port.expect("started with --http")
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// `http://127.0.0.1:PORT/mcp`
    pub fn mcp(&self) -> String {
        format!("{}/mcp", self.base())
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything it wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET /healthz` answers 200.
    pub async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let url = format!("{}/healthz", self.base());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited with {status}: {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The port of the `serving on http://127.0.0.1:PORT/mcp` banner, once it is printed.
    fn banner_port(&mut self) -> u16 {
        const BANNER: &str = "serving on http://127.0.0.1:";
        let line = self.wait_for_line(BANNER);
        let rest = &line[line.find(BANNER).expect("banner") + BANNER.len()..];
        rest.split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    /// Waits for a line of its stderr that contains `needle` and returns that line.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if let Some(line) = self.log_text().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if exited || Instant::now() >= deadline {
                panic!("no line with {needle:?} on stderr: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends it signal `name` (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        bin::signal(self.child.id(), name);
    }

    /// Waits up to `within` for it to exit: its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        bin::wait_exit(&mut self.child, within)
    }

    /// Asks it to shut down (SIGTERM), waits up to 10 s for the exit, kills it if it is still
    /// running, and returns its log.
    pub fn stop(mut self) -> String {
        #[cfg(unix)]
        {
            self.signal("TERM");
            self.wait_exit(Duration::from_secs(10));
        }
        self.kill();
        self.log_text()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
