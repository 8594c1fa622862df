//! The answer to a request too large for the transport to read, the same on every wire: a
//! JSON-RPC error `-32600` whose message starts with `TOO_LARGE:` and says what to do instead,
//! and whose `data` carries the stable code, the limit that was crossed and the ways around it.

use serde_json::{Value, json};

/// JSON-RPC "Invalid Request": the request could not be taken in as sent.
pub const INVALID_REQUEST: i64 = -32600;

/// The stable code clients match on.
pub const CODE: &str = "TOO_LARGE";

/// Ways to move a payload that does not fit one message, as named in the tools: a `get`
/// `range`, a `put {key, path}` / `get {key, save_to}` within a files root, a `transfer` link.
pub const ALTERNATIVES: [&str; 4] = ["range", "path", "save_to", "transfer"];

/// Which transport refused the request (the message names its limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// One line of stdin.
    Stdio,
    /// One HTTP request body.
    Http,
}

/// A request that crossed a transport limit.
#[derive(Debug, Clone, Copy)]
pub struct TooLarge {
    /// Which transport.
    pub wire: Wire,
    /// Bytes of the request seen so far (the request has at least this many).
    pub seen: usize,
    /// Whether `seen` is the whole request.
    pub complete: bool,
    /// The limit it crossed, in bytes.
    pub limit: usize,
    /// The server's inline payload limit (`[server] max_inline_bytes`).
    pub max_inline_bytes: u64,
}

impl TooLarge {
    /// The `data` member of the error: `{code, limit, max_inline_bytes, alternatives}`.
    pub fn data(&self) -> Value {
        json!({
            "code": CODE,
            "limit": self.limit,
            "max_inline_bytes": self.max_inline_bytes,
            "alternatives": ALTERNATIVES,
        })
    }

    /// The error's message: what was refused and what to do instead.
    pub fn message(&self) -> String {
        let size = if self.complete {
            format!("{} bytes", self.seen)
        } else {
            format!("{}+ bytes", self.seen)
        };
        let (what, wire, instead) = match self.wire {
            Wire::Stdio => (
                "request",
                "stdio",
                "store a large file with `put {key, path}` from a files root, or upload it \
                 through a `transfer` link over HTTP; read a large object with `get` and a \
                 `range`, or `get {key, save_to}`",
            ),
            Wire::Http => (
                "request body",
                "HTTP",
                "upload a large file through a `transfer` link (method PUT) and download it \
                 through one (method GET), read a large object with `get` and a `range`, or, \
                 for files on the server's disk, use `put {key, path}` / `get {key, save_to}` \
                 within a files root",
            ),
        };
        format!(
            "{CODE}: the {what} is {size}, above the {wire} limit of {limit} bytes; inline \
             payloads are limited to {max} bytes (before base64): {instead}",
            limit = self.limit,
            max = self.max_inline_bytes,
        )
    }

    /// The whole JSON-RPC error response for `id`.
    pub fn response(&self, id: Value) -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": INVALID_REQUEST,
                "message": self.message(),
                "data": self.data(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_names_the_code_the_limits_and_the_ways_out() {
        let t = TooLarge {
            wire: Wire::Stdio,
            seen: 17_000_000,
            complete: false,
            limit: 16 << 20,
            max_inline_bytes: 8 << 20,
        };
        let r = t.response(json!(5));
        assert_eq!(r["jsonrpc"], "2.0");
        assert_eq!(r["id"], 5);
        assert_eq!(r["error"]["code"], -32600);
        assert_eq!(r["error"]["data"]["code"], "TOO_LARGE");
        assert_eq!(r["error"]["data"]["limit"], 16 << 20);
        assert_eq!(r["error"]["data"]["max_inline_bytes"], 8 << 20);
        assert_eq!(
            r["error"]["data"]["alternatives"],
            json!(["range", "path", "save_to", "transfer"])
        );
        let m = r["error"]["message"].as_str().unwrap();
        assert!(
            m.starts_with("TOO_LARGE: the request is 17000000+ bytes"),
            "{m}"
        );
        assert!(m.contains("stdio limit of 16777216 bytes"), "{m}");
        for hint in ["put {key, path}", "transfer", "range", "save_to"] {
            assert!(m.contains(hint), "{hint}: {m}");
        }
        let http = TooLarge {
            wire: Wire::Http,
            complete: true,
            ..t
        };
        let m = http.message();
        assert!(
            m.starts_with("TOO_LARGE: the request body is 17000000 bytes"),
            "{m}"
        );
        assert!(m.contains("HTTP limit"), "{m}");
    }
}
