//! The inline payload limit must fit the stdio line limit: a `put` the server accepts inline
//! has to be readable as one line, or the stdio transport could only refuse it as too large.

use super::defaults::{STDIO_ENVELOPE_BYTES, STDIO_MAX_LINE_BYTES};
use super::error::StartupError;
use crate::config::ConfigFile;
use crate::service::DEFAULT_MAX_INLINE_BYTES;

/// Length of `n` bytes as padded base64 (`None` past `u64`).
fn base64_len(n: u64) -> Option<u64> {
    n.div_ceil(3).checked_mul(4)
}

/// The largest inline limit whose base64 form plus the envelope fits a stdio line.
pub fn largest_stdio_inline_bytes() -> u64 {
    (STDIO_MAX_LINE_BYTES.saturating_sub(STDIO_ENVELOPE_BYTES) / 4 * 3) as u64
}

/// Refuses a configuration whose `[server] max_inline_bytes` (or its default) does not fit
/// the stdio line limit; called before stdio is served.
pub fn check_stdio_inline_limit(config: &ConfigFile) -> Result<(), StartupError> {
    let configured = config
        .server
        .max_inline_bytes
        .unwrap_or(DEFAULT_MAX_INLINE_BYTES);
    let base64_bytes = base64_len(configured).unwrap_or(u64::MAX);
    let room = (STDIO_MAX_LINE_BYTES - STDIO_ENVELOPE_BYTES) as u64;
    if base64_bytes <= room {
        return Ok(());
    }
    Err(StartupError::InlineLimitTooLarge {
        configured,
        base64_bytes,
        envelope_bytes: STDIO_ENVELOPE_BYTES,
        line_limit: STDIO_MAX_LINE_BYTES,
        largest: largest_stdio_inline_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_inline(n: Option<u64>) -> ConfigFile {
        let mut c = ConfigFile::default();
        c.server.max_inline_bytes = n;
        c
    }

    #[test]
    fn the_default_and_the_largest_fit_one_byte_more_does_not() {
        assert!(check_stdio_inline_limit(&with_inline(None)).is_ok());
        let largest = largest_stdio_inline_bytes();
        assert!(largest >= DEFAULT_MAX_INLINE_BYTES);
        assert!(check_stdio_inline_limit(&with_inline(Some(largest))).is_ok());
        assert!(
            base64_len(largest).unwrap() + STDIO_ENVELOPE_BYTES as u64
                <= STDIO_MAX_LINE_BYTES as u64
        );
        let e = check_stdio_inline_limit(&with_inline(Some(largest + 1))).unwrap_err();
        assert!(matches!(e, StartupError::InlineLimitTooLarge { .. }), "{e}");
        assert_eq!(e.residency_code(), None);
        let text = e.to_string();
        assert!(text.contains("max_inline_bytes = 12533761"), "{text}");
        assert!(text.contains(&format!("at most {largest}")), "{text}");
        assert!(
            text.contains("stdio line limit of 16777216 bytes"),
            "{text}"
        );
    }

    #[test]
    fn huge_values_are_refused_without_overflow() {
        for n in [32 << 20, u64::MAX / 2, u64::MAX] {
            assert!(
                check_stdio_inline_limit(&with_inline(Some(n))).is_err(),
                "{n}"
            );
        }
        assert_eq!(base64_len(u64::MAX), None);
        assert_eq!(base64_len(0), Some(0));
        assert_eq!(base64_len(1), Some(4));
        assert_eq!(base64_len(3), Some(4));
        assert_eq!(base64_len(4), Some(8));
    }
}
