//! Object keys: validated once, here, for every tool and every store.
//!
//! Keys never reach a backend (stores see keyed hashes), so the rules exist for the callers'
//! sake: unambiguous folder semantics, nothing that renders deceptively, nothing that a log
//! or a terminal could misread.

use super::error::{ErrorCode, ServiceError};

/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// A validated object key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates a key: 1..=1024 bytes, `/`-separated non-empty segments, no `.` or `..`
    /// segment, no leading or trailing `/`, no control, format or bidi-override characters,
    /// no backslash.
    pub fn parse(key: &str) -> Result<Self, ServiceError> {
        check_path(key, false)?;
        Ok(Self(key.to_owned()))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validates a folder prefix (`a`, `a/b`, `a/b/`); returns it normalised without the
/// trailing `/`. The empty prefix means the whole namespace.
pub fn parse_prefix(prefix: Option<&str>) -> Result<Option<String>, ServiceError> {
    match prefix {
        None | Some("") => Ok(None),
        Some(p) => {
            let trimmed = p.strip_suffix('/').unwrap_or(p);
            check_path(trimmed, true)?;
            Ok(Some(trimmed.to_owned()))
        }
    }
}

fn check_path(key: &str, is_prefix: bool) -> Result<(), ServiceError> {
    let what = if is_prefix { "prefix" } else { "key" };
    let fail = |why: &str| {
        Err(ServiceError::new(
            if is_prefix {
                ErrorCode::InvalidArgument
            } else {
                ErrorCode::InvalidKey
            },
            format!("invalid {what}: {why}"),
        ))
    };
    if key.is_empty() {
        return fail("must not be empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return fail("longer than 1024 bytes");
    }
    if let Some(c) = key.chars().find(|c| forbidden_char(*c)) {
        return fail(&format!(
            "contains a forbidden character (U+{:04X})",
            c as u32
        ));
    }
    if key.starts_with('/') {
        return fail("must not start with '/'");
    }
    for segment in key.split('/') {
        match segment {
            "" => return fail("empty path segment ('//' or trailing '/')"),
            "." | ".." => return fail("'.' and '..' segments are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

fn forbidden_char(c: char) -> bool {
    c.is_control()
        || c == '\\'
        // Bidi embeddings/overrides/isolates and marks that make a key render differently.
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || c == '\u{FEFF}'
        // Noncharacters and private-use code points have no business in a name.
        || matches!(c, '\u{FDD0}'..='\u{FDEF}' | '\u{E000}'..='\u{F8FF}')
        || (c as u32) & 0xFFFE == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_keys() {
        for k in [
            "a",
            "docs/report.pdf",
            "ünïcode/名前.txt",
            "a#b?c*d",
            "x/y/z.tar.gz",
            "with space",
        ] {
            assert!(ObjectKey::parse(k).is_ok(), "{k}");
        }
        assert!(ObjectKey::parse(&"k".repeat(1024)).is_ok());
    }

    #[test]
    fn bad_keys() {
        let long = "k".repeat(1025);
        for k in [
            "",
            "/a",
            "a/",
            "a//b",
            ".",
            "..",
            "a/../b",
            "./a",
            "a/.",
            "a\0b",
            "a\nb",
            "a\rb",
            "a\u{7f}",
            "a\u{85}",
            "a\\b",
            "a\u{202E}gpj.exe",
            "\u{FEFF}a",
            "a\u{FFFF}",
            long.as_str(),
        ] {
            let e = ObjectKey::parse(k).expect_err(k);
            assert_eq!(e.code, ErrorCode::InvalidKey, "{k:?}");
        }
    }

    #[test]
    fn prefixes_are_folders() {
        assert_eq!(parse_prefix(Some("a/")).unwrap().as_deref(), Some("a"));
        assert_eq!(parse_prefix(Some("a/b")).unwrap().as_deref(), Some("a/b"));
        assert_eq!(parse_prefix(Some("")).unwrap(), None);
        assert!(parse_prefix(Some("a//")).is_err());
        assert!(parse_prefix(Some("/")).is_err());
        assert!(parse_prefix(Some("../")).is_err());
    }
}
