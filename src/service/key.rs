//! Object keys: validated once, here, for every tool and every store.
//!
//! Keys never reach a backend (stores see keyed hashes), so the rules exist for the callers'
//! sake: unambiguous folder semantics, one spelling per name, nothing that renders invisibly or
//! deceptively, nothing that a log or a terminal could misread.
//!
//! # The rule
//! A key is 1..=1024 bytes of UTF-8, `/`-separated, and
//! - is in Unicode Normalization Form C (NFC). Keys that are not are **refused, not
//!   normalised**: `é` written as `e` + U+0301 would otherwise be a second object that looks
//!   exactly like the first. Refusing loses nothing (the caller re-sends the NFC spelling) and
//!   keeps a key byte-for-byte what the caller wrote;
//! - contains no character of general category Cc (controls), Cf (format: soft hyphen U+00AD,
//!   U+061C, U+200B..U+200F, U+202A..U+202E, U+2060..U+2064, U+2066..U+2069, U+FEFF, tags ...),
//!   Zl / Zp (U+2028, U+2029), Co (private use), Cs, or Cn (unassigned in Unicode 16.0,
//!   noncharacters included);
//! - contains no space other than U+0020 (no U+00A0, U+2000..U+200A, U+3000, ...: they look
//!   like U+0020 but name another object);
//! - contains none of the blank or invisible letters and marks listed in [`FILLERS`] (Hangul
//!   fillers, the braille blank, variation selectors, the combining grapheme joiner, ...);
//! - contains no backslash;
//! - has no empty, `.` or `..` segment (so no leading, trailing or doubled `/`);
//! - has no segment that starts or ends with a space (so no whitespace-only segment) or starts
//!   with a combining mark (general category M), which would attach to the `/` or to nothing.
//!
//! Folder prefixes for `list` and `search` ([`parse_prefix`]) follow the same rule.

use unicode_general_category::{GeneralCategory, get_general_category};

use super::error::{ErrorCode, ServiceError};

/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// Code points refused although their general category is a letter, mark or symbol: they
/// render as nothing or as blank space, so two keys differing only in them look identical.
pub const FILLERS: &[(char, char)] = &[
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{115F}', '\u{1160}'),   // Hangul choseong / jungseong fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels (invisible)
    ('\u{180B}', '\u{180F}'),   // Mongolian free variation selectors (U+180E is Cf)
    ('\u{2800}', '\u{2800}'),   // braille pattern blank
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{E0100}', '\u{E01EF}'), // variation selectors supplement
];

/// A validated object key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates a key against the rule in the module documentation: 1..=1024 bytes, NFC,
    /// `/`-separated non-empty segments, no `.` or `..` segment, no segment starting or ending
    /// with a space or starting with a combining mark; no control, format, separator,
    /// private-use or unassigned character, no space but U+0020, no filler, no backslash.
    /// Every refusal is `INVALID_KEY` naming the rule (never the key).
    pub fn parse(key: &str) -> Result<Self, ServiceError> {
        check_path(key, false)?;
        Ok(Self(key.to_owned()))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validates a folder prefix (`a`, `a/b`, `a/b/`) by the key rule; returns it without the
/// trailing `/`. The empty prefix means the whole namespace. Refusals are `INVALID_ARGUMENT`.
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
    if let Some((c, why)) = key.chars().find_map(|c| forbidden_char(c).map(|w| (c, w))) {
        return fail(&format!(
            "contains a forbidden character (U+{:04X}, {why})",
            c as u32
        ));
    }
    // After the character check, so this only ever sees assigned code points, whose NFC form
    // is stable across Unicode versions.
    if !unicode_normalization::is_nfc(key) {
        return fail(
            "not in Unicode normalization form C (NFC); send the composed spelling, \
             e.g. U+00E9 rather than U+0065 U+0301",
        );
    }
    if key.starts_with('/') {
        return fail("must not start with '/'");
    }
    for segment in key.split('/') {
        match segment {
            "" => return fail("empty path segment ('//' or trailing '/')"),
            "." | ".." => return fail("'.' and '..' segments are not allowed"),
            s if s.starts_with(' ') || s.ends_with(' ') => {
                return fail("a path segment must not start or end with a space");
            }
            s if s.chars().next().is_some_and(is_mark) => {
                return fail("a path segment must not start with a combining mark");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why `c` may not appear in a key, if it may not.
fn forbidden_char(c: char) -> Option<&'static str> {
    use GeneralCategory as G;
    if c == '\\' {
        return Some("backslash");
    }
    if FILLERS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) {
        return Some("invisible filler");
    }
    match get_general_category(c) {
        G::Control => Some("control character"),
        G::Format => Some("invisible format or bidi character"),
        G::LineSeparator | G::ParagraphSeparator => Some("line or paragraph separator"),
        G::SpaceSeparator if c != ' ' => Some("space other than U+0020"),
        G::PrivateUse => Some("private-use character"),
        G::Surrogate | G::Unassigned => Some("unassigned code point or noncharacter"),
        _ => None,
    }
}

fn is_mark(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::NonspacingMark
            | GeneralCategory::SpacingMark
            | GeneralCategory::EnclosingMark
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_keys() {
        for k in [
            "a",
            "docs/report.pdf",
            "ünïcode/名前.txt",
            "a#b?c*d",
            "x/y/z.tar.gz",
            "with space",
            "café/résumé.md",
            "한국어/파일.txt",
            "emoji/🙂.png",
            "ελληνικά/αρχείο",
            "עברית/קובץ",
            "x/\u{00E8}",
            "a/\u{0915}\u{093F}",
        ] {
            assert!(ObjectKey::parse(k).is_ok(), "{k:?}");
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

    /// Every character the issue reported as accepted, alone, inside a name, and as a segment.
    #[test]
    fn invisible_format_and_bidi_characters_are_refused() {
        let mut chars: Vec<char> = vec![
            '\u{2060}',
            '\u{00AD}',
            '\u{061C}',
            '\u{FEFF}',
            '\u{2028}',
            '\u{2029}',
            '\u{3164}',
            '\u{115F}',
            '\u{1160}',
            '\u{FFA0}',
            '\u{2800}',
            '\u{034F}',
            '\u{180E}',
            '\u{FE0F}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E0100}',
            '\u{00A0}',
            '\u{2007}',
            '\u{3000}',
            '\u{1680}',
            '\u{202F}',
            '\u{205F}',
            '\u{F0000}',
            '\u{E000}',
            '\u{0378}',
            '\u{FDD0}',
            '\u{10FFFF}',
            '\t',
            '\u{1B}',
        ];
        chars.extend('\u{200B}'..='\u{200F}');
        chars.extend('\u{202A}'..='\u{202E}');
        chars.extend('\u{2061}'..='\u{2064}');
        chars.extend('\u{2066}'..='\u{2069}');
        for c in chars {
            for k in [
                c.to_string(),
                format!("ab{c}cd"),
                format!("a/{c}/b"),
                format!("docs/report{c}.pdf"),
            ] {
                let e = ObjectKey::parse(&k).expect_err(&format!("{:04X}", c as u32));
                assert_eq!(e.code, ErrorCode::InvalidKey);
                assert!(e.message.contains(&format!("U+{:04X}", c as u32)), "{e:?}");
                assert!(parse_prefix(Some(&k)).is_err(), "prefix {:04X}", c as u32);
            }
        }
    }

    #[test]
    fn whitespace_and_combining_marks_at_segment_edges_are_refused() {
        for k in [
            " ",
            "   ",
            "a/ /b",
            "a/  ",
            " a",
            "a ",
            "docs/report.pdf ",
            "docs /report.pdf",
            "\u{0301}",
            "\u{0301}a",
            "a/\u{0301}b",
            "a/\u{20DD}",
            "a/\u{0903}x",
        ] {
            let e = ObjectKey::parse(k).expect_err(k);
            assert_eq!(e.code, ErrorCode::InvalidKey, "{k:?}");
        }
        // A combining mark after a base character is ordinary text.
        assert!(ObjectKey::parse("a/\u{0915}\u{0903}").is_ok());
    }

    #[test]
    fn only_nfc_spellings_are_accepted() {
        let nfc = "caf\u{00E9}/r\u{00E9}sum\u{00E9}.md";
        let nfd = "cafe\u{0301}/re\u{0301}sume\u{0301}.md";
        assert!(ObjectKey::parse(nfc).is_ok());
        let e = ObjectKey::parse(nfd).expect_err("NFD refused");
        assert_eq!(e.code, ErrorCode::InvalidKey);
        assert!(e.message.contains("NFC"), "{}", e.message);
        assert!(!e.message.contains("caf"), "the key is not echoed");
        // Hangul: precomposed syllable vs conjoining jamo.
        assert!(ObjectKey::parse("\u{D55C}").is_ok());
        assert!(ObjectKey::parse("\u{1112}\u{1161}\u{11AB}").is_err());
        // Singletons that NFC replaces (Angstrom sign, Ohm sign).
        assert!(ObjectKey::parse("\u{212B}").is_err());
        assert!(ObjectKey::parse("\u{2126}").is_err());
        // Prefixes follow the same rule.
        assert!(parse_prefix(Some("cafe\u{0301}/")).is_err());
        assert_eq!(
            parse_prefix(Some("caf\u{00E9}/")).unwrap().as_deref(),
            Some("caf\u{00E9}")
        );
    }

    #[test]
    fn prefixes_are_folders() {
        assert_eq!(parse_prefix(Some("a/")).unwrap().as_deref(), Some("a"));
        assert_eq!(parse_prefix(Some("a/b")).unwrap().as_deref(), Some("a/b"));
        assert_eq!(parse_prefix(Some("")).unwrap(), None);
        assert!(parse_prefix(Some("a//")).is_err());
        assert!(parse_prefix(Some("/")).is_err());
        assert!(parse_prefix(Some("../")).is_err());
        assert!(parse_prefix(Some(" /")).is_err());
        let e = parse_prefix(Some("a\u{200B}/")).expect_err("ZWSP prefix");
        assert_eq!(e.code, ErrorCode::InvalidArgument);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever is accepted satisfies every clause of the rule, so no two accepted keys
        /// differ only in invisible characters or normalisation.
        #[test]
        fn accepted_keys_satisfy_the_rule(key in "\\PC{0,40}|[a-z/ .\u{0300}-\u{036F}\u{2000}-\u{206F}\u{3164}\u{FE00}-\u{FE0F}]{0,12}") {
            if ObjectKey::parse(&key).is_ok() {
                prop_assert!(unicode_normalization::is_nfc(&key));
                prop_assert!(key.chars().all(|c| forbidden_char(c).is_none()));
                for seg in key.split('/') {
                    prop_assert!(!seg.is_empty() && seg != "." && seg != "..");
                    prop_assert!(!seg.starts_with(' ') && !seg.ends_with(' '));
                    prop_assert!(!seg.chars().next().is_some_and(is_mark));
                }
                // A key is a valid prefix of itself, and of the same folder.
                prop_assert_eq!(parse_prefix(Some(&key)).unwrap(), Some(key.clone()));
            }
        }

        /// Of the NFC and NFD spellings of one name, at most one is accepted.
        #[test]
        fn one_spelling_per_name(key in "[a-zA-Z0-9éèüñçåøÅÉ한글/ ]{1,24}") {
            use unicode_normalization::UnicodeNormalization;
            let nfc: String = key.nfc().collect();
            let nfd: String = key.nfd().collect();
            if nfc != nfd {
                prop_assert!(ObjectKey::parse(&nfd).is_err());
            }
            if ObjectKey::parse(&key).is_ok() {
                prop_assert_eq!(&key, &nfc);
            }
        }

        /// Inserting any refused character anywhere in a good key makes it refused.
        #[test]
        fn an_inserted_invisible_character_is_always_refused(
            base in "[a-z]{1,8}(/[a-z]{1,8}){0,3}",
            at in 0usize..40,
            pick in 0usize..12,
        ) {
            let bad = ['\u{2060}', '\u{00AD}', '\u{061C}', '\u{200B}', '\u{200D}', '\u{202E}',
                '\u{2067}', '\u{FEFF}', '\u{2028}', '\u{3164}', '\u{00A0}', '\u{FE0F}'][pick];
            let mut idx = at.min(base.len());
            while !base.is_char_boundary(idx) { idx -= 1; }
            let mut key = base.clone();
            key.insert(idx, bad);
            prop_assert!(ObjectKey::parse(&key).is_err());
        }
    }
}
