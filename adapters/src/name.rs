//! Storage names: the only keys an adapter ever sees.
//!
//! The service derives opaque names (keyed hashes of object keys), so adapters accept a
//! deliberately narrow alphabet that every backend stores identically: ASCII letters, digits,
//! `-`, `_` and `.` in `/`-separated segments, no empty, `.` or `..` segment.

use std::fmt;

/// Longest storage name accepted, in bytes (S3's key limit).
pub const MAX_NAME_LEN: usize = 1024;

/// A validated storage name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageName(String, object_store::path::Path);

impl StorageName {
    /// Validates `s` as a storage name.
    pub fn parse(s: &str) -> Result<Self, crate::AdapterError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME_LEN
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if !ok {
            return Err(crate::AdapterError::InvalidName);
        }
        let path =
            object_store::path::Path::parse(s).map_err(|_| crate::AdapterError::InvalidName)?;
        Ok(Self(s.to_owned(), path))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A child of this name (`self/segment`); `segment` is validated.
    pub fn join(&self, segment: &str) -> Result<Self, crate::AdapterError> {
        Self::parse(&format!("{}/{segment}", self.0))
    }

    pub(crate) fn path(&self) -> &object_store::path::Path {
        &self.1
    }
}

impl fmt::Debug for StorageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageName({})", self.0)
    }
}

impl fmt::Display for StorageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_opaque_names() {
        for ok in ["a", "t/0123abcd/o/ff00", "a.b-c_d/e"] {
            assert!(StorageName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "a b", "a#b", "a\0b", "é",
            "a\\b", "a\nb", &long,
        ] {
            assert!(StorageName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
