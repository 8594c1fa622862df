//! The one parser of S3 `GetBucketLocation` answers, used by the S3 adapter and by the
//! residency guard alike.
//!
//! The answer decides whether a store may hold EEA data, so it is read strictly: one
//! `LocationConstraint` element, in no namespace or the S3 one, holding a plain region name or
//! nothing. Comments, processing instructions, DOCTYPE, CDATA, entity or character
//! references, prefixes, extra attributes or elements and anything before the first `<` are
//! refused rather than interpreted: an answer this parser does not fully understand is never
//! taken as evidence.

use quick_xml::events::{BytesDecl, BytesStart, Event};

/// Largest answer read, in bytes (a real one is under 200).
pub const MAX_LOCATION_ANSWER: usize = 4096;

/// The only namespace an S3 `LocationConstraint` element may carry.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The region S3 means by an empty `LocationConstraint`.
pub const EMPTY_LOCATION_REGION: &str = "us-east-1";

/// Why a `GetBucketLocation` answer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected bucket location answer: {0}")]
pub struct LocationParseError(&'static str);

impl LocationParseError {
    /// What was wrong with the answer.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

/// Whether `value` is a region name as a `LocationConstraint` may hold it: empty (which S3
/// reads as [`EMPTY_LOCATION_REGION`]), the legacy `EU`, or at most 64 lower-case ASCII letters,
/// digits, `-` and `_`. Whitespace, upper case and anything non-ASCII are refused.
pub fn is_location_value(value: &str) -> bool {
    value == "EU"
        || (value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'))
}

/// Parses a `GetBucketLocation` answer body: an optional XML declaration (version 1.0,
/// UTF-8), then `<LocationConstraint>` with no attribute or only `xmlns="`[`S3_XMLNS`]`"`,
/// holding a value accepted by [`is_location_value`] (or self-closing), with only whitespace
/// between and after the markup. Returns the value exactly as answered (`""` for empty).
pub fn parse_location(body: &[u8]) -> Result<String, LocationParseError> {
    let bad = |why| Err(LocationParseError(why));
    if body.len() > MAX_LOCATION_ANSWER {
        return bad("too large");
    }
    if body.first() != Some(&b'<') {
        return bad("does not start with markup");
    }
    let mut reader = quick_xml::Reader::from_reader(body);
    // Where the reader stands: before the element, inside it, or after it.
    #[derive(PartialEq)]
    enum At {
        Prolog,
        Inside,
        After,
    }
    let mut at = At::Prolog;
    let mut first = true;
    let mut value = String::new();
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(_) => return bad("not well-formed XML"),
        };
        let was_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(d) if was_first => check_decl(&d)?,
            Event::Start(e) if at == At::Prolog => {
                check_root(&e)?;
                at = At::Inside;
            }
            Event::Empty(e) if at == At::Prolog => {
                check_root(&e)?;
                at = At::After;
            }
            Event::Text(t) if at == At::Inside => {
                let text = std::str::from_utf8(t.as_ref())
                    .map_err(|_| LocationParseError("value is not UTF-8"))?;
                if !value.is_empty() {
                    return bad("value in pieces");
                }
                value.push_str(text);
            }
            Event::Text(t) if at != At::Inside => {
                if !t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
                    return bad("text outside the element");
                }
            }
            // quick-xml checks that the end tag matches the start tag.
            Event::End(_) if at == At::Inside => at = At::After,
            Event::Eof if at == At::After => break,
            Event::Eof => return bad("truncated"),
            Event::Decl(_) => return bad("misplaced XML declaration"),
            Event::Comment(_) => return bad("comment"),
            Event::CData(_) => return bad("CDATA section"),
            Event::DocType(_) => return bad("DOCTYPE"),
            Event::PI(_) => return bad("processing instruction"),
            Event::GeneralRef(_) => return bad("entity or character reference"),
            Event::Start(_) | Event::Empty(_) => return bad("more than one element"),
            Event::End(_) => return bad("unexpected end tag"),
            Event::Text(_) => return bad("unexpected text"),
        }
    }
    if !is_location_value(&value) {
        return bad("value is not a plain region name");
    }
    Ok(value)
}

fn check_decl(d: &BytesDecl<'_>) -> Result<(), LocationParseError> {
    let bad = |why| Err(LocationParseError(why));
    match d.version() {
        Ok(v) if v.as_ref() == b"1.0" => {}
        _ => return bad("XML declaration: version is not 1.0"),
    }
    match d.encoding() {
        None => {}
        Some(Ok(e)) if e.eq_ignore_ascii_case(b"utf-8") => {}
        Some(_) => return bad("XML declaration: encoding is not UTF-8"),
    }
    if d.standalone().is_some() {
        return bad("XML declaration: standalone");
    }
    Ok(())
}

fn check_root(e: &BytesStart<'_>) -> Result<(), LocationParseError> {
    // The full name, so that a prefixed `s3:LocationConstraint` is refused too.
    if e.name().as_ref() != b"LocationConstraint" {
        return Err(LocationParseError("not a LocationConstraint element"));
    }
    let mut attributes = 0;
    for attr in e.attributes() {
        let attr = attr.map_err(|_| LocationParseError("malformed attribute"))?;
        attributes += 1;
        // The raw value: an escaped or referenced spelling of the namespace is refused.
        if attributes > 1
            || attr.key.as_ref() != b"xmlns"
            || attr.value.as_ref() != S3_XMLNS.as_bytes()
        {
            return Err(LocationParseError("attribute other than the S3 namespace"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> String {
        parse_location(body.as_bytes()).unwrap_or_else(|e| panic!("{body:?}: {e}"))
    }

    #[test]
    fn real_answers() {
        // AWS (newline after the declaration) and Garage (none).
        assert_eq!(
            ok(&format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{S3_XMLNS}\">eu-west-1</LocationConstraint>"
            )),
            "eu-west-1"
        );
        assert_eq!(
            ok(&format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="{S3_XMLNS}">fr-par</LocationConstraint>"#
            )),
            "fr-par"
        );
        assert_eq!(ok("<LocationConstraint>EU</LocationConstraint>"), "EU");
        assert_eq!(
            ok("<LocationConstraint>fr_par-2</LocationConstraint>\n"),
            "fr_par-2"
        );
        assert_eq!(ok("<?xml version='1.0'?><LocationConstraint/>"), "");
    }

    #[test]
    fn empty_means_us_east_1_and_reads_as_empty() {
        // Every spelling of "empty" gives "", which the guard reads as us-east-1.
        for body in [
            "<LocationConstraint/>".to_string(),
            "<LocationConstraint />".to_string(),
            "<LocationConstraint></LocationConstraint>".to_string(),
            format!(r#"<LocationConstraint xmlns="{S3_XMLNS}"/>"#),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{S3_XMLNS}\"/>"
            ),
        ] {
            assert_eq!(ok(&body), "", "{body}");
        }
        assert_eq!(EMPTY_LOCATION_REGION, "us-east-1");
    }

    #[test]
    fn adversarial_answers_are_refused() {
        let long = format!(
            "<LocationConstraint>{}</LocationConstraint>",
            "a".repeat(65)
        );
        let huge = format!(
            "<LocationConstraint>fr-par</LocationConstraint>{}",
            " ".repeat(MAX_LOCATION_ANSWER)
        );
        let cases: &[(&str, &str)] = &[
            ("", "empty body"),
            ("fr-par", "bare value"),
            (
                " <LocationConstraint>fr-par</LocationConstraint>",
                "leading space",
            ),
            (
                "\u{feff}<LocationConstraint>fr-par</LocationConstraint>",
                "byte-order mark",
            ),
            // Comments, anywhere.
            (
                "<LocationConstraint>fr-par<!-- x --></LocationConstraint>",
                "comment inside",
            ),
            (
                "<LocationConstraint><!-- us-east-1 -->fr-par</LocationConstraint>",
                "comment first",
            ),
            (
                "<!-- x --><LocationConstraint>fr-par</LocationConstraint>",
                "comment before",
            ),
            (
                "<LocationConstraint>fr-par</LocationConstraint><!-- x -->",
                "comment after",
            ),
            // DOCTYPE and entities.
            (
                "<!DOCTYPE x [<!ENTITY e \"fr-par\">]><LocationConstraint>&e;</LocationConstraint>",
                "entity from a DOCTYPE",
            ),
            (
                "<!DOCTYPE LocationConstraint><LocationConstraint>fr-par</LocationConstraint>",
                "DOCTYPE",
            ),
            (
                "<LocationConstraint>&#102;r-par</LocationConstraint>",
                "character reference",
            ),
            (
                "<LocationConstraint>fr&#45;par</LocationConstraint>",
                "hex-less reference",
            ),
            (
                "<LocationConstraint>fr-par&amp;</LocationConstraint>",
                "entity",
            ),
            // CDATA.
            (
                "<LocationConstraint><![CDATA[fr-par]]></LocationConstraint>",
                "CDATA",
            ),
            (
                "<LocationConstraint>fr-<![CDATA[par]]></LocationConstraint>",
                "CDATA half",
            ),
            // Two elements, nested elements, wrong element.
            (
                "<LocationConstraint>fr-par</LocationConstraint><LocationConstraint>us-east-1</LocationConstraint>",
                "two elements",
            ),
            (
                "<LocationConstraint/><LocationConstraint>fr-par</LocationConstraint>",
                "empty then one",
            ),
            (
                "<LocationConstraint><LocationConstraint>fr-par</LocationConstraint></LocationConstraint>",
                "nested",
            ),
            (
                "<LocationConstraint><X>fr-par</X></LocationConstraint>",
                "child element",
            ),
            ("<Other>fr-par</Other>", "other element"),
            ("<locationconstraint>fr-par</locationconstraint>", "case"),
            (
                "<Error><Code>AccessDenied</Code><Region>fr-par</Region></Error>",
                "error document",
            ),
            // Namespaces and attributes.
            (
                "<LocationConstraint xmlns=\"evil\">fr-par</LocationConstraint>",
                "other namespace",
            ),
            (
                "<s3:LocationConstraint xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">fr-par</s3:LocationConstraint>",
                "prefixed",
            ),
            (
                "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\" region=\"us-east-1\">fr-par</LocationConstraint>",
                "extra attribute",
            ),
            (
                "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\" xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">fr-par</LocationConstraint>",
                "duplicate attribute",
            ),
            (
                "<LocationConstraint xmlns=\"http&#58;//s3.amazonaws.com/doc/2006-03-01/\">fr-par</LocationConstraint>",
                "escaped namespace",
            ),
            // Whitespace and text.
            (
                "<LocationConstraint> fr-par</LocationConstraint>",
                "leading space in value",
            ),
            (
                "<LocationConstraint>fr-par\n</LocationConstraint>",
                "newline in value",
            ),
            (
                "<LocationConstraint>fr-par us-east-1</LocationConstraint>",
                "two words",
            ),
            (
                "<LocationConstraint>fr-par</LocationConstraint>trailing",
                "trailing text",
            ),
            (
                "x<LocationConstraint>fr-par</LocationConstraint>",
                "leading text",
            ),
            (
                "<LocationConstraint>FR-PAR</LocationConstraint>",
                "upper case",
            ),
            (
                "<LocationConstraint>fr\u{2011}par</LocationConstraint>",
                "non-ASCII hyphen",
            ),
            (
                "<LocationConstraint>fr-par\u{0}</LocationConstraint>",
                "NUL",
            ),
            (long.as_str(), "value too long"),
            (huge.as_str(), "body too large"),
            // Truncation and broken markup.
            ("<LocationConstraint>fr-par", "unterminated"),
            ("<LocationConstraint>fr-par</Location>", "mismatched end"),
            ("<LocationConstraint", "cut in the tag"),
            // Declarations and processing instructions.
            (
                "<?xml version=\"1.1\"?><LocationConstraint>fr-par</LocationConstraint>",
                "version 1.1",
            ),
            (
                "<?xml version=\"1.0\" encoding=\"UTF-16\"?><LocationConstraint>fr-par</LocationConstraint>",
                "UTF-16",
            ),
            (
                "<?xml version=\"1.0\" standalone=\"yes\"?><LocationConstraint>fr-par</LocationConstraint>",
                "standalone",
            ),
            (
                "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><LocationConstraint>fr-par</LocationConstraint>",
                "two declarations",
            ),
            (
                "<LocationConstraint>fr-par</LocationConstraint><?xml version=\"1.0\"?>",
                "declaration after",
            ),
            (
                "<?pi x?><LocationConstraint>fr-par</LocationConstraint>",
                "processing instruction",
            ),
        ];
        for (body, why) in cases {
            assert!(
                parse_location(body.as_bytes()).is_err(),
                "{why}: {body:?} must be refused"
            );
        }
        assert!(parse_location(b"<LocationConstraint>\xfffr</LocationConstraint>").is_err());
    }

    #[test]
    fn location_values() {
        for v in ["", "EU", "fr-par", "eu-central-1", "garage", "a_b"] {
            assert!(is_location_value(v), "{v}");
        }
        for v in [
            "Eu",
            "eU",
            "FR-PAR",
            " fr-par",
            "fr par",
            "fr.par",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!is_location_value(v), "{v}");
        }
    }
}
