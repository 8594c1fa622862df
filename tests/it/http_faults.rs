//! Slow and idle clients against the real `bitatlas serve --http`, over raw sockets: headers
//! that trickle or never come are cut at the header deadline, idle keep-alive connections are
//! closed, `/healthz` answers throughout, and at the connection cap further clients wait until
//! a connection closes instead of costing descriptors.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::bin::{self, s};
use crate::support::config::Config;
use crate::support::free_port;
use crate::support::server::{Serve, Server};

/// Bound on anything a test waits for; far above the deadlines configured here.
const PATIENCE: Duration = Duration::from_secs(60);

/// `bitatlas serve --http` with an `[http]` section (`http`), once `/healthz` answers.
fn start(http: &str) -> Server {
    let server = Serve::new()
        .with_config(&Config::new().merge(&format!("[http]\n{http}\n")))
        .http()
        .env("BITATLAS_LOG", "info")
        .spawn();
    let deadline = Instant::now() + PATIENCE;
    while server.healthz() != Some(200) {
        assert!(
            Instant::now() < deadline,
            "no /healthz: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Connections written byte by byte.
trait RawTcp {
    /// A fresh connection with a read timeout of [`PATIENCE`].
    fn connect(&self) -> TcpStream;
    /// `GET /healthz` on a fresh connection: the status, or `None` when nothing answered.
    fn healthz(&self) -> Option<u16>;
}

impl RawTcp for Server {
    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port())).expect("connect");
        s.set_read_timeout(Some(PATIENCE)).expect("timeout");
        s
    }

    fn healthz(&self) -> Option<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port())).ok()?;
        s.set_read_timeout(Some(PATIENCE)).ok()?;
        healthz_on(&mut s, "close")
    }
}

/// Sends `GET /healthz` on `s` and reads one response: its status.
fn healthz_on(s: &mut TcpStream, connection: &str) -> Option<u16> {
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\n\r\n"
    )
    .ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The answer is small: read until the header and the `ok` body are in.
    while !String::from_utf8_lossy(&got).contains("\r\n\r\nok") {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got)
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// Reads until the server closes `s` (end of stream or reset); panics if it stays open
/// beyond [`PATIENCE`]. Whatever the server sent before closing is returned.
fn wait_closed(s: &mut TcpStream, what: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break;
            }
            Err(e) => panic!("{what}: the server did not close the connection: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the server has closed `s` already, without waiting.
fn closed_now(s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 64];
    let mut reader = s;
    let closed = match reader.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).expect("blocking");
    closed
}

#[test]
fn stalled_and_trickled_headers_are_cut_while_healthz_answers() {
    let server = start("header_read_timeout_secs = 2\nmax_connections = 200");
    let mut stalled = Vec::new();
    for i in 0..120 {
        let mut s = server.connect();
        match i % 3 {
            // A request line and part of a header, then nothing.
            0 => write!(s, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap(),
            // Half a request line.
            1 => write!(s, "POST /mc").unwrap(),
            // Connected, nothing sent.
            _ => {}
        }
        stalled.push(s);
    }
    // One client keeps sending a header byte by byte, never finishing it.
    let mut trickler = server.connect();
    write!(trickler, "GET /healthz HTTP/1.1\r\nX-Trickle: ").unwrap();
    let trickle = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            if trickler.write_all(b"a").is_err() {
                return true;
            }
        }
        false
    });
    // /healthz answers on fresh connections while all of them hang on.
    for _ in 0..5 {
        assert_eq!(server.healthz(), Some(200), "{}", server.log_text());
    }
    for (i, s) in stalled.iter_mut().enumerate() {
        let sent = wait_closed(s, &format!("stalled connection {i}"));
        assert!(
            !sent.contains("ok"),
            "a stalled request was answered: {sent}"
        );
    }
    assert!(
        trickle.join().unwrap(),
        "a header trickled byte by byte was not cut"
    );
    assert_eq!(server.healthz(), Some(200));
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = start("header_read_timeout_secs = 1");
    let mut s = server.connect();
    assert_eq!(healthz_on(&mut s, "keep-alive"), Some(200));
    // The connection stays usable for a next request right away...
    assert_eq!(healthz_on(&mut s, "keep-alive"), Some(200));
    // ...and is closed once it stays idle past the deadline.
    let sent = wait_closed(&mut s, "idle keep-alive connection");
    assert!(
        sent.is_empty(),
        "unexpected bytes on an idle connection: {sent}"
    );
}

#[test]
fn at_the_connection_cap_a_new_client_waits_until_a_connection_closes() {
    let server = start("header_read_timeout_secs = 3\nmax_connections = 4");
    // Four connections take every slot (and are accepted: their half-sent requests are
    // parsed up to where they stop).
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = server.connect();
            write!(s, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            s
        })
        .collect();
    // A fifth client is connected by the kernel but not served until a slot frees: when its
    // answer comes, the server has already closed at least one of the four.
    let mut fifth = server.connect();
    assert_eq!(healthz_on(&mut fifth, "close"), Some(200));
    let closed = held.iter().filter(|s| closed_now(s)).count();
    assert!(
        closed >= 1,
        "the fifth connection was served while all four slots were taken"
    );
    for s in &mut held {
        wait_closed(s, "held connection");
    }
    assert_eq!(server.healthz(), Some(200));
}

/// A config whose `[http]` limits are out of range stops `serve` with exit 1 and says which.
#[test]
fn connection_and_session_limits_are_checked_at_start() {
    for (http, names) in [
        ("max_connections = 0", "max_connections"),
        ("header_read_timeout_secs = 0", "header_read_timeout_secs"),
        ("max_sessions_per_tenant = 0", "max_sessions_per_tenant"),
        (
            "request_timeout_secs = 60\nsession_idle_secs = 30",
            "session_idle_secs",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new()
            .merge(&format!("[http]\n{http}\n"))
            .write_in(dir.path());
        let http_addr = format!("127.0.0.1:{}", free_port());
        let out = bin::serve_once(
            &dir.path().join("data"),
            &["--config", s(&config), "--http", &http_addr],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{http}: {stderr}");
        assert!(stderr.contains(names), "{http}: {stderr}");
    }
}
