//! Newline-delimited JSON-RPC on a byte stream (stdin/stdout), with a bounded line.
//!
//! rmcp's own stream transport drops a line above its limit with nothing but a log line, so
//! the client waits forever for that request. [`LineTransport`] reads the same wire, one
//! message per line, and answers such a request instead: it buffers a line up to the limit,
//! and past it reads on without storing anything but the request's `id` (see [`IdScan`]),
//! answers that id with a `TOO_LARGE` error as soon as it is known, and resumes with the next
//! line. Everything else is what rmcp does: empty lines are skipped, a line that is not JSON
//! is ignored (answering garbage can start an error storm with a peer that echoes it), and
//! JSON that is not a JSON-RPC message gets an Invalid Request error (never for a
//! notification, which JSON-RPC forbids answering).
//!
//! `receive` is polled inside a `select!` by rmcp's service loop and may be dropped at any
//! await, so all progress lives in the struct: a partly read line stays in the line buffer,
//! the scan of an oversize line in its state, and a queued error reply is a stored future
//! that the next call finishes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use super::id_scan::{IdScan, MessageKind};
use super::too_large::{INVALID_REQUEST, TooLarge, Wire};

/// Bytes asked of the input per read: a pipe's buffer, so a large line takes few reads.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// A line buffer that grew past this (for one large request) is released after the line
/// rather than kept for the life of the session.
const KEPT_LINE_CAPACITY: usize = 1024 * 1024;
/// The UTF-8 byte-order mark a JSON text may start with (RFC 8259 §8.1).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The sizes a [`LineTransport`] works with.
#[derive(Debug, Clone, Copy)]
pub struct LineLimits {
    /// Longest line read as a message, in bytes (its terminator not counted).
    pub max_line_bytes: usize,
    /// The server's inline payload limit, named in the `TOO_LARGE` answer.
    pub max_inline_bytes: u64,
}

type SharedWriter<W> = Arc<Mutex<Option<W>>>;
type PendingWrite = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// The server side of MCP over a pair of byte streams, one JSON-RPC message per line.
pub struct LineTransport<R, W> {
    read: BufReader<R>,
    line: Vec<u8>,
    limits: LineLimits,
    /// Set while the rest of a line above the limit is being read past.
    oversize: Option<Oversize>,
    writer: SharedWriter<W>,
    /// An error reply that `receive` queued and has not finished writing.
    pending: Option<PendingWrite>,
}

/// A line above the limit, being read past.
struct Oversize {
    scan: IdScan,
    /// Bytes of it read so far (the terminator not counted).
    seen: usize,
    /// Whether it was answered (or found to need no answer).
    settled: bool,
}

/// What one read of the input brought.
enum Step {
    /// Part of a line, nothing to act on yet.
    More,
    /// A whole line is in the line buffer.
    Line,
    /// A line just crossed the limit; its end has not come yet.
    OversizeStarted,
    /// The end of a line above the limit.
    OversizeEnded,
    /// The input closed.
    Eof,
}

/// What a line (within the limit) turned out to be.
enum Parsed {
    Message(Box<RxJsonRpcMessage<RoleServer>>),
    Skip,
    /// JSON, but no message we can read: answer Invalid Request for this id.
    Invalid(Value),
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    /// A transport reading messages from `read` and writing them to `write`.
    pub fn new(read: R, write: W, limits: LineLimits) -> Self {
        LineTransport {
            read: BufReader::with_capacity(READ_BUFFER_BYTES, read),
            line: Vec::new(),
            limits,
            oversize: None,
            writer: Arc::new(Mutex::new(Some(write))),
            pending: None,
        }
    }

    /// Finishes writing a queued reply (resuming one a dropped `receive` left half done).
    async fn flush_pending(&mut self) -> io::Result<()> {
        if let Some(write) = self.pending.as_mut() {
            let written = write.await;
            self.pending = None;
            written?;
        }
        Ok(())
    }

    /// One read of the input, consumed into the line buffer or the oversize scan. Nothing is
    /// awaited after the bytes are taken, so a dropped call loses nothing.
    async fn read_step(&mut self) -> io::Result<Step> {
        let available = self.read.fill_buf().await?;
        if available.is_empty() {
            return Ok(Step::Eof);
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        let content = newline.unwrap_or(take);
        let chunk = &available[..take];
        let step = if let Some(over) = self.oversize.as_mut() {
            over.scan.feed(chunk);
            over.seen = over.seen.saturating_add(content);
            if newline.is_some() {
                Step::OversizeEnded
            } else {
                Step::More
            }
        } else if self.line.len().saturating_add(content) > self.limits.max_line_bytes {
            let mut scan = IdScan::new();
            scan.feed(&self.line);
            scan.feed(chunk);
            self.oversize = Some(Oversize {
                scan,
                seen: self.line.len() + content,
                settled: false,
            });
            // The buffer is at the limit's size now; this line will not need it.
            self.line = Vec::new();
            if newline.is_some() {
                Step::OversizeEnded
            } else {
                Step::OversizeStarted
            }
        } else {
            self.line.extend_from_slice(chunk);
            if newline.is_some() {
                Step::Line
            } else {
                Step::More
            }
        };
        self.read.consume(take);
        Ok(step)
    }

    /// Parses the buffered line and empties the buffer.
    fn take_line(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        let parsed = {
            let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
            if line.is_empty() {
                Parsed::Skip
            } else {
                parse_line(line)
            }
        };
        if self.line.capacity() > KEPT_LINE_CAPACITY {
            self.line = Vec::new();
        } else {
            self.line.clear();
        }
        match parsed {
            Parsed::Message(message) => Some(*message),
            Parsed::Skip => None,
            Parsed::Invalid(id) => {
                self.queue(&serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {
                        "code": INVALID_REQUEST,
                        "message": "Invalid Request: not a valid JSON-RPC 2.0 message",
                    },
                }));
                None
            }
        }
    }

    /// Answers the oversize line once what it is can be told; forgets it at its end.
    fn settle_oversize(&mut self, complete: bool) {
        let Some(over) = self.oversize.as_mut() else {
            return;
        };
        let mut reply = None;
        if !over.settled
            && let Some(kind) = over.scan.kind(complete)
        {
            over.settled = true;
            let limit = self.limits.max_line_bytes;
            match kind {
                MessageKind::Request(id) => {
                    tracing::warn!(
                        bytes = over.seen,
                        limit,
                        "a request line is above the stdio limit: answered TOO_LARGE"
                    );
                    let too_large = TooLarge {
                        wire: Wire::Stdio,
                        seen: over.seen,
                        complete,
                        limit,
                        max_inline_bytes: self.limits.max_inline_bytes,
                    };
                    reply = Some(too_large.response(id));
                }
                MessageKind::Notification => tracing::warn!(
                    bytes = over.seen,
                    limit,
                    "a notification line is above the stdio limit: dropped (a notification \
                     has no answer)"
                ),
                MessageKind::Response => tracing::warn!(
                    bytes = over.seen,
                    limit,
                    "a response line is above the stdio limit: dropped"
                ),
            }
        }
        if complete {
            self.oversize = None;
        }
        if let Some(reply) = reply {
            self.queue(&reply);
        }
    }

    /// Queues `reply` to be written by the next turn of `receive`.
    fn queue(&mut self, reply: &Value) {
        // `receive` finishes every queued reply before it reads on, so none is pending here.
        debug_assert!(self.pending.is_none());
        let mut line = reply.to_string().into_bytes();
        line.push(b'\n');
        let writer = Arc::clone(&self.writer);
        self.pending = Some(Box::pin(async move { write_line(&writer, &line).await }));
    }
}

/// Reads a line as a client message, or says why not.
fn parse_line(line: &[u8]) -> Parsed {
    let error = match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(line) {
        Ok(message) => return Parsed::Message(Box::new(message)),
        Err(e) => e,
    };
    // serde's text can quote the input; the log gets its position and kind only.
    let (at_line, column) = (error.line(), error.column());
    if error.is_syntax() || error.is_eof() {
        tracing::debug!(at_line, column, "ignoring an input line that is not JSON");
        return Parsed::Skip;
    }
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return Parsed::Skip;
    };
    let method = value.get("method").and_then(Value::as_str);
    let is_notification = method.is_some() && value.get("id").is_none();
    if is_notification || method.is_some_and(|m| m.starts_with("notifications/")) {
        tracing::debug!(
            at_line,
            column,
            "ignoring a notification that cannot be read"
        );
        return Parsed::Skip;
    }
    tracing::debug!(
        at_line,
        column,
        "answering an unreadable message: Invalid Request"
    );
    let id = value
        .get("id")
        .filter(|id| id.is_string() || id.is_number())
        .cloned()
        .unwrap_or(Value::Null);
    Parsed::Invalid(id)
}

/// Writes one whole line and flushes it, holding the writer so that concurrent senders never
/// interleave.
async fn write_line<W: AsyncWrite + Unpin>(
    writer: &Mutex<Option<W>>,
    line: &[u8],
) -> io::Result<()> {
    let mut guard = writer.lock().await;
    let Some(w) = guard.as_mut() else {
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "the transport is closed",
        ));
    };
    w.write_all(line).await?;
    w.flush().await
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let writer = Arc::clone(&self.writer);
        async move {
            // Serialised before the writer is taken, so other senders wait only for bytes.
            let mut line = serde_json::to_vec(&item).map_err(io::Error::from)?;
            line.push(b'\n');
            write_line(&writer, &line).await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if let Err(e) = self.flush_pending().await {
                tracing::error!("cannot write to the stdio transport: {e}");
                return None;
            }
            let step = match self.read_step().await {
                Ok(step) => step,
                Err(e) => {
                    tracing::error!("cannot read from the stdio transport: {e}");
                    return None;
                }
            };
            match step {
                Step::More => {}
                Step::Line => {
                    if let Some(message) = self.take_line() {
                        return Some(message);
                    }
                }
                Step::OversizeStarted => self.settle_oversize(false),
                Step::OversizeEnded => self.settle_oversize(true),
                Step::Eof => {
                    // An oversize request cut short by the end of the input is still
                    // answered; a partial line within the limit is no message at all.
                    if self.oversize.is_some() {
                        self.settle_oversize(true);
                        if let Err(e) = self.flush_pending().await {
                            tracing::error!("cannot write to the stdio transport: {e}");
                        }
                    }
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        let writer = self.writer.lock().await.take();
        if let Some(mut w) = writer {
            w.flush().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;
    use tokio::io::DuplexStream;

    const LIMIT: usize = 4096;

    struct Peer {
        to_server: DuplexStream,
        from_server: BufReader<DuplexStream>,
    }

    fn pair() -> (LineTransport<DuplexStream, DuplexStream>, Peer) {
        let (to_server, server_in) = tokio::io::duplex(64 * 1024);
        let (server_out, from_server) = tokio::io::duplex(64 * 1024);
        let transport = LineTransport::new(
            server_in,
            server_out,
            LineLimits {
                max_line_bytes: LIMIT,
                max_inline_bytes: 1000,
            },
        );
        let peer = Peer {
            to_server,
            from_server: BufReader::new(from_server),
        };
        (transport, peer)
    }

    /// A guard against a hang, not a measure of speed.
    async fn patient<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("no progress within 30 s")
    }

    impl Peer {
        async fn write(&mut self, bytes: impl AsRef<[u8]>) {
            self.to_server.write_all(bytes.as_ref()).await.unwrap();
        }

        async fn read_reply(&mut self) -> Value {
            let mut line = String::new();
            patient(self.from_server.read_line(&mut line))
                .await
                .unwrap();
            serde_json::from_str(&line).unwrap()
        }
    }

    async fn next(t: &mut LineTransport<DuplexStream, DuplexStream>) -> Value {
        let message = patient(t.receive()).await.expect("a message");
        serde_json::to_value(&message).unwrap()
    }

    fn ping(id: u64) -> String {
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n")
    }

    /// A `tools/call put` line of about `len` bytes, its id first or last (none: a notification).
    fn big_put(len: usize, id: Option<&str>, id_first: bool) -> String {
        let pad = "A".repeat(len);
        let params = format!(
            "\"params\":{{\"name\":\"put\",\"arguments\":{{\"key\":\"k\",\"base64\":\"{pad}\"}}}}"
        );
        match (id, id_first) {
            (Some(id), true) => {
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",{params}}}\n")
            }
            (Some(id), false) => {
                format!("{{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",{params},\"id\":{id}}}\n")
            }
            (None, _) => {
                format!("{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",{params}}}\n")
            }
        }
    }

    #[tokio::test]
    async fn lines_like_rmcp_reads_them() {
        let (mut t, mut peer) = pair();
        let mut input = String::new();
        input.push('\n');
        input.push_str("\r\n");
        input.push_str(&ping(1));
        input.push_str("not json at all\n");
        input.push_str("{\"jsonrpc\":\"2.0\",\"id\":2,\n"); // broken JSON: ignored
        input.push('\u{feff}');
        input.push_str(&ping(3).replace('\n', "\r\n"));
        input.push_str("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
        peer.write(input.as_bytes()).await;
        assert_eq!(next(&mut t).await["id"], 1);
        assert_eq!(next(&mut t).await["id"], 3);
        assert_eq!(next(&mut t).await["method"], "notifications/initialized");
        // Nothing was answered on the way: the first line out is the next reply.
        peer.write(b"{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}\n")
            .await;
        peer.write(&ping(8)).await;
        assert_eq!(next(&mut t).await["id"], 8);
        let r = peer.read_reply().await;
        assert_eq!(r["id"], 7);
        assert_eq!(r["error"]["code"], -32600);
    }

    #[tokio::test]
    async fn unreadable_json_is_invalid_request_except_for_notifications() {
        let (mut t, mut peer) = pair();
        peer.write(b"{\"foo\":1}\n").await;
        peer.write(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":5}\n")
            .await;
        peer.write(b"[1,2]\n").await;
        peer.write(&ping(9)).await;
        assert_eq!(next(&mut t).await["id"], 9);
        for _ in 0..2 {
            let r = peer.read_reply().await;
            assert_eq!(r["id"], Value::Null, "{r}");
            assert_eq!(r["error"]["code"], -32600, "{r}");
        }
        // The bad notification got no answer: what comes next is our own message.
        let out: TxJsonRpcMessage<RoleServer> =
            serde_json::from_value(json!({"jsonrpc":"2.0","id":9,"result":{}})).unwrap();
        t.send(out).await.unwrap();
        assert_eq!(peer.read_reply().await["id"], 9);
    }

    #[tokio::test]
    async fn an_oversize_request_is_answered_before_its_end_and_the_next_line_is_read() {
        let (mut t, mut peer) = pair();
        let line = big_put(LIMIT * 8, Some("\"big-1\""), true);
        let (head, tail) = line.split_at(LIMIT * 2);
        let receiving = tokio::spawn(async move {
            let m = next(&mut t).await;
            (t, m)
        });
        peer.write(head.as_bytes()).await;
        // The answer comes while the rest of the line is still unsent.
        let r = peer.read_reply().await;
        assert_eq!(r["id"], "big-1");
        assert_eq!(r["error"]["code"], -32600);
        assert_eq!(r["error"]["data"]["code"], "TOO_LARGE");
        assert_eq!(r["error"]["data"]["limit"], LIMIT);
        assert_eq!(r["error"]["data"]["max_inline_bytes"], 1000);
        let message = r["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("TOO_LARGE: the request is "),
            "{message}"
        );
        peer.write(tail.as_bytes()).await;
        peer.write(&ping(2)).await;
        let (_t, m) = patient(receiving).await.unwrap();
        assert_eq!(m["id"], 2);
        assert_eq!(m["method"], "ping");
    }

    #[tokio::test]
    async fn an_oversize_request_with_its_id_last_is_answered_at_its_end() {
        let (mut t, mut peer) = pair();
        let line = big_put(LIMIT * 3, Some("41"), false);
        let line_len = line.len();
        let writer = tokio::spawn(async move {
            peer.write(line.as_bytes()).await;
            peer.write(&ping(42)).await;
            peer
        });
        assert_eq!(next(&mut t).await["id"], 42);
        let mut peer = patient(writer).await.unwrap();
        let r = peer.read_reply().await;
        assert_eq!(r["id"], 41);
        assert_eq!(r["error"]["data"]["code"], "TOO_LARGE");
        let message = r["error"]["message"].as_str().unwrap();
        let exact = format!("the request is {} bytes", line_len - 1);
        assert!(message.contains(&exact), "{message}");
    }

    #[tokio::test]
    async fn an_oversize_notification_is_not_answered() {
        let (mut t, mut peer) = pair();
        let line = big_put(LIMIT * 3, None, true);
        let writer = tokio::spawn(async move {
            peer.write(line.as_bytes()).await;
            peer.write(&ping(5)).await;
            peer
        });
        assert_eq!(next(&mut t).await["id"], 5);
        let mut peer = patient(writer).await.unwrap();
        let out: TxJsonRpcMessage<RoleServer> =
            serde_json::from_value(json!({"jsonrpc":"2.0","id":5,"result":{}})).unwrap();
        t.send(out).await.unwrap();
        let r = peer.read_reply().await;
        assert_eq!(r["id"], 5);
        assert!(r.get("error").is_none(), "{r}");
    }

    #[tokio::test]
    async fn an_oversize_line_cut_short_by_the_end_of_input_is_answered() {
        let (mut t, mut peer) = pair();
        let line = big_put(LIMIT * 2, Some("3"), true);
        peer.write(line.trim_end().as_bytes()).await;
        peer.to_server.shutdown().await.unwrap();
        assert!(patient(t.receive()).await.is_none());
        let r = peer.read_reply().await;
        assert_eq!(r["id"], 3);
        assert_eq!(r["error"]["data"]["code"], "TOO_LARGE");
    }

    #[tokio::test]
    async fn a_line_at_the_limit_is_still_a_message() {
        let (mut t, mut peer) = pair();
        let head =
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"_meta\":{\"x\":\"";
        let tail = "\"}}}";
        let pad = "y".repeat(LIMIT - head.len() - tail.len());
        let line = format!("{head}{pad}{tail}\n");
        assert_eq!(line.len() - 1, LIMIT);
        peer.write(line.as_bytes()).await;
        assert_eq!(next(&mut t).await["id"], 1);
        // One byte more (here the CR of a CRLF ending) is above it.
        peer.write(line.replace("\"id\":1", "\"id\":2").replace('\n', "\r\n"))
            .await;
        peer.write(ping(3)).await;
        assert_eq!(next(&mut t).await["id"], 3);
        let r = peer.read_reply().await;
        assert_eq!(r["id"], 2);
        assert_eq!(r["error"]["data"]["code"], "TOO_LARGE");
    }

    /// A partly read line survives a dropped `receive` (rmcp's loop drops it in a `select!`).
    #[tokio::test]
    async fn a_dropped_receive_keeps_the_partial_line() {
        let (mut t, mut peer) = pair();
        let line = ping(77);
        let (a, b) = line.split_at(10);
        peer.write(a.as_bytes()).await;
        for _ in 0..3 {
            tokio::select! {
                biased;
                m = t.receive() => panic!("no whole line yet: {:?}", m.is_some()),
                _ = tokio::task::yield_now() => {}
            }
        }
        peer.write(b.as_bytes()).await;
        assert_eq!(next(&mut t).await["id"], 77);
    }

    /// Concurrent senders never interleave: every line out is one whole message.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_sends_stay_whole() {
        let (mut t, peer) = pair();
        let mut reader = peer.from_server;
        let mut sends = Vec::new();
        for i in 0..16u64 {
            let big = "z".repeat(200_000 + i as usize);
            let out: TxJsonRpcMessage<RoleServer> = serde_json::from_value(json!({
                "jsonrpc": "2.0", "id": i, "result": {"_meta": {"pad": big}}
            }))
            .unwrap();
            sends.push(tokio::spawn(t.send(out)));
        }
        let reading = tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..16 {
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                let v: Value = serde_json::from_str(&line).unwrap();
                let i = v["id"].as_u64().unwrap();
                assert_eq!(
                    v["result"]["_meta"]["pad"].as_str().unwrap().len(),
                    200_000 + i as usize
                );
                ids.push(i);
            }
            ids
        });
        for s in sends {
            patient(s).await.unwrap().unwrap();
        }
        let mut ids = patient(reading).await.unwrap();
        ids.sort_unstable();
        assert_eq!(ids, (0..16).collect::<Vec<_>>());
    }
}
