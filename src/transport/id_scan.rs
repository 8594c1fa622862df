//! Finds the `id` of a JSON-RPC message that is too large to parse, without buffering it.
//!
//! A request above a transport's limit still deserves an answer for its id, but the only way
//! to get the id from serde would be to hold the whole message. [`IdScan`] instead follows the
//! top level of a JSON object byte by byte, in any number of pieces: it tracks strings (with
//! their escapes) and nesting so that an `"id"` inside a string or inside `params` is not
//! taken for the message's own, keeps the bytes of the top-level `id` value only (bounded),
//! and notes whether `method`, `result` or `error` members were seen. Everything else passes
//! through unstored. It is tolerant rather than a validator: on malformed input it stops and
//! reports what it saw so far.

use serde_json::Value;

/// Longest `id` value kept (its JSON text); a longer one is treated as no usable id.
const MAX_ID_BYTES: usize = 1024;
/// Longest top-level member name kept: enough for the names that matter here.
const MAX_KEY_BYTES: usize = 8;

/// Where the scan is in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `{` (whitespace and a UTF-8 byte-order mark are skipped).
    Start,
    /// After `{` or `,`: a member name or `}` comes next.
    BeforeKey,
    /// Inside a member name.
    Key,
    /// After a backslash in a member name.
    KeyEscape,
    /// After a member name: `:` comes next.
    BeforeColon,
    /// After `:`.
    BeforeValue,
    /// Inside a top-level string value.
    Str,
    /// After a backslash in a top-level string value.
    StrEscape,
    /// Inside a top-level number or literal.
    Scalar,
    /// Inside an object or array value (`depth` levels down).
    Nested,
    /// Inside a string within a nested value.
    NestedStr,
    /// After a backslash in a string within a nested value.
    NestedStrEscape,
    /// After a member value: `,` or `}` comes next.
    AfterValue,
    /// The top-level object ended, or the input is not one: nothing more is read.
    Done,
}

/// Which top-level member the current value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Id,
    Other,
}

/// What an oversize message is, as far as its answer is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageKind {
    /// A request (or something that may be one): answer it with this id (`null` when the
    /// message had no usable id).
    Request(Value),
    /// A notification (a `method` and no `id`): JSON-RPC forbids answering it.
    Notification,
    /// A response to one of our requests (`result` or `error`, no `method`): not answered.
    Response,
}

/// A streaming scan of one JSON-RPC message's top-level members; see the module docs.
#[derive(Debug)]
pub struct IdScan {
    state: State,
    depth: u32,
    key: Vec<u8>,
    key_too_long: bool,
    member: Member,
    id_raw: Vec<u8>,
    id_too_long: bool,
    /// `Some` once the first top-level `id` member was read: its value when it is a string or
    /// a number, `Null` otherwise.
    id: Option<Value>,
    has_method: bool,
    has_result: bool,
}

impl Default for IdScan {
    fn default() -> Self {
        Self::new()
    }
}

impl IdScan {
    /// A scan at the start of a message.
    pub fn new() -> Self {
        IdScan {
            state: State::Start,
            depth: 0,
            key: Vec::with_capacity(MAX_KEY_BYTES),
            key_too_long: false,
            member: Member::Other,
            id_raw: Vec::new(),
            id_too_long: false,
            id: None,
            has_method: false,
            has_result: false,
        }
    }

    /// Reads the next piece of the message.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Done => return,
                // The bulk of a large message is string content (base64, text): jump to the
                // next byte that can end or escape it.
                State::NestedStr => match find_quote_or_backslash(&bytes[i..]) {
                    Some(p) => i += p,
                    None => return,
                },
                State::Str if self.member != Member::Id => {
                    match find_quote_or_backslash(&bytes[i..]) {
                        Some(p) => i += p,
                        None => return,
                    }
                }
                _ => {}
            }
            self.step(bytes[i]);
            i += 1;
        }
    }

    /// The message's id: the value of its top-level `id` member when that is a string or a
    /// number and has been read.
    pub fn id(&self) -> Option<&Value> {
        self.id.as_ref().filter(|v| !v.is_null())
    }

    /// What the message is, judged from what was read. With `complete` false (more of it may
    /// follow) the answer is `None` until an `id` member was read, since a later member could
    /// still make it a request; with `complete` true it is always decided.
    pub fn kind(&self, complete: bool) -> Option<MessageKind> {
        match &self.id {
            Some(_) if self.has_result && !self.has_method => Some(MessageKind::Response),
            Some(id) => Some(MessageKind::Request(id.clone())),
            None if !complete => None,
            None if self.has_method => Some(MessageKind::Notification),
            None if self.has_result => Some(MessageKind::Response),
            None => Some(MessageKind::Request(Value::Null)),
        }
    }

    fn step(&mut self, b: u8) {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        self.state = match self.state {
            State::Start if b == b'{' => State::BeforeKey,
            // Whitespace, or the bytes of a UTF-8 byte-order mark.
            State::Start if ws || matches!(b, 0xEF | 0xBB | 0xBF) => State::Start,
            State::Start => State::Done,
            State::BeforeKey => match b {
                b'"' => {
                    self.key.clear();
                    self.key_too_long = false;
                    State::Key
                }
                _ if ws => State::BeforeKey,
                _ => State::Done,
            },
            State::Key => match b {
                b'"' => State::BeforeColon,
                b'\\' => {
                    self.push_key(b);
                    State::KeyEscape
                }
                _ => {
                    self.push_key(b);
                    State::Key
                }
            },
            State::KeyEscape => {
                self.push_key(b);
                State::Key
            }
            State::BeforeColon => match b {
                b':' => {
                    self.member = self.classify_key();
                    State::BeforeValue
                }
                _ if ws => State::BeforeColon,
                _ => State::Done,
            },
            State::BeforeValue => match b {
                _ if ws => State::BeforeValue,
                b'"' => {
                    self.start_value(b);
                    State::Str
                }
                b'{' | b'[' => {
                    // An object or array is no valid id.
                    if self.member == Member::Id {
                        self.id_too_long = true;
                        self.end_value();
                    }
                    self.depth = 1;
                    State::Nested
                }
                _ => {
                    self.start_value(b);
                    State::Scalar
                }
            },
            State::Str => match b {
                b'"' => {
                    self.capture(b);
                    self.end_value();
                    State::AfterValue
                }
                b'\\' => {
                    self.capture(b);
                    State::StrEscape
                }
                _ => {
                    self.capture(b);
                    State::Str
                }
            },
            State::StrEscape => {
                self.capture(b);
                State::Str
            }
            State::Scalar => match b {
                b',' => {
                    self.end_value();
                    State::BeforeKey
                }
                b'}' => {
                    self.end_value();
                    State::Done
                }
                _ if ws => {
                    self.end_value();
                    State::AfterValue
                }
                _ => {
                    self.capture(b);
                    State::Scalar
                }
            },
            State::Nested => match b {
                b'"' => State::NestedStr,
                b'{' | b'[' => {
                    self.depth = self.depth.saturating_add(1);
                    State::Nested
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        State::AfterValue
                    } else {
                        State::Nested
                    }
                }
                _ => State::Nested,
            },
            State::NestedStr => match b {
                b'"' => State::Nested,
                b'\\' => State::NestedStrEscape,
                _ => State::NestedStr,
            },
            State::NestedStrEscape => State::NestedStr,
            State::AfterValue => match b {
                b',' => State::BeforeKey,
                _ if ws => State::AfterValue,
                _ => State::Done,
            },
            State::Done => State::Done,
        };
    }

    fn push_key(&mut self, b: u8) {
        if self.key.len() < MAX_KEY_BYTES {
            self.key.push(b);
        } else {
            self.key_too_long = true;
        }
    }

    fn classify_key(&mut self) -> Member {
        if self.key_too_long {
            return Member::Other;
        }
        match self.key.as_slice() {
            // Only the first `id` member counts.
            b"id" if self.id.is_none() => return Member::Id,
            b"method" => self.has_method = true,
            b"result" | b"error" => self.has_result = true,
            _ => {}
        }
        Member::Other
    }

    fn start_value(&mut self, b: u8) {
        if self.member == Member::Id {
            self.id_raw.clear();
            self.id_too_long = false;
        }
        self.capture(b);
    }

    fn capture(&mut self, b: u8) {
        if self.member != Member::Id {
            return;
        }
        if self.id_raw.len() < MAX_ID_BYTES {
            self.id_raw.push(b);
        } else {
            self.id_too_long = true;
        }
    }

    fn end_value(&mut self) {
        if self.member != Member::Id {
            return;
        }
        self.member = Member::Other;
        let value = if self.id_too_long {
            Value::Null
        } else {
            serde_json::from_slice::<Value>(&self.id_raw)
                .ok()
                .filter(|v| v.is_string() || v.is_number())
                .unwrap_or(Value::Null)
        };
        self.id = Some(value);
        self.id_raw = Vec::new();
    }
}

fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scan(text: &str) -> IdScan {
        let mut s = IdScan::new();
        s.feed(text.as_bytes());
        s
    }

    /// The same text fed one byte at a time (pieces split anywhere, escapes included).
    fn scan_bytewise(text: &str) -> IdScan {
        let mut s = IdScan::new();
        for b in text.as_bytes() {
            s.feed(std::slice::from_ref(b));
        }
        s
    }

    fn id_of(text: &str) -> Option<Value> {
        let whole = scan(text).id().cloned();
        assert_eq!(whole, scan_bytewise(text).id().cloned(), "{text}");
        whole
    }

    #[test]
    fn number_and_string_ids() {
        assert_eq!(
            id_of(r#"{"jsonrpc":"2.0","id":42,"method":"ping"}"#),
            Some(json!(42))
        );
        assert_eq!(
            id_of(r#"{"id" : -7.5 , "method":"ping"}"#),
            Some(json!(-7.5))
        );
        assert_eq!(id_of(r#"{"id":12}"#), Some(json!(12)));
        assert_eq!(
            id_of(r#" {"jsonrpc":"2.0","id":"req-1","method":"ping"}"#),
            Some(json!("req-1"))
        );
        assert_eq!(
            id_of("\u{feff}{\"id\":\"bom\",\"method\":\"ping\"}"),
            Some(json!("bom"))
        );
    }

    #[test]
    fn escaped_quotes_in_a_string_id() {
        assert_eq!(
            id_of(r#"{"id":"a\"b\\","method":"ping"}"#),
            Some(json!("a\"b\\"))
        );
        assert_eq!(id_of(r#"{"id":"\u0041","method":"x"}"#), Some(json!("A")));
    }

    #[test]
    fn id_after_params() {
        let big = "QUJD".repeat(50_000);
        let text = format!(
            r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"name":"put","arguments":{{"key":"k","base64":"{big}","list":[1,{{"id":3}}]}}}},"id":99}}"#
        );
        assert_eq!(id_of(&text), Some(json!(99)));
        let s = scan(&text);
        assert_eq!(s.kind(true), Some(MessageKind::Request(json!(99))));
    }

    #[test]
    fn id_inside_a_string_value_before_the_real_id() {
        let text = r#"{"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"text":"{\"id\": 1, \"x\": \"\\\"id\\\":2\"}"}},"note":"\"id\":3","id":"real"}"#;
        assert!(serde_json::from_str::<Value>(text).is_ok());
        assert_eq!(id_of(text), Some(json!("real")));
        // A key that merely contains `id`, or an escaped form of it, is not the id.
        assert_eq!(id_of(r#"{"idx":1,"xid":2,"id":3}"#), Some(json!(3)));
    }

    #[test]
    fn no_id() {
        let s = scan(r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"id":5}}"#);
        assert_eq!(s.id(), None);
        assert_eq!(s.kind(false), None);
        assert_eq!(s.kind(true), Some(MessageKind::Notification));
        for text in ["", "not json", "[1,2]", r#""id""#, r#"{"foo":"id"}"#] {
            let s = scan(text);
            assert_eq!(s.id(), None, "{text}");
            assert_eq!(
                s.kind(true),
                Some(MessageKind::Request(Value::Null)),
                "{text}"
            );
        }
    }

    #[test]
    fn ids_that_are_not_strings_or_numbers_are_null() {
        for text in [
            r#"{"id":null,"method":"ping"}"#,
            r#"{"id":true,"method":"ping"}"#,
            r#"{"id":{"a":1},"method":"ping"}"#,
            r#"{"id":[1],"method":"ping"}"#,
        ] {
            let s = scan(text);
            assert_eq!(s.id(), None, "{text}");
            assert_eq!(
                s.kind(false),
                Some(MessageKind::Request(Value::Null)),
                "{text}"
            );
        }
        let long = format!(r#"{{"id":"{}","method":"ping"}}"#, "x".repeat(MAX_ID_BYTES));
        assert_eq!(scan(&long).id(), None);
        // Only the first id counts.
        assert_eq!(id_of(r#"{"id":1,"id":2}"#), Some(json!(1)));
    }

    #[test]
    fn responses_are_told_apart() {
        let s = scan(r#"{"jsonrpc":"2.0","id":4,"result":{"content":[]}}"#);
        assert_eq!(s.kind(true), Some(MessageKind::Response));
        let s = scan(r#"{"jsonrpc":"2.0","id":4,"error":{"code":1}}"#);
        assert_eq!(s.kind(true), Some(MessageKind::Response));
    }

    #[test]
    fn a_partial_message_is_decided_once_its_id_was_read() {
        let mut s = IdScan::new();
        s.feed(br#"{"jsonrpc":"2.0","id":"#);
        assert_eq!(s.kind(false), None);
        s.feed(br#"17,"method":"tools/call","params":{"arguments":{"base64":"AAAA"#);
        assert_eq!(s.kind(false), Some(MessageKind::Request(json!(17))));
    }
}
